"""Sudoku: n x n puzzles (n = 4, 6, 9) with unique solutions, a solver, HRM's augmentations, the check
that a grid solves a puzzle, and a reader for the Sudoku-Extreme CSV. Pure numpy; the DataModule is
`hrm/data/puzzles.py`.

Grids are [n, n] int arrays of digits 1..n, 0 for a blank. As tokens (`to_tokens`): PAD 0, blank 1,
digit d -> d + 1, so the vocabulary is n + 2 (11 for 9x9, as in HRM).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hrm.data.qa_csv import read_qa_csv
from hrm.errors import DataFormatError

BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # n -> (rows, columns) of one box
BLANK_TOKEN = 1


def box_shape(n: int) -> tuple[int, int]:
    if n not in BOXES:
        raise ValueError(f"Sudoku size {n} is not one of {sorted(BOXES)}")
    return BOXES[n]


def vocab_size(n: int) -> int:
    return n + 2


def to_tokens(grid: np.ndarray) -> np.ndarray:
    """Digits 1..n -> 2..n+1, blank 0 -> 1; flattened ([n, n] -> [n*n], [batch, n, n] -> [batch, n*n])."""
    grid = np.asarray(grid)
    return (grid.reshape(*grid.shape[:-2], -1) + 1).astype(np.int64)


def from_tokens(tokens: np.ndarray, n: int) -> np.ndarray:
    tokens = np.asarray(tokens)
    return (tokens - 1).clip(0, n).reshape(*tokens.shape[:-1], n, n)


# --- solving -----------------------------------------------------------------------------------------
def solutions(puzzle: np.ndarray, limit: int = 2, guesses: list[int] | None = None) -> list[np.ndarray]:
    """Up to `limit` solutions, by depth-first search on the blank with the fewest candidates (with
    bitmasks per row, column and box). `len(solutions(p)) == 1` means the solution is unique. `guesses`, a
    one-element list, is increased by each guess the search makes: each cell it fills while that cell still
    had two or more candidates (a puzzle that only ever has a cell with one candidate needs none)."""
    n = puzzle.shape[0]
    rows_per_box, cols_per_box = box_shape(n)
    grid = [int(v) for v in puzzle.reshape(-1)]
    box_of = [(i // n // rows_per_box) * (n // cols_per_box) + (i % n) // cols_per_box for i in range(n * n)]
    used_row, used_col, used_box = [0] * n, [0] * n, [0] * n
    for i, value in enumerate(grid):
        if value:
            bit = 1 << value
            if used_row[i // n] & bit or used_col[i % n] & bit or used_box[box_of[i]] & bit:
                return []  # the givens already clash
            used_row[i // n] |= bit
            used_col[i % n] |= bit
            used_box[box_of[i]] |= bit
    full = sum(1 << d for d in range(1, n + 1))
    blanks = [i for i, value in enumerate(grid) if not value]
    found: list[np.ndarray] = []

    def search(open_cells: list[int]) -> None:
        if not open_cells:
            found.append(np.array(grid, dtype=np.int64).reshape(n, n))
            return
        best, best_free, best_count = -1, 0, n + 1
        for cell in open_cells:
            free = full & ~(used_row[cell // n] | used_col[cell % n] | used_box[box_of[cell]])
            count = bin(free).count("1")
            if count < best_count:
                best, best_free, best_count = cell, free, count
                if count <= 1:
                    break
        if best_count == 0:
            return
        if guesses is not None and best_count > 1:
            guesses[0] += 1
        rest = [c for c in open_cells if c != best]
        r, c, b = best // n, best % n, box_of[best]
        for digit in range(1, n + 1):
            bit = 1 << digit
            if not best_free & bit:
                continue
            grid[best] = digit
            used_row[r] |= bit
            used_col[c] |= bit
            used_box[b] |= bit
            search(rest)
            used_row[r] &= ~bit
            used_col[c] &= ~bit
            used_box[b] &= ~bit
            grid[best] = 0
            if len(found) >= limit:
                return

    search(blanks)
    return found


def solves(grid: np.ndarray, puzzle: np.ndarray) -> bool:
    """A complete, valid grid (each row, column and box holds 1..n once) that keeps the puzzle's givens."""
    return bool(solved_rows(torch.as_tensor(to_tokens(grid))[None], torch.as_tensor(to_tokens(puzzle))[None],
                            grid.shape[0])[0])


def solved_rows(predictions: torch.Tensor, inputs: torch.Tensor, n: int) -> torch.Tensor:
    """[B] bool from token tensors [B, n*n]: each prediction is a valid, complete solution that keeps its
    input's givens (whichever solution: Sudoku's exact accuracy needs no stored answer)."""
    rows_per_box, cols_per_box = box_shape(n)
    digits = predictions.long() - 1  # 1..n where the prediction is a digit
    grid = digits.view(-1, n, n)
    boxes = grid.view(-1, n // rows_per_box, rows_per_box, n // cols_per_box, cols_per_box)
    boxes = boxes.permute(0, 1, 3, 2, 4).reshape(-1, n, n)
    target = torch.arange(1, n + 1, device=predictions.device)

    def each_once(groups: torch.Tensor) -> torch.Tensor:  # [B, n groups, n] -> [B]
        return (groups.sort(dim=-1).values == target).all(dim=-1).all(dim=-1)

    givens = inputs != BLANK_TOKEN
    keeps = ((predictions == inputs) | ~givens).all(dim=-1)
    return each_once(grid) & each_once(grid.transpose(1, 2)) & each_once(boxes) & keeps


# --- generating and augmenting -------------------------------------------------------------------------
def augment(grids: list[np.ndarray], rng: np.random.Generator, transpose: bool = True) -> list[np.ndarray]:
    """HRM's Sudoku augmentations, the same for every grid given (a puzzle and its solution): a digit
    permutation, a transpose (square boxes only), and permutations of the bands and of the rows within
    each band, and of the stacks and of the columns within each stack. Each keeps a valid grid valid.
    Grids are [n, n], or [batch, n, n] for a batch drawn at once (each row its own augmentation)."""
    single = grids[0].ndim == 2
    grids = [grid[None] if single else grid for grid in grids]
    batch, n = grids[0].shape[:2]
    rows_per_box, cols_per_box = box_shape(n)

    def permutations(*shape: int) -> np.ndarray:  # a random permutation along the last axis, per row
        return np.argsort(rng.random((batch, *shape)), axis=-1)

    digits = np.concatenate((np.zeros((batch, 1), dtype=np.int64), permutations(n) + 1), axis=1)  # blank stays
    flip = (rng.random(batch) < 0.5) & (transpose and rows_per_box == cols_per_box)
    bands, stacks = n // rows_per_box, n // cols_per_box
    row_order = (permutations(bands)[:, :, None] * rows_per_box + permutations(bands, rows_per_box)).reshape(batch, n)
    col_order = (permutations(stacks)[:, :, None] * cols_per_box + permutations(stacks, cols_per_box)).reshape(batch, n)
    out = []
    for grid in grids:
        grid = np.where(flip[:, None, None], grid.transpose(0, 2, 1), grid)
        grid = np.take_along_axis(grid, row_order[:, :, None], axis=1)
        grid = np.take_along_axis(grid, col_order[:, None, :], axis=2)
        grid = np.take_along_axis(digits, grid.reshape(batch, -1), axis=1).reshape(batch, n, n)
        out.append(grid[0] if single else grid)
    return out


def solved_grid(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random complete grid: the standard pattern (each row the one above shifted), shuffled by `augment`."""
    rows_per_box, cols_per_box = box_shape(n)
    r, c = np.indices((n, n))
    pattern = (cols_per_box * (r % rows_per_box) + r // rows_per_box + c) % n + 1
    return augment([pattern], rng)[0]


def generate(n: int, blanks: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(puzzle, solution) with exactly `blanks` blanks and a unique solution: blanks are dug in a random
    order, each kept only if the solution stays unique; a grid that runs out of cells starts over."""
    if not 0 <= blanks < n * n:
        raise ValueError(f"blanks={blanks}: a {n}x{n} Sudoku has {n * n} cells")
    while True:
        solution = solved_grid(n, rng)
        puzzle = solution.copy().reshape(-1)
        dug = 0
        for cell in rng.permutation(n * n):
            if dug == blanks:
                break
            digit, puzzle[cell] = puzzle[cell], 0
            if len(solutions(puzzle.reshape(n, n), limit=2)) == 1:
                dug += 1
            else:
                puzzle[cell] = digit
        if dug == blanks:
            return puzzle.reshape(n, n), solution


def generate_many(n: int, blanks: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[count, n, n] puzzles and solutions from one seed."""
    rng = np.random.default_rng(seed)
    pairs = [generate(n, blanks, rng) for _ in range(count)]
    return np.stack([p for p, _ in pairs]), np.stack([s for _, s in pairs])


# --- Sudoku-Extreme ------------------------------------------------------------------------------------
def read_sudoku_csv(path: str | Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sudoku-Extreme's CSV (q and a are 81 characters, '.' or '0' a blank): [rows, 9, 9] puzzles and
    solutions. A bad row is one error naming the file, its line and the problem."""

    def check(puzzle: np.ndarray, answer: np.ndarray, earlier: list) -> str | None:
        if (answer == 0).any():
            return "the answer has blanks"
        return None if solves(answer, puzzle) else "the answer does not solve the puzzle"

    return read_qa_csv(path, "Sudoku-Extreme", _digits, check, limit)


def _digits(path: Path, line: int, column: str, text: str | None) -> np.ndarray:
    text = (text or "").strip()
    if len(text) != 81 or any(ch not in ".0123456789" for ch in text):
        raise DataFormatError(f"{path}: line {line}, column {column}: expected 81 characters of 1-9 and '.',"
                              f" got {text[:20]!r}{'...' if len(text) > 20 else ''} ({len(text)} characters)")
    return np.array([0 if ch == "." else int(ch) for ch in text], dtype=np.int64).reshape(9, 9)
