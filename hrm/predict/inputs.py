"""What `python -m hrm.predict` reads: Sudoku and mazes given as text, a file of text, or a CSV of them, and
ARC tasks given as a JSON file or a folder of them. Every input is checked here; a bad one is one error
naming the file (or the argument), the item and what is wrong.

- Sudoku: n*n characters (n = 4, 6 or 9) of digits, with '.' or '0' for a blank; spaces and line breaks
  are ignored, so a grid written over n lines reads as well as an 81-character line.
- Maze: n lines of n characters of '# SG' (wall, open, start, goal), exactly one S and one G.
- CSV: a column `q` of puzzles in either form above (a maze as one n*n line, as Maze-Hard writes it) and,
  optionally, a column `a` of answers, which are then compared with the model's.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm.data import maze, sudoku
from hrm.data.arc_tasks import ARCTask, check_unique_ids, load_task_file, task_from_dict
from hrm.data.qa_csv import MAX_CELLS
from hrm.errors import DataFormatError
from hrm.utils.files import files_in, read_json, read_text

KINDS = ("auto", "arc", "sudoku", "maze")
SUDOKU_CHARS = set(".0123456789")
MAZE_CHARS = set(maze.CHARS) - {"o"}  # a maze to solve has no path marked yet
MAX_INPUT_BYTES = 512 * 2**20  # a CSV of a million 9x9 puzzles is ~170 MB
MAX_CHALLENGES_BYTES = 256 * 2**20  # the ARC Prize's file of all its tasks is a few MB


@dataclass
class GridItems:
    """Sudoku or mazes to solve: [N, n, n] grids (Sudoku: digits, 0 blank; mazes: maze tokens), where each
    came from (`names`: e.g. "line 2"), and the answers where the input gives them."""

    kind: str
    source: str
    names: list[str]
    puzzles: np.ndarray
    answers: np.ndarray | None


def is_text_argument(text: str) -> bool:
    """An input given on the command line itself rather than as a path: it holds a line break, or it is
    a string of Sudoku characters (at least 9)."""
    compact = "".join(text.split())
    return "\n" in text or (set(compact) <= SUDOKU_CHARS and len(compact) >= 9)


def detect_kind(text: str, where: str) -> str:
    """sudoku or maze, from the characters of one puzzle."""
    if set(text) - set(" \t\r\n") <= SUDOKU_CHARS:
        return "sudoku"
    if set(text) - set("\r\n") <= MAZE_CHARS | {"o"}:
        return "maze"
    raise DataFormatError(f"{where}: neither a Sudoku (digits and '.') nor a maze (the characters '# SG')")


def parse_sudoku(text: str, where: str) -> np.ndarray:
    cells = "".join(text.split())
    n = int(round(len(cells) ** 0.5))
    if n * n != len(cells) or n not in sudoku.BOXES:
        raise DataFormatError(f"{where}: a Sudoku has 16, 36 or 81 cells (4x4, 6x6, 9x9), got {len(cells)}")
    bad = sorted({ch for ch in cells if ch not in SUDOKU_CHARS or (ch.isdigit() and int(ch) > n)})
    if bad:
        raise DataFormatError(f"{where}: a {n}x{n} Sudoku holds 1-{n} and '.' or '0' for a blank, got "
                              + ", ".join(repr(ch) for ch in bad))
    return np.array([0 if ch == "." else int(ch) for ch in cells], dtype=np.int64).reshape(n, n)


def parse_maze(text: str, where: str) -> np.ndarray:
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # a trailing empty line is the file's end, not a row
        lines.pop()
    if len(lines) == 1:  # Maze-Hard's CSV: the whole square grid on one line
        n = int(round(len(lines[0]) ** 0.5))
        lines = [lines[0][i: i + n] for i in range(0, len(lines[0]), n)] if n * n == len(lines[0]) else lines
    n = len(lines)
    if n < 3 or any(len(line) != n for line in lines):
        raise DataFormatError(f"{where}: a maze is n lines of n characters (n >= 3), got {n} lines of "
                              f"{sorted({len(line) for line in lines})} characters")
    bad = sorted({ch for line in lines for ch in line} - MAZE_CHARS)
    if bad:
        hint = " (give the maze without a path marked)" if "o" in bad else ""
        raise DataFormatError(f"{where}: a maze holds '#', ' ', 'S' and 'G', got "
                              + ", ".join(repr(ch) for ch in bad) + hint)
    grid = np.array([[maze.CHARS.index(ch) + 1 for ch in line] for line in lines], dtype=np.int64)
    if (grid == maze.START).sum() != 1 or (grid == maze.GOAL).sum() != 1:
        raise DataFormatError(f"{where}: a maze needs exactly one S and one G")
    if maze.distances(grid, tuple(np.argwhere(grid == maze.START)[0]))[tuple(np.argwhere(grid == maze.GOAL)[0])] < 0:
        raise DataFormatError(f"{where}: the goal G cannot be reached from the start S")
    return grid


def parse_answer(kind: str, text: str, where: str) -> np.ndarray:
    if kind == "sudoku":
        return parse_sudoku(text, where)
    cells = "".join(text.splitlines())
    n = int(round(len(cells) ** 0.5))
    if n * n != len(cells) or set(cells) - set(maze.CHARS):
        raise DataFormatError(f"{where}: expected a square grid of '{maze.CHARS}' characters")
    return np.array([maze.CHARS.index(ch) + 1 for ch in cells], dtype=np.int64).reshape(n, n)


def solves(kind: str, answer: np.ndarray, puzzle: np.ndarray) -> bool:
    if answer.shape != puzzle.shape:
        return False
    return sudoku.solves(answer, puzzle) if kind == "sudoku" else maze.is_shortest_path(answer, puzzle)


def parse_puzzle(kind: str, text: str, where: str) -> np.ndarray:
    return parse_sudoku(text, where) if kind == "sudoku" else parse_maze(text, where)


def read_grid_items(input_text: str, kind: str) -> GridItems:
    """Sudoku or mazes from the command-line argument itself, a text file holding one, or a CSV."""
    if is_text_argument(input_text) and not Path(input_text).exists():
        where = "input"
        kind = detect_kind(input_text, where) if kind == "auto" else kind
        return GridItems(kind, where, [where], parse_puzzle(kind, input_text, where)[None], None)
    path = Path(input_text)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file (give a file, a folder of ARC tasks, or the puzzle itself)")
    if path.suffix.lower() == ".csv":
        return read_csv_items(path, kind)
    text = read_text(path, "puzzle file", MAX_INPUT_BYTES)
    kind = detect_kind(text, str(path)) if kind == "auto" else kind
    return GridItems(kind, str(path), [path.name], parse_puzzle(kind, text, str(path))[None], None)


def read_csv_items(path: Path, kind: str) -> GridItems:
    text = read_text(path, "puzzle CSV", MAX_INPUT_BYTES)
    csv.field_size_limit(MAX_CELLS)
    try:
        reader = csv.DictReader(io.StringIO(text))
        if "q" not in (reader.fieldnames or []):
            raise DataFormatError(f"{path}: no column q (the puzzles; optionally a column a with the answers)")
        rows = [(line, row) for line, row in enumerate(reader, start=2)]
    except csv.Error as error:
        raise DataFormatError(f"{path}: not a CSV file ({error})") from None
    if not rows:
        raise DataFormatError(f"{path}: no puzzles")
    names, puzzles, answers = [], [], []
    for line, row in rows:
        where = f"{path}: line {line}"
        q, a = row.get("q"), row.get("a")
        if not isinstance(q, str):
            raise DataFormatError(f"{where}: fewer cells than columns")
        kind = detect_kind(q, where) if kind == "auto" else kind
        puzzle = parse_puzzle(kind, q, f"{where}, column q")
        if puzzles and puzzle.shape != puzzles[0].shape:
            raise DataFormatError(f"{where}, column q: a {puzzle.shape[0]}x{puzzle.shape[0]} puzzle among "
                                  f"{puzzles[0].shape[0]}x{puzzles[0].shape[0]} ones; one size per file")
        names.append(f"line {line}")
        puzzles.append(puzzle)
        answer = parse_answer(kind, a, f"{where}, column a") if isinstance(a, str) and a.strip() else None
        if answer is not None and not solves(kind, answer, puzzle):
            raise DataFormatError(f"{where}, column a: the answer does not solve the puzzle in column q")
        answers.append(answer)
    given = [a for a in answers if a is not None]
    if given and len(given) != len(answers):
        raise DataFormatError(f"{path}: column a gives some answers and not others; give all or none")
    return GridItems(kind, str(path), names, np.stack(puzzles), np.stack(given) if given else None)


def read_arc_items(input_text: str) -> list[ARCTask]:
    """An ARC task JSON file, every *.json in a folder (sorted by name; ids are the file names), or a file of
    many tasks by id, as the ARC Prize gives them (`arc-agi_test_challenges.json`: {id: task, ...})."""
    path = Path(input_text)
    if path.is_dir():
        paths = [p for p in files_in(path, ".json", "ARC task file") if not p.name.startswith(".")]
        if not paths:
            raise DataFormatError(f"{path}: no .json ARC task files in it")
        tasks = [load_task_file(p) for p in paths]
    elif path.exists():
        data = read_json(path, "ARC task file", MAX_CHALLENGES_BYTES)
        if isinstance(data, dict) and "train" not in data and data:
            tasks = [task_from_dict(str(task_id), task, f"{path}: task {task_id}") for task_id, task in data.items()]
        else:
            tasks = [task_from_dict(path.stem, data, str(path))]
    else:
        raise DataFormatError(f"{path}: no such ARC task file or folder")
    check_unique_ids(tasks)
    return tasks


def input_kind(input_text: str, kind: str) -> str:
    """arc for a .json file or a folder; otherwise what the text says (sudoku or maze), decided later."""
    if kind != "auto":
        return kind
    path = Path(input_text)
    if not is_text_argument(input_text) and (path.is_dir() or path.suffix.lower() == ".json"):
        return "arc"
    return "auto"
