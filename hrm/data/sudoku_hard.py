"""Hard 9x9 Sudoku, in the spirit of Sudoku-Extreme: few givens, one solution, rated by the search a solver
needs, and only those rated at least `min_rating` kept.

- The solution is a random complete grid: the three diagonal boxes (independent of each other) filled with
  random digits, the rest by search, then HRM's augmentations; so solutions are not all one pattern's
  symmetries, as `sudoku.solved_grid`'s are.
- The puzzle is minimal: every given is removed in a random order unless the solution would stop being
  unique, so no given is left that could go.
- The rating is the number of guesses the fewest-candidates search (`sudoku.solutions`) makes to find the
  solution and prove it unique: a puzzle solved by filling cells with one candidate needs none; each
  guess is a cell filled while it still had two or more. Sudoku-Extreme rates by a stronger solver's
  backtracks, so the scales differ; what they share is that a harder puzzle needs more search.
"""

from __future__ import annotations

import numpy as np

from hrm.data.sudoku import augment, box_shape, solutions


def random_solution(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random complete n x n grid (square boxes)."""
    side, _ = box_shape(n)
    grid = np.zeros((n, n), dtype=np.int64)
    for box in range(side):  # the diagonal boxes share no row, column or box
        grid[box * side:(box + 1) * side, box * side:(box + 1) * side] = rng.permutation(n).reshape(side, side) + 1
    (solution,) = solutions(grid, limit=1)
    return augment([solution], rng)[0]


def rating(puzzle: np.ndarray) -> int:
    """The guesses the search makes to solve `puzzle` and prove its solution unique."""
    guesses = [0]
    solutions(puzzle, limit=2, guesses=guesses)
    return guesses[0]


def minimal_puzzle(solution: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`solution` with every given removed, in a random order, that can go while the solution stays unique."""
    puzzle = solution.copy().reshape(-1)
    for cell in rng.permutation(puzzle.size):
        digit, puzzle[cell] = puzzle[cell], 0
        if len(solutions(puzzle.reshape(solution.shape), limit=2)) != 1:
            puzzle[cell] = digit
    return puzzle.reshape(solution.shape)


def generate_hard(min_rating: int, rng: np.random.Generator, n: int = 9) -> tuple[np.ndarray, np.ndarray, int]:
    """(puzzle, solution, rating): minimal puzzles drawn until one is rated at least `min_rating`."""
    while True:
        solution = random_solution(n, rng)
        puzzle = minimal_puzzle(solution, rng)
        rated = rating(puzzle)
        if rated >= min_rating:
            return puzzle, solution, rated


def generate_many_hard(count: int, min_rating: int, seed: int, n: int = 9,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[count, n, n] puzzles and solutions, and their [count] ratings, from one seed."""
    rng = np.random.default_rng(seed)
    drawn = [generate_hard(min_rating, rng, n) for _ in range(count)]
    return (np.stack([p for p, _, _ in drawn]), np.stack([s for _, s, _ in drawn]),
            np.array([r for _, _, r in drawn], dtype=np.int64))


def rating_distribution(ratings: np.ndarray) -> dict[str, float]:
    """A set of ratings in a few numbers: the mean, the 10th, 50th, 90th and 99th percentiles, the most."""
    ratings = np.asarray(ratings)
    return {"mean": round(float(ratings.mean()), 2),
            **{f"p{q}": float(np.percentile(ratings, q)) for q in (10, 50, 90, 99)},
            "max": int(ratings.max())}
