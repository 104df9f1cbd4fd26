"""Grid validation and the 30x30 token encoding, on every grid of ARC-AGI-1."""

import numpy as np
import pytest

from hrm.data.grids import (
    EOS,
    IGNORE_LABEL,
    PAD,
    VOCAB_SIZE,
    decode_grid,
    encode_grid,
    labels_from_tokens,
    validate_grid,
)
from hrm.errors import DataFormatError


@pytest.fixture(scope="module")
def arc1_grids(arc1_tasks):
    return [g for task in arc1_tasks for g in task.grids()]


def test_encode_decode_is_identity_on_every_arc_agi_1_grid(arc1_grids):
    assert len(arc1_grids) == 7000  # inputs and outputs of the 3,500 pairs (train and test) of both sets
    for grid in arc1_grids:
        tokens = encode_grid(grid)
        assert tokens.shape == (900,) and tokens.max() < VOCAB_SIZE
        np.testing.assert_array_equal(decode_grid(tokens), grid)


def test_small_canvas_round_trip_including_grids_that_fill_it():
    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (10, 10), (10, 3), (4, 10), (9, 9)]:
        grid = rng.integers(0, 10, size=(h, w)).astype(np.uint8)
        np.testing.assert_array_equal(decode_grid(encode_grid(grid, canvas=10), canvas=10), grid)


def test_layout_of_eos_marks_at_an_offset():
    grid = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    board = encode_grid(grid, canvas=6, offset=(1, 2)).reshape(6, 6)
    expected = np.array(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 3, 4, 5, 1],
            [0, 0, 6, 7, 8, 1],
            [0, 0, 1, 1, 1, 0],  # EOS row under the grid's columns; the corner stays PAD
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(board, expected)


def test_full_canvas_grid_gets_no_eos_and_edge_grids_lose_only_the_outside_mark():
    assert EOS not in encode_grid(np.zeros((30, 30), dtype=np.uint8))
    board = encode_grid(np.ones((3, 30), dtype=np.uint8)).reshape(30, 30)
    assert (board[3] == EOS).all() and (board[:3] >= 2).all()
    with pytest.raises(ValueError):
        encode_grid(np.ones((3, 3), dtype=np.uint8), canvas=30, offset=(28, 0))


def test_decode_of_garbage_is_empty_or_cropped():
    assert decode_grid(np.zeros(900, dtype=np.int64)).shape == (0, 0)
    tokens = np.full(900, 5)
    tokens[3] = EOS  # row 0: three colours, then EOS
    tokens[2 * 30 + 1] = PAD  # row 2 breaks inside the width: height 2
    np.testing.assert_array_equal(decode_grid(tokens), np.full((2, 3), 3))


def test_labels_ignore_pad_only():
    tokens = encode_grid(np.array([[0, 9]], dtype=np.uint8), canvas=4)
    labels = labels_from_tokens(tokens)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels == IGNORE_LABEL, tokens == PAD)
    np.testing.assert_array_equal(labels[tokens != PAD], tokens[tokens != PAD])
    assert (labels == EOS).sum() == 3  # two under the grid, one right of it


def test_validate_grid_accepts_lists_and_arrays():
    out = validate_grid([[0, 1], [2, 9]], "x")
    assert out.dtype == np.uint8 and out.shape == (2, 2)
    assert validate_grid(np.array([[3]]), "x")[0, 0] == 3


@pytest.mark.parametrize(
    "grid, message",
    [
        ([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3, 4]], "f.json: row 3 has 4 cells, expected 3"),
        ([], "f.json: grid is empty"),
        ([[]], "f.json: grid is empty"),
        ([[0, 0], [0, 12]], "f.json: colour 12 at (1, 1) is outside 0-9"),
        ([[0, -1]], "f.json: colour -1 at (0, 1) is outside 0-9"),
        ([[1] * 5] * 31, "f.json: grid is 31x5, larger than 30x30"),
        ([[0, True]], "f.json: value True at (0, 1) is not a colour 0-9"),
        ([[0, 1.0]], "f.json: value 1.0 at (0, 1) is not a colour 0-9"),
        ([[0, [1]]], "f.json: value [1] at (0, 1) is not a colour 0-9"),
        ([1, 2], "f.json: expected a grid"),
        ("12", "f.json: expected a grid"),
    ],
)
def test_validate_grid_errors_are_one_line_and_name_the_place(grid, message):
    with pytest.raises(DataFormatError) as error:
        validate_grid(grid, "f.json")
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_decode_stops_at_tokens_past_the_colours():
    board = encode_grid(np.array([[1, 2, 3], [4, 5, 6]]), canvas=5).astype(np.int64)
    board[1] = 163  # a model with a larger vocabulary may predict any id: row 0 ends after one cell
    assert decode_grid(board, canvas=5).tolist() == [[1], [4]]
    board[5] = 5000  # and now row 1 starts with one: the grid ends after one row
    assert decode_grid(board, canvas=5).tolist() == [[1]]
