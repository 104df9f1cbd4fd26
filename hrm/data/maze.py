"""Mazes: n x n grids of walls and open cells with a start and a goal; the label marks a shortest path
from one to the other. Pure numpy; the DataModule is `hrm/data/puzzles.py`.

Characters as in Maze-Hard: '#' wall, ' ' open, 'S' start, 'G' goal, 'o' the path (between S and G).
As tokens: PAD 0, then 1..5 in that order (vocabulary 6, as in HRM).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import torch

from hrm.data.qa_csv import read_qa_csv
from hrm.errors import DataFormatError

CHARS = "# SGo"
WALL, OPEN, START, GOAL, PATH = range(1, 6)  # token ids (0 is padding)
VOCAB_SIZE = 6
STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def to_text(tokens: np.ndarray) -> list[str]:
    grid = np.asarray(tokens)
    return ["".join(CHARS[t - 1] if t else "?" for t in row) for row in grid]


def distances(grid: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Breadth-first distances from `source` over non-wall cells (-1 where unreachable)."""
    n_rows, n_cols = grid.shape
    dist = np.full(grid.shape, -1, dtype=np.int64)
    dist[source] = 0
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for dr, dc in STEPS:
            nr, nc = r + dr, c + dc
            if 0 <= nr < n_rows and 0 <= nc < n_cols and grid[nr, nc] != WALL and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def shortest_path(grid: np.ndarray) -> np.ndarray:
    """The grid with one shortest S -> G path marked PATH (S and G keep their marks)."""
    start, goal = _find(grid, START), _find(grid, GOAL)
    from_goal = distances(grid, goal)
    if from_goal[start] < 0:
        raise ValueError("the goal cannot be reached from the start")
    labelled, cell = grid.copy(), start
    while cell != goal:  # step to a neighbour one closer to the goal (the first in STEPS order)
        cell = next((cell[0] + dr, cell[1] + dc) for dr, dc in STEPS
                    if _inside(grid, cell[0] + dr, cell[1] + dc) and from_goal[cell[0] + dr, cell[1] + dc] == from_goal[cell] - 1)
        if cell != goal:
            labelled[cell] = PATH
    return labelled


def is_shortest_path(labelled: np.ndarray, maze: np.ndarray) -> bool:
    """`labelled` is `maze` with a connected S -> G path of shortest length marked, and nothing else changed."""
    path = labelled == PATH
    if (labelled[~path] != maze[~path]).any() or (maze[path] != OPEN).any():
        return False
    start, goal = _find(maze, START), _find(maze, GOAL)
    on_path = maze.copy()
    on_path[~path & (maze == OPEN)] = WALL  # walk only on the marked cells
    return int(distances(on_path, start)[goal]) == int(distances(maze, start)[goal]) == int(path.sum()) + 1


def solved_rows(predictions: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B] bool: the prediction marks a shortest path (any one of them, not only the label's). Only rows
    that differ from the label yet mark as many cells, and nothing else, need a search."""
    solved = (predictions == labels).all(dim=-1)
    same_length = (predictions == PATH).sum(-1) == (labels == PATH).sum(-1)
    only_marks = ((predictions == inputs) | (predictions == PATH)).all(dim=-1)
    n = int(round(inputs.shape[-1] ** 0.5))
    for row in (~solved & same_length & only_marks).nonzero().flatten().tolist():
        solved[row] = is_shortest_path(predictions[row].cpu().numpy().reshape(n, n), inputs[row].cpu().numpy().reshape(n, n))
    return solved


def generate(n: int, rng: np.random.Generator, loops: float = 0.1, min_distance: int | None = None) -> np.ndarray:
    """An n x n maze (tokens, [n, n]) with S and G: a random depth-first maze carved on the odd cells, then
    a fraction `loops` of the remaining inner walls knocked down so that routes differ in length; S and G
    are open cells at least `min_distance` apart along the maze (default n)."""
    grid = np.full((n, n), WALL, dtype=np.int64)
    cells = [(r, c) for r in range(1, n - 1, 2) for c in range(1, n - 1, 2)]
    if not cells:
        raise ValueError(f"a maze needs n >= 3, got {n}")
    first = cells[rng.integers(len(cells))]
    grid[first] = OPEN
    stack = [first]
    while stack:
        r, c = stack[-1]
        options = [(r + 2 * dr, c + 2 * dc, dr, dc) for dr, dc in STEPS
                   if 0 < r + 2 * dr < n - 1 and 0 < c + 2 * dc < n - 1 and grid[r + 2 * dr, c + 2 * dc] == WALL]
        if not options:
            stack.pop()
            continue
        nr, nc, dr, dc = options[rng.integers(len(options))]
        grid[r + dr, c + dc] = grid[nr, nc] = OPEN
        stack.append((nr, nc))
    inner_walls = [(r, c) for r in range(1, n - 1) for c in range(1, n - 1)
                   if grid[r, c] == WALL and ((grid[r - 1, c] == OPEN and grid[r + 1, c] == OPEN)
                                             or (grid[r, c - 1] == OPEN and grid[r, c + 1] == OPEN))]
    for index in rng.permutation(len(inner_walls))[: int(loops * len(inner_walls))]:
        grid[inner_walls[index]] = OPEN
    open_cells = np.argwhere(grid == OPEN)
    wanted = n if min_distance is None else min_distance
    for _ in range(100):
        start = tuple(open_cells[rng.integers(len(open_cells))])
        dist = distances(grid, start)
        far = np.argwhere(dist >= wanted)
        if len(far):
            goal = tuple(far[rng.integers(len(far))])
            grid[start], grid[goal] = START, GOAL
            return grid
    raise ValueError(f"no two cells {wanted} steps apart in a {n}x{n} maze")


def generate_many(n: int, count: int, seed: int, loops: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """[count, n, n] mazes and their labels (a shortest path marked) from one seed."""
    rng = np.random.default_rng(seed)
    mazes = [generate(n, rng, loops) for _ in range(count)]
    return np.stack(mazes), np.stack([shortest_path(m) for m in mazes])


def read_maze_csv(path: str | Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Maze-Hard's CSV (q and a are n*n characters of '# SGo'): [rows, n, n] mazes and labels as tokens.
    A bad row is one error naming the file, its line and the problem."""

    def check(grid: np.ndarray, label: np.ndarray, earlier: list) -> str | None:
        if grid.shape != label.shape or (earlier and grid.shape != earlier[0].shape):
            return "its grids differ in size from the others"
        return None if is_shortest_path(label, grid) else "the answer is not a shortest path from S to G"

    return read_qa_csv(path, "Maze-Hard", _grid, check, limit)


def _grid(path: Path, line: int, column: str, text: str | None) -> np.ndarray:
    text = text or ""
    n = int(round(len(text) ** 0.5))
    if n * n != len(text) or n < 3 or any(ch not in CHARS for ch in text):
        raise DataFormatError(f"{path}: line {line}, column {column}: expected a square grid of '{CHARS}'"
                              f" characters, got {len(text)} characters")
    grid = np.array([CHARS.index(ch) + 1 for ch in text], dtype=np.int64).reshape(n, n)
    if (grid == START).sum() != 1 or (grid == GOAL).sum() != 1:
        raise DataFormatError(f"{path}: line {line}, column {column}: needs exactly one S and one G")
    return grid


def _find(grid: np.ndarray, token: int) -> tuple[int, int]:
    r, c = np.argwhere(grid == token)[0]
    return int(r), int(c)


def _inside(grid: np.ndarray, r: int, c: int) -> bool:
    return 0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]
