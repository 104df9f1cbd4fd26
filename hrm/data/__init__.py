"""Data: pure numpy functions (grids, augmentations, task files) beneath the Lightning DataModules."""
