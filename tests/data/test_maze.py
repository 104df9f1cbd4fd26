"""Mazes: generated labels mark shortest paths from S to G, any shortest path counts as solved, and
Maze-Hard's CSV is read or refused in one line."""

import numpy as np
import pytest
import torch

from hrm.data import maze
from hrm.errors import DataFormatError


def test_generated_labels_are_shortest_paths():
    mazes, labels = maze.generate_many(15, count=20, seed=2)
    for grid, label in zip(mazes, labels):
        assert (grid == maze.START).sum() == 1 and (grid == maze.GOAL).sum() == 1
        start, goal = np.argwhere(grid == maze.START)[0], np.argwhere(grid == maze.GOAL)[0]
        length = maze.distances(grid, tuple(start))[tuple(goal)]
        assert length >= 15 and (label == maze.PATH).sum() == length - 1
        assert maze.is_shortest_path(label, grid)
        # each path cell is open in the maze and has a path (or S/G) neighbour on both sides
        assert (grid[label == maze.PATH] == maze.OPEN).all()


def _room():
    """A 5x5 open room: S and G at opposite corners, many shortest paths."""
    rows = ["#####", "#S  #", "#   #", "#  G#", "#####"]
    return np.array([[maze.CHARS.index(ch) + 1 for ch in row] for row in rows])


def test_any_shortest_path_is_solved_and_a_longer_one_is_not():
    grid = _room()
    label = maze.shortest_path(grid)
    other = grid.copy()
    other[1, 2], other[1, 3], other[2, 3] = maze.PATH, maze.PATH, maze.PATH  # right, right, down
    assert not (other == label).all() and maze.is_shortest_path(other, grid)
    longer = grid.copy()
    for cell in [(2, 1), (3, 1), (3, 2), (2, 2)]:
        longer[cell] = maze.PATH
    as_rows = lambda *grids: torch.as_tensor(np.stack([g.reshape(-1) for g in grids]))  # noqa: E731
    solved = maze.solved_rows(as_rows(label, other, longer), as_rows(grid, grid, grid), as_rows(label, label, label))
    assert solved.tolist() == [True, True, False]


def test_maze_hard_csv_is_read_and_a_bad_row_is_one_line(tmp_path):
    mazes, labels = maze.generate_many(7, count=2, seed=5)
    text = lambda grid: "".join(maze.to_text(grid))  # noqa: E731
    good = tmp_path / "maze.csv"
    good.write_text("source,q,a,rating\n" + "\n".join(f"gen,{text(m)},{text(l)},0" for m, l in zip(mazes, labels)))
    read_mazes, read_labels = maze.read_maze_csv(good)
    assert (read_mazes == mazes).all() and (read_labels == labels).all()
    bad = tmp_path / "bad.csv"
    bad.write_text("source,q,a,rating\n" + f"gen,{text(mazes[0])},{text(mazes[0])},0\n")
    with pytest.raises(DataFormatError, match=r"bad.csv: line 2: the answer is not a shortest path"):
        maze.read_maze_csv(bad)
