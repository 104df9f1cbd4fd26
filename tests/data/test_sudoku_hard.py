"""Hard 9x9 Sudoku: random solutions, minimal puzzles with one solution, rated by the search's guesses."""

import numpy as np
import pytest

from hrm.data import sudoku
from hrm.data.sudoku_hard import generate_many_hard, minimal_puzzle, random_solution, rating, rating_distribution
from hrm.errors import UserError


def test_random_solutions_are_valid_complete_grids_and_differ():
    rng = np.random.default_rng(0)
    grids = [random_solution(9, rng) for _ in range(5)]
    for grid in grids:
        assert sudoku.solves(grid, np.zeros((9, 9), dtype=np.int64))
    assert len({grid.tobytes() for grid in grids}) == 5


def test_a_minimal_puzzle_has_one_solution_and_no_given_that_could_go():
    rng = np.random.default_rng(1)
    solution = random_solution(9, rng)
    puzzle = minimal_puzzle(solution, rng)
    (only,) = sudoku.solutions(puzzle, limit=2)
    assert (only == solution).all() and ((puzzle == 0) | (puzzle == solution)).all()
    assert 17 <= (puzzle > 0).sum() < 40
    for cell in zip(*np.nonzero(puzzle)):
        fewer = puzzle.copy()
        fewer[cell] = 0
        assert len(sudoku.solutions(fewer, limit=2)) == 2  # each given is needed


def test_the_rating_counts_the_searchs_guesses():
    rng = np.random.default_rng(2)
    solution = random_solution(9, rng)
    one_blank = solution.copy()
    one_blank[4, 4] = 0
    assert rating(one_blank) == 0  # that cell has one candidate: no guess
    one_digit = np.where(solution == solution[0, 0], 0, solution)  # a digit blanked everywhere: each blank has
    assert rating(one_digit) == 0                                    # that digit as its one candidate
    assert rating(np.zeros((9, 9), dtype=np.int64)) > 0  # an empty grid: every first choice is a guess


def test_hard_puzzles_are_rated_at_least_what_was_asked_and_repeat_with_their_seed():
    puzzles, solutions, ratings = generate_many_hard(4, min_rating=20, seed=0)
    assert puzzles.shape == solutions.shape == (4, 9, 9) and (ratings >= 20).all()
    assert [rating(p) for p in puzzles] == ratings.tolist()
    assert all(sudoku.solves(s, p) for p, s in zip(puzzles, solutions))
    again = generate_many_hard(4, min_rating=20, seed=0)
    assert (again[0] == puzzles).all()
    summary = rating_distribution(ratings)
    assert summary["p10"] <= summary["p50"] <= summary["p90"] <= summary["max"] == ratings.max()


def test_the_datamodule_builds_and_caches_hard_puzzles(tmp_path):
    from hrm.data.puzzles import SudokuDataModule

    datamodule = SudokuDataModule(size=9, blanks=None, min_rating=10, num_train=6, num_val=3, num_test=3,
                                  variants=2, batch_size=4, data_dir=str(tmp_path))
    datamodule.setup("fit")
    cached = sorted(p.name for p in (tmp_path / "sudoku").iterdir())
    assert cached == ["9x9-minimal-rated10-3-seed15838.npz", "9x9-minimal-rated10-3-seed7919.npz",
                      "9x9-minimal-rated10-6-seed0.npz"]
    inputs = datamodule.train_dataset.inputs
    assert all(rating(sudoku.from_tokens(row, 9)) >= 10 for row in inputs)


@pytest.mark.parametrize("settings, problem", [
    ({"size": 6, "blanks": None, "min_rating": 10}, "hard Sudoku are 9x9"),
    ({"size": 9, "blanks": 41, "min_rating": 10}, "data.blanks=null"),
    ({"size": 9, "blanks": None}, "give the blanks, or data.min_rating"),
])
def test_settings_a_hard_sudoku_cannot_have_are_one_line(settings, problem):
    from hrm.data.puzzles import SudokuDataModule

    with pytest.raises(UserError, match=problem):
        SudokuDataModule(**settings)
