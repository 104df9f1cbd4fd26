"""Sudoku: generated puzzles are valid with unique solutions, augmentations keep them so, the solved
check accepts any valid grid that keeps the givens, and Sudoku-Extreme's CSV is read or refused in one line."""

import numpy as np
import pytest
import torch

from hrm.data import sudoku
from hrm.errors import DataFormatError


@pytest.mark.parametrize("n, blanks", [(4, 10), (6, 22), (9, 41)])
def test_generated_puzzles_have_their_blanks_and_one_solution(n, blanks):
    puzzles, answers = sudoku.generate_many(n, blanks, count=5, seed=1)
    for puzzle, answer in zip(puzzles, answers):
        assert (puzzle == 0).sum() == blanks and sudoku.solves(answer, puzzle)
        (only,) = sudoku.solutions(puzzle, limit=2)
        assert (only == answer).all()
    assert len({p.tobytes() for p in puzzles}) == 5


@pytest.mark.parametrize("n", [4, 6, 9])
def test_augmentations_keep_puzzles_valid_and_unique(n):
    rng = np.random.default_rng(0)
    puzzle, answer = sudoku.generate(n, {4: 8, 6: 20, 9: 40}[n], rng)
    seen = set()
    for _ in range(20):
        new_puzzle, new_answer = sudoku.augment([puzzle, answer], rng)
        assert sudoku.solves(new_answer, new_puzzle) and (new_puzzle == 0).sum() == (puzzle == 0).sum()
        assert len(sudoku.solutions(new_puzzle)) == 1
        seen.add(new_puzzle.tobytes())
    assert len(seen) > 10


def test_solved_accepts_any_valid_grid_keeping_the_givens_and_nothing_else():
    puzzle, answer = sudoku.generate(4, 10, np.random.default_rng(3))
    inputs = torch.as_tensor(sudoku.to_tokens(puzzle))
    assert sudoku.solved_rows(torch.as_tensor(sudoku.to_tokens(answer))[None], inputs[None], 4).item()
    # with fewer givens, grids other than the stored answer solve it too: each counts
    fewer = puzzle.copy()
    fewer[fewer > 0] = 0
    fewer[0, 0] = answer[0, 0]
    others = sudoku.solutions(fewer, limit=3)
    assert len(others) == 3 and all(sudoku.solves(o, fewer) for o in others)
    broken = answer.copy()
    broken[0, [0, 1]] = broken[0, [1, 0]]  # two digits of a row swapped: its columns now repeat
    assert not sudoku.solves(broken, puzzle)
    given = np.argwhere(puzzle.reshape(-1) > 0)[0, 0]
    relabelled = (answer % 4) + 1  # a valid grid, but it changes the givens
    assert sudoku.solves(relabelled, np.zeros_like(puzzle)) and not sudoku.solves(relabelled, puzzle)
    assert puzzle.reshape(-1)[given] != relabelled.reshape(-1)[given]


def _row(puzzle, answer):
    text = lambda grid: "".join("." if v == 0 else str(v) for v in grid.reshape(-1))  # noqa: E731
    return f"generated,{text(puzzle)},{text(answer)},0"


def test_sudoku_extreme_csv_is_read_and_a_bad_row_is_one_line(tmp_path):
    puzzles, answers = sudoku.generate_many(9, 50, count=2, seed=4)
    good = tmp_path / "train.csv"
    good.write_text("source,q,a,rating\n" + "\n".join(_row(p, a) for p, a in zip(puzzles, answers)) + "\n")
    read_puzzles, read_answers = sudoku.read_sudoku_csv(good)
    assert (read_puzzles == puzzles).all() and (read_answers == answers).all()

    wrong = answers[0].copy()
    wrong[0, [0, 1]] = wrong[0, [1, 0]]
    bad = tmp_path / "bad.csv"
    bad.write_text("source,q,a,rating\n" + _row(puzzles[1], answers[1]) + "\n" + _row(puzzles[0], wrong) + "\n")
    with pytest.raises(DataFormatError, match=r"bad.csv: line 3: the answer does not solve the puzzle"):
        sudoku.read_sudoku_csv(bad)
    (tmp_path / "short.csv").write_text("source,q,a,rating\nx,123,456,0\n")
    with pytest.raises(DataFormatError, match=r"short.csv: line 2, column q: expected 81 characters"):
        sudoku.read_sudoku_csv(tmp_path / "short.csv")


def test_a_batch_is_augmented_at_once_each_row_its_own_way_and_the_same_on_every_run(tmp_path):
    from hrm.data.puzzles import SudokuDataModule

    def first_batches(count):
        datamodule = SudokuDataModule(size=6, blanks=20, num_train=40, num_val=4, num_test=4, variants=5,
                                      batch_size=16, seed=3, data_dir=str(tmp_path))
        datamodule.setup("fit")
        loader = iter(datamodule.train_dataloader())
        return [next(loader) for _ in range(count)]

    batches = first_batches(3)
    for batch in batches:
        assert batch["inputs"].shape == (16, 36)
        assert sudoku.solved_rows(batch["labels"], batch["inputs"], 6).all()  # still valid Sudoku
    inputs = torch.cat([batch["inputs"] for batch in batches])
    assert len({row.numpy().tobytes() for row in inputs}) == len(inputs)  # rows differ from one another
    again = first_batches(3)
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches, again))  # seeded


def test_a_size_without_boxes_is_one_line():
    from hrm.data.puzzles import SudokuDataModule
    from hrm.errors import UserError

    with pytest.raises(UserError, match=r"data.size=5: a generated Sudoku is 4, 6, 9 wide"):
        SudokuDataModule(size=5)
