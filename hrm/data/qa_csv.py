"""The CSV layout HRM's Sudoku-Extreme and Maze-Hard share: columns source, q, a, rating; one puzzle (q)
and its answer (a) per row, each a string of cells."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np

from hrm.errors import DataFormatError

Parse = Callable[[Path, int, str, str], np.ndarray]  # (file, line, column, text) -> grid, or DataFormatError
Check = Callable[[np.ndarray, np.ndarray, list], str | None]  # (q, a, earlier qs) -> what is wrong, or None


def read_qa_csv(path: str | Path, dataset: str, parse: Parse, check: Check,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[rows, ...] puzzles and answers, at most `limit` rows. A missing file or column, or a bad row, is
    one error naming the file (and the line, and what `parse` or `check` found wrong)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file ({dataset}'s train.csv or test.csv)")
    puzzles, answers = [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"q", "a"} - set(reader.fieldnames or [])
        if missing:
            raise DataFormatError(f"{path}: no column {', '.join(sorted(missing))} (expected source,q,a,rating)")
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(puzzles) >= limit:
                break
            puzzle, answer = parse(path, line, "q", row["q"]), parse(path, line, "a", row["a"])
            problem = check(puzzle, answer, puzzles)
            if problem:
                raise DataFormatError(f"{path}: line {line}: {problem}")
            puzzles.append(puzzle)
            answers.append(answer)
    if not puzzles:
        raise DataFormatError(f"{path}: no puzzles")
    return np.stack(puzzles), np.stack(answers)
