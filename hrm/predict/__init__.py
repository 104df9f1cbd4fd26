"""`python -m hrm.predict`: a trained token-grid model on puzzles of your own (ARC tasks, Sudoku, mazes)."""
