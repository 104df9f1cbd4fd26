"""The CSV layout HRM's Sudoku-Extreme and Maze-Hard share: columns source, q, a, rating; one puzzle (q)
and its answer (a) per row, each a string of cells."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np

from hrm.errors import DataFormatError
from hrm.utils.files import check_regular_file

MAX_CELLS = 100_000  # characters in one CSV field: a 30x30 maze takes 900

Parse = Callable[[Path, int, str, str], np.ndarray]  # (file, line, column, text) -> grid, or DataFormatError
Check = Callable[[np.ndarray, np.ndarray, list], str | None]  # (q, a, earlier qs) -> what is wrong, or None


def read_qa_csv(path: str | Path, dataset: str, parse: Parse, check: Check,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[rows, ...] puzzles and answers, at most `limit` rows. A missing file or column, or a bad row, is
    one error naming the file (and the line, and what `parse` or `check` found wrong)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise DataFormatError(f"{path}: no such file ({dataset}'s train.csv or test.csv)")
    check_regular_file(path, f"{dataset} CSV")
    puzzles, answers = [], []
    csv.field_size_limit(MAX_CELLS)
    # Streamed (Sudoku-Extreme's train.csv is ~650 MB): memory grows with the rows kept, not the file.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        try:
            rows = list(read_rows(handle, path, limit))
        except UnicodeDecodeError as error:
            raise DataFormatError(f"{path}: not UTF-8 text (near byte {error.start}); save it as UTF-8") from None
        except csv.Error as error:
            raise DataFormatError(f"{path}: not a CSV file ({error})") from None
    for line, q, a in rows:
        puzzle, answer = parse(path, line, "q", q), parse(path, line, "a", a)
        problem = check(puzzle, answer, puzzles)
        if problem:
            raise DataFormatError(f"{path}: line {line}: {problem}")
        puzzles.append(puzzle)
        answers.append(answer)
    if not puzzles:
        raise DataFormatError(f"{path}: no puzzles")
    return np.stack(puzzles), np.stack(answers)


def read_rows(handle, path: Path, limit: int | None):
    """(line, q, a) of the first `limit` rows."""
    reader = csv.DictReader(handle)
    missing = {"q", "a"} - set(reader.fieldnames or [])
    if missing:
        raise DataFormatError(f"{path}: no column {', '.join(sorted(missing))} (expected source,q,a,rating)")
    for count, (line, row) in enumerate(enumerate(reader, start=2)):
        if limit is not None and count >= limit:
            break
        q, a = row.get("q"), row.get("a")
        if not isinstance(q, str) or not isinstance(a, str):
            raise DataFormatError(f"{path}: line {line}: fewer cells than columns")
        yield line, q, a
