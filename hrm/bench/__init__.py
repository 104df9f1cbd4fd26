"""Benchmarks: `python -m hrm.bench <name>`. Figures are ratios measured in one run (this CPU is noisy)."""
