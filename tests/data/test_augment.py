"""Dihedral transforms, colour permutations and per-task augmentation lists, on real ARC grids."""

import os
import subprocess
import sys

import numpy as np
import pytest

from hrm.data.arc_tasks import ARCTask
from hrm.data.augment import (
    IDENTITY,
    Augmentation,
    dihedral,
    inverse_dihedral,
    random_offset,
    task_augmentations,
)


@pytest.fixture(scope="module")
def tasks(arc1_tasks):
    return arc1_tasks


@pytest.fixture(scope="module")
def non_square_grids(tasks):
    return [g for task in tasks[:100] for g in task.grids() if g.shape[0] != g.shape[1]]


def test_each_dihedral_transform_inverts_exactly(non_square_grids):
    assert len(non_square_grids) > 50
    for grid in non_square_grids:
        for k in range(8):
            transformed = dihedral(grid, k)
            expected_shape = grid.shape if k in (0, 2, 5, 6) else grid.shape[::-1]
            assert transformed.shape == expected_shape
            np.testing.assert_array_equal(inverse_dihedral(transformed, k), grid)


def test_the_eight_transforms_are_distinct_on_an_asymmetric_grid():
    grid = np.arange(6).reshape(2, 3)
    images = {(dihedral(grid, k).shape, dihedral(grid, k).tobytes()) for k in range(8)}
    assert len(images) == 8
    np.testing.assert_array_equal(dihedral(grid, 1), np.rot90(grid))
    np.testing.assert_array_equal(dihedral(grid, 4), grid.T)


def test_random_augmentations_invert_and_keep_black(non_square_grids):
    rng = np.random.default_rng(0)
    for grid in non_square_grids[:200]:
        aug = Augmentation(int(rng.integers(8)), (0, *(rng.permutation(9) + 1).tolist()))
        out = aug.apply(grid)
        np.testing.assert_array_equal(out == 0, dihedral(grid, aug.dihedral) == 0)  # black stays black
        np.testing.assert_array_equal(aug.invert(out), grid)


def test_augmentation_rejects_moving_black():
    with pytest.raises(ValueError):
        Augmentation(0, (1, 0, 2, 3, 4, 5, 6, 7, 8, 9))
    assert IDENTITY.is_identity and not Augmentation(1, IDENTITY.colour_perm).is_identity


def _content(task: ARCTask, aug: Augmentation) -> tuple:
    return tuple((g.shape, aug.apply(g).tobytes()) for g in task.grids())


def test_task_augmentations_deterministic_distinct_identity_first(tasks):
    task = tasks[0]
    augs = task_augmentations(task, 50, seed=1)
    assert augs == task_augmentations(task, 50, seed=1)
    assert augs != task_augmentations(task, 50, seed=2)
    assert augs[0] == IDENTITY and len(augs) == 51
    assert len({_content(task, a) for a in augs}) == len(augs)
    # A smaller request is a prefix of a larger one (candidates are drawn in fixed-size chunks).
    assert task_augmentations(task, 10, seed=1) == augs[:11]
    # The seed mixes in the task id, so two tasks do not share one sequence.
    assert [a.colour_perm for a in task_augmentations(tasks[1], 5, 1)] != [a.colour_perm for a in augs[:6]]


def test_symmetric_or_few_colour_tasks_terminate_with_the_distinct_variants_only():
    blank = ARCTask("blank", [(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8))], [], "test")
    assert task_augmentations(blank, 100, seed=0) == [IDENTITY]  # every augmentation looks the same
    one = np.ones((2, 2), np.uint8)
    single = ARCTask("single", [(one, one)], [(one, None)], "test")
    assert len(task_augmentations(single, 100, seed=0)) == 9  # only the colour of the 1s matters


def test_task_augmentations_do_not_depend_on_python_hash_seed():
    code = (
        "from hrm.data.arc_tasks import load_arc_tasks; from hrm.data.augment import task_augmentations;"
        "print(task_augmentations(load_arc_tasks('arc-agi-1')[0][5], 3, 7))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_random_offset_keeps_grids_and_eos_inside_the_canvas():
    rng = np.random.default_rng(0)
    offsets = {random_offset(rng, [(3, 4), (5, 2)], 10) for _ in range(500)}
    assert offsets == {(r, c) for r in range(5) for c in range(6)}  # 10-5-1 and 10-4-1 rows/columns spare
    assert random_offset(rng, [(30, 2), (1, 29)], 30) == (0, 0)
    assert {random_offset(rng, [(29, 28)], 30) for _ in range(100)} == {(0, 0), (0, 1)}
