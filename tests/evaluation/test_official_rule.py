"""The official scoring rule (HRM's and TRM's evaluation notebook) beside the ARC Prize rule, on
hand-built ragged, empty and multi-output predictions."""

import numpy as np

from hrm.data.augment import IDENTITY
from hrm.data.grids import COLOR_OFFSET, EOS, PAD, crop_official, decode_grid
from hrm.evaluation.scoring import official_pass_at_k, pass_at_k
from hrm.evaluation.voting import Prediction, attempts_for_pairs, vote

CANVAS = 30


def board(rows: list[list[int]]) -> np.ndarray:
    """A canvas holding `rows` (colour 0-9 as a colour token, -1 as EOS) at the top left, PAD elsewhere."""
    tokens = np.full((CANVAS, CANVAS), PAD, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            tokens[r, c] = EOS if value < 0 else value + COLOR_OFFSET
    return tokens.reshape(-1)


def predict(tokens: np.ndarray, task: str = "t", test_index: int = 0, q_halt: float = 0.0) -> Prediction:
    return Prediction(task, test_index, IDENTITY, tokens, q_halt, 1)


def test_the_official_crop_keeps_the_largest_rectangle_of_shrinking_rows():
    ragged = board([[1, 2, 3, 4, 5, -1], [1, 2, 3, -1], [1, 2, 3, -1], [1, 2, 3, -1], [-1]])
    # rows of 5, 3, 3, 3 colours: 1x5 (area 5) < 2x3 < 3x3 < 4x3 (area 12)
    assert crop_official(ragged).tolist() == [[1, 2, 3]] * 4
    assert decode_grid(ragged).tolist() == [[1, 2, 3, 4, 5]]  # the first row's width, then rows that fill it
    widening = board([[1, 2, -1], [1, 2, 3, 4, -1], [-1]])
    assert crop_official(widening).tolist() == [[1, 2], [1, 2]]  # a later row can never widen it
    first_of_ties = board([[1, 2, 3, 4, -1], [1, 2, -1], [-1]])
    assert crop_official(first_of_ties).shape == (1, 4)  # 1x4 and 2x2 tie: the first found stays
    assert crop_official(board([[-1]])).shape == (0, 0) == decode_grid(board([[-1]])).shape


def test_empty_predictions_vote_under_the_official_rule_and_can_outrank_the_answer():
    right = board([[1, 2], [3, 4], [-1]])
    empty = board([[-1]])
    predictions = [predict(empty), predict(empty), predict(right, q_halt=5.0)]
    truths = {("t", 0): np.array([[1, 2], [3, 4]], dtype=np.uint8)}

    prize = vote(predictions)
    assert len(prize[("t", 0)]) == 1  # the empty ones are no answer
    assert pass_at_k(attempts_for_pairs(prize), truths, 1) == 1.0

    official = vote(predictions, rule="official")
    assert [c.grid.shape for c in official[("t", 0)]] == [(0, 0), (2, 2)]  # two empty votes beat one
    assert official_pass_at_k(official, truths, 1) == 0.0
    assert official_pass_at_k(official, truths, 2) == 1.0


def test_a_task_counts_under_the_official_rule_only_if_all_its_outputs_are_right():
    first = np.array([[1]], dtype=np.uint8)
    second = np.array([[2, 2]], dtype=np.uint8)
    truths = {("two", 0): first, ("two", 1): second, ("one", 0): first}
    predictions = [predict(board([[1, -1], [-1]]), "two", 0), predict(board([[3, 3, -1], [-1]]), "two", 1),
                   predict(board([[1, -1], [-1]]), "one", 0)]
    prize = attempts_for_pairs(vote(predictions))
    assert pass_at_k(prize, truths, 2) == (0.5 + 1.0) / 2  # half of "two", all of "one"
    assert official_pass_at_k(vote(predictions, rule="official"), truths, 2) == 0.5  # only "one" counts
    # a pair without any prediction is wrong under both rules
    assert official_pass_at_k(vote(predictions[2:], rule="official"), truths, 10) == 0.5


def test_ranking_is_by_votes_then_mean_halting_confidence_under_both_rules():
    a, b = board([[1, -1], [-1]]), board([[2, -1], [-1]])
    predictions = [predict(a, q_halt=-3.0), predict(b, q_halt=3.0), predict(a, q_halt=-3.0), predict(b, q_halt=4.0)]
    for rule in ("prize", "official"):
        ranked = vote(predictions, rule=rule)[("t", 0)]
        assert [c.grid.tolist() for c in ranked] == [[[2]], [[1]]]  # 2 votes each: the more confident first
