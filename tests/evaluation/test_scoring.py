"""ARC scoring on hand-built cases, and the files it writes (submission.json, per-task CSV)."""

import csv
import json
import math

import numpy as np
import pytest

from hrm.evaluation.scoring import (
    CSV_COLUMNS,
    all_correct_at_k,
    pass_at_k,
    score,
    write_per_task_csv,
    write_submission,
)
from hrm.evaluation.voting import Candidate


def grid(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


X = grid([1, 2], [3, 4])
Y = grid([5, 6, 7])
Z = grid([8])
WRONG = grid([0])


@pytest.fixture
def case():
    """Five tasks; the comment says which attempt matches each test output."""
    truths = {("a", 0): X, ("b", 0): Y, ("c", 0): X, ("c", 1): Y, ("d", 0): Z, ("d", 1): X, ("e", 0): Y}
    attempts = {
        ("a", 0): [X, WRONG],  # attempt_1
        ("b", 0): [WRONG, Y],  # attempt_2 only
        ("c", 0): [X, WRONG],  # attempt_1 ...
        ("c", 1): [WRONG, WRONG],  # ... and nothing: half the task
        ("d", 0): [WRONG, Z],  # attempt_2 ...
        ("d", 1): [X, Z],  # ... and attempt_1: the whole task at k=2, half of it at k=1
        # "e" was never predicted: its output counts as missed
    }
    return attempts, truths


def test_hand_built_scores(case):
    attempts, truths = case
    assert pass_at_k(attempts, truths, 1) == pytest.approx((1 + 0 + 0.5 + 0.5 + 0) / 5)
    assert pass_at_k(attempts, truths, 2) == pytest.approx((1 + 1 + 0.5 + 1 + 0) / 5)
    assert all_correct_at_k(attempts, truths, 2) == pytest.approx((1 + 1 + 0 + 1 + 0) / 5)
    assert all_correct_at_k(attempts, truths, 1) == pytest.approx(1 / 5)


def test_partial_credit_for_a_task_with_two_test_outputs():
    truths = {("t", 0): X, ("t", 1): Y}
    attempts = {("t", 0): [WRONG, X], ("t", 1): [WRONG, WRONG]}
    assert pass_at_k(attempts, truths, 2) == 0.5
    assert pass_at_k(attempts, truths, 1) == 0.0  # the right grid was attempt_2
    assert all_correct_at_k(attempts, truths, 2) == 0.0


def test_the_mean_is_over_tasks_not_test_outputs():
    truths = {("many", 0): X, ("many", 1): Y, ("many", 2): Z, ("one", 0): X}
    attempts = {("many", 0): [X, X], ("many", 1): [Y, Y], ("many", 2): [Z, Z], ("one", 0): [Y, Z]}
    assert pass_at_k(attempts, truths, 2) == 0.5  # not 3/4


def test_exact_match_needs_the_shape_too():
    truths = {("t", 0): grid([1, 2, 0])}
    assert pass_at_k({("t", 0): [grid([1, 2]), grid([1, 2, 0, 0])]}, truths, 2) == 0.0
    assert pass_at_k({}, {}, 2) == 0.0  # nothing to score


def test_score_summary_and_rows():
    def cand(g, votes, segments):
        return Candidate(g, votes, 0.5, segments)

    candidates = {
        ("a", 0): [cand(X, 5, 2.0), cand(WRONG, 1, 8.0)],
        ("c", 0): [cand(X, 3, 4.0)],
        ("c", 1): [cand(WRONG, 2, 4.0), cand(Z, 1, 1.0)],
        ("e", 0): [],  # every prediction was empty
    }
    truths = {("a", 0): X, ("c", 0): X, ("c", 1): Y, ("e", 0): Y}
    scores, rows = score(candidates, truths, num_variants=17)
    assert (scores.pass_at_1, scores.pass_at_2, scores.all_correct_at_2) == pytest.approx((0.5, 0.5, 1 / 3))
    assert (scores.num_tasks, scores.num_test_outputs, scores.num_variants) == (3, 4, 17)
    assert [r.task_id for r in rows] == ["a", "c", "e"]
    a, c, e = rows
    assert (a.test_outputs, a.solved_count, a.solved, a.winner_votes) == (1, 1, True, [5])
    assert a.mean_segments == pytest.approx((5 * 2 + 1 * 8) / 6)  # weighted by votes
    assert (c.test_outputs, c.solved_count, c.solved, c.winner_votes) == (2, 1, False, [3, 2])
    assert (e.solved_count, e.winner_votes) == (0, [0]) and math.isnan(e.mean_segments)


def test_per_task_csv(tmp_path):
    candidates = {("a", 0): [Candidate(X, 5, 0.9, 3.0)], ("c", 0): [Candidate(X, 3, 0.5, 4.0)],
                  ("c", 1): [Candidate(WRONG, 2, 0.5, 4.0)], ("e", 0): []}
    truths = {("a", 0): X, ("c", 0): X, ("c", 1): Y, ("e", 0): Y}
    _, rows = score(candidates, truths)
    path = tmp_path / "per_task.csv"
    write_per_task_csv(path, rows)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        table = list(reader)
    assert table[0] == {"task_id": "a", "test_outputs": "1", "solved": "1", "all_solved": "1",
                        "winner_votes": "5", "mean_segments": "3.00"}
    assert table[1] == {"task_id": "c", "test_outputs": "2", "solved": "0.5", "all_solved": "0",
                        "winner_votes": "3;2", "mean_segments": "4.00"}
    assert table[2]["mean_segments"] == "" and table[2]["winner_votes"] == "0"
    assert [p.name for p in tmp_path.iterdir()] == ["per_task.csv"]  # no temp file left behind


def test_submission_format_and_round_trip(tmp_path):
    attempts = {  # inserted out of order: the file must still follow the test pairs' order
        ("task2", 1): [Z, WRONG],
        ("task1", 0): [X.astype(np.int64), Y],
        ("task2", 0): [Y, X],
    }
    path = tmp_path / "submission.json"
    write_submission(path, attempts)
    text = path.read_text()
    data = json.loads(text)

    assert list(data) == ["task1", "task2"]
    assert [len(v) for v in data.values()] == [1, 2]
    for entries in data.values():
        for entry in entries:
            assert set(entry) == {"attempt_1", "attempt_2"}
            for g in entry.values():
                assert isinstance(g, list) and g and all(isinstance(row, list) and row for row in g)
                assert all(type(v) is int and 0 <= v <= 9 for row in g for v in row)
    assert data["task1"] == [{"attempt_1": [[1, 2], [3, 4]], "attempt_2": [[5, 6, 7]]}]
    assert data["task2"] == [{"attempt_1": Y.tolist(), "attempt_2": X.tolist()},
                             {"attempt_1": Z.tolist(), "attempt_2": WRONG.tolist()}]
    assert json.loads(json.dumps(data)) == data
    assert [p.name for p in tmp_path.iterdir()] == ["submission.json"]


def test_submission_rejects_a_gap_in_test_pairs(tmp_path):
    with pytest.raises(ValueError, match="task t"):
        write_submission(tmp_path / "s.json", {("t", 0): [X, X], ("t", 2): [X, X]})
    with pytest.raises(ValueError, match="two attempts"):
        write_submission(tmp_path / "s.json", {("t", 0): [X]})
