"""Voting over augmented predictions: inversion, grouping, ranking, empty crops, and an oracle run
over every ARC-AGI-1 evaluation task."""

import numpy as np
import pytest

from hrm.data.arc_tasks import load_arc_tasks
from hrm.data.augment import IDENTITY, Augmentation, task_augmentations
from hrm.data.grids import EOS, PAD, encode_grid
from hrm.evaluation.scoring import all_correct_at_k, pass_at_k, truths_from_tasks
from hrm.evaluation.voting import (
    PLACEHOLDER,
    Candidate,
    Prediction,
    attempts,
    attempts_for_pairs,
    count_variants,
    vote,
)

RIGHT = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
WRONG = np.array([[1, 2, 3], [4, 5, 7]], dtype=np.uint8)


def predict(grid, aug=IDENTITY, q_halt=0.0, segments=4, task_id="t", test_index=0) -> Prediction:
    """The prediction a model makes when its answer, in the augmented frame, is aug.apply(grid)."""
    return Prediction(task_id, test_index, aug, encode_grid(aug.apply(grid), 30), q_halt, segments)


@pytest.fixture(scope="module")
def evaluation_tasks():
    return load_arc_tasks("arc-agi-1")[1]


def test_oracle_predictions_vote_back_every_true_output(evaluation_tasks):
    """The true output of every augmented variant, fed through vote(), must come back as attempt_1:
    this exercises cropping, the inverse colour permutation and the inverse dihedral on real grids."""
    assert len(evaluation_tasks) == 400
    predictions, augmentation_counts = [], {}
    for task in evaluation_tasks:
        augs = task_augmentations(task, num_aug=8, seed=0)
        augmentation_counts[task.id] = len(augs)
        for j, (_, output) in enumerate(task.test):
            for aug in augs:
                predictions.append(predict(output, aug, task_id=task.id, test_index=j))
    assert any(p.augmentation.dihedral not in (0, 2) for p in predictions)  # shape-changing ones too

    candidates = vote(predictions)
    truths = truths_from_tasks(evaluation_tasks)
    assert set(candidates) == set(truths)
    for (task_id, j), truth in truths.items():
        ranked = candidates[(task_id, j)]
        assert len(ranked) == 1 and ranked[0].votes == augmentation_counts[task_id]
        np.testing.assert_array_equal(attempts(ranked)[0], truth)
    chosen = attempts_for_pairs(candidates)
    assert pass_at_k(chosen, truths, 1) == pass_at_k(chosen, truths, 2) == 1.0
    assert all_correct_at_k(chosen, truths, 2) == 1.0
    assert count_variants(predictions) == sum(augmentation_counts.values())


def test_oracle_through_the_datamodule_describe(evaluation_tasks):
    """The same oracle on the real validation samples: labels as predictions, mapped back through
    datamodule.describe(), as the evaluation loop will do it."""
    from hrm.data.arc import ARCDataModule  # imports Lightning: only this test pays for it

    dm = ARCDataModule(source="arc-agi-1", num_aug=8, seed=0, val_num_aug=8, canvas=30)
    dm.setup()
    predictions = []
    for i in range(len(dm.val_dataset)):
        task_id, j, aug, offset = dm.describe("val", i)
        assert offset == (0, 0)
        tokens = dm.val_dataset[i]["labels"].numpy().clip(min=PAD)  # ignored PAD -> PAD token
        predictions.append(Prediction(task_id, j, aug, tokens, q_halt=1.0, segments=2))
    truths = truths_from_tasks(evaluation_tasks)  # split "hrm": their test pairs are the val samples
    chosen = attempts_for_pairs(vote(predictions))
    assert set(chosen) == set(truths)
    assert pass_at_k(chosen, truths, 1) == 1.0


def test_inverts_colour_permutation_and_dihedral():
    aug = Augmentation(1, (0, 3, 1, 2, 5, 4, 7, 6, 9, 8))  # rotate 90 degrees, rename colours
    (best,) = vote([predict(RIGHT, aug)])[("t", 0)]
    np.testing.assert_array_equal(best.grid, RIGHT)


def test_ranking_is_votes_then_confidence():
    # A wrong answer that more augmentations agree on wins, however unsure the model is about it.
    ranked = vote([predict(WRONG, q_halt=-5.0)] * 3 + [predict(RIGHT, q_halt=5.0)] * 2)[("t", 0)]
    np.testing.assert_array_equal(ranked[0].grid, WRONG)
    assert [c.votes for c in ranked] == [3, 2]
    # On equal votes the higher mean sigmoid(q_halt) wins, whichever came first.
    ranked = vote([predict(WRONG, q_halt=-1.0)] * 2 + [predict(RIGHT, q_halt=2.0)] * 2)[("t", 0)]
    np.testing.assert_array_equal(ranked[0].grid, RIGHT)
    assert ranked[0].mean_confidence == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_extreme_halting_logits_do_not_overflow():
    ranked = vote([predict(WRONG, q_halt=-1e4), predict(RIGHT, q_halt=1e4)])[("t", 0)]
    assert [c.mean_confidence for c in ranked] == [1.0, 0.0]


def test_candidate_statistics():
    ranked = vote([predict(RIGHT, q_halt=0.0, segments=2), predict(RIGHT, q_halt=0.0, segments=6)])[("t", 0)]
    assert ranked == [Candidate(ranked[0].grid, 2, 0.5, 4.0)]


def test_same_bytes_different_shape_are_different_answers():
    ranked = vote([predict(RIGHT), predict(RIGHT.reshape(3, 2))])[("t", 0)]
    assert sorted(c.grid.shape for c in ranked) == [(2, 3), (3, 2)]


def test_empty_crops_never_win():
    empty = Prediction("t", 0, IDENTITY, np.full(900, PAD, dtype=np.uint8), q_halt=9.0, segments=1)
    eos_first = Prediction("t", 0, IDENTITY, np.full(900, EOS, dtype=np.uint8), q_halt=9.0, segments=1)
    ranked = vote([empty] * 5 + [eos_first] * 5 + [predict(WRONG, q_halt=-9.0)])[("t", 0)]
    assert len(ranked) == 1 and ranked[0].votes == 1
    np.testing.assert_array_equal(ranked[0].grid, WRONG)
    # Nothing but empty answers: the pair is still there, with no candidate, and gets placeholders.
    assert vote([empty, eos_first]) == {("t", 0): []}
    assert [a.tolist() for a in attempts([])] == [[[0]], [[0]]]


def test_attempts_always_gives_k_grids():
    ranked = vote([predict(WRONG)] * 3 + [predict(RIGHT)] * 2 + [predict(RIGHT[:, :2])])[("t", 0)]
    first, second = attempts(ranked)
    np.testing.assert_array_equal(first, WRONG)
    np.testing.assert_array_equal(second, RIGHT)
    single = attempts(ranked[:1])  # too few candidates: the best one fills the second slot
    assert len(single) == 2 and all(np.array_equal(a, WRONG) for a in single)
    assert [a.tolist() for a in attempts([], k=3)] == [PLACEHOLDER.tolist()] * 3 == [[[0]]] * 3


def test_pairs_and_tasks_are_kept_apart():
    votes = vote([predict(RIGHT, task_id="a", test_index=0), predict(WRONG, task_id="a", test_index=1),
                  predict(WRONG, task_id="b", test_index=0)])
    assert sorted(votes) == [("a", 0), ("a", 1), ("b", 0)]
    np.testing.assert_array_equal(votes[("a", 0)][0].grid, RIGHT)
