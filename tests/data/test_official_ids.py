"""ARC variants and puzzle ids from an official build's identifiers.json (`data.identifiers`): the samples
are the official augmentations under the official ids, so a converted official model is evaluated on the
puzzles its table learned."""

import json
import re

import numpy as np
import pytest

from hrm.convert import main as convert
from hrm.data.arc import ARCDataModule
from hrm.data.arc_tasks import load_arc_tasks
from hrm.data.grids import encode_grid
from hrm.errors import DataFormatError, UserError
from tests.conftest import run_train
from tests.official_layout import ARCH, PUZZLES, official_folder, official_state

# A training task with 3x3 grids and an evaluation task whose output is 6x6: both fit a 6-wide canvas,
# the sequence length of tests/official_layout.py's model (36).
TRAIN_TASK, EVAL_TASK = "0d3d703e", "00576224"
# identifiers.json as the official builder writes it: <blank>, then names in its own order (its t4 is a
# left-right flip, t6 the transpose), including a task this data does not select.
NAMES = ["<blank>", "ffffffff", TRAIN_TASK, f"{TRAIN_TASK}_t4_0213456789", "ffffffff_t1_0123456798",
         EVAL_TASK, f"{EVAL_TASK}_t6_0987654321"]
assert len(NAMES) == PUZZLES


@pytest.fixture
def identifiers(tmp_path):
    path = tmp_path / "identifiers.json"
    path.write_text(json.dumps(NAMES))
    return path


def datamodule(identifiers, **settings) -> ARCDataModule:
    dm = ARCDataModule(task_ids=[TRAIN_TASK, EVAL_TASK], canvas=6, translate=False, batch_size=2,
                       identifiers=identifiers, **settings)
    dm.setup()
    return dm


def test_samples_are_the_official_augmentations_under_the_official_ids(identifiers):
    dm = datamodule(identifiers)
    assert dm.num_puzzle_identifiers == len(NAMES)  # the table of the build, tasks not selected included
    training, evaluation = load_arc_tasks("arc-agi-1")
    tasks = {t.id: t for t in training + evaluation}
    mapping = np.array([0, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    # the evaluation task's test pair under "00576224_t6_0987654321": colours mapped, then transposed
    test = dm.test_dataset
    rows = [test[i] for i in range(len(test))]
    ids = sorted(int(r["puzzle_identifiers"]) for r in rows)
    assert ids == [5, 6]
    inp = tasks[EVAL_TASK].test[0][0]
    transposed = next(r for r in rows if int(r["puzzle_identifiers"]) == 6)
    assert np.array_equal(transposed["inputs"].numpy(), encode_grid(mapping[inp].T, 6))
    # training: the demonstrations of both tasks and the training task's test pair, each under its 2 variants
    train = dm.train_dataset
    seen = {int(train[i]["puzzle_identifiers"]) for i in range(len(train))}
    assert seen == {2, 3, 5, 6}
    flipped = [train[i] for i in range(len(train)) if int(train[i]["puzzle_identifiers"]) == 3]
    first = tasks[TRAIN_TASK].train[0][0]
    lut = np.array([0, 2, 1, 3, 4, 5, 6, 7, 8, 9])
    assert np.array_equal(flipped[0]["inputs"].numpy(), encode_grid(np.fliplr(lut[first]), 6))


def test_a_task_the_build_did_not_name_or_a_bad_name_is_one_line(tmp_path, identifiers):
    with pytest.raises(UserError, match=r"identifiers.json: names no variant of task 25ff71a9 as given"):
        ARCDataModule(task_ids=[TRAIN_TASK, "25ff71a9"], identifiers=identifiers).setup()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(["<blank>", f"{TRAIN_TASK}_t2_1023456789"]))
    with pytest.raises(DataFormatError, match=r"bad.json: entry 1: .*not a permutation of 0-9 keeping 0"):
        ARCDataModule(task_ids=[TRAIN_TASK], identifiers=bad).setup()
    bad.write_text(json.dumps({"0": "<blank>"}))
    with pytest.raises(DataFormatError, match=r"bad.json: expected a list of variant names"):
        ARCDataModule(task_ids=[TRAIN_TASK], identifiers=bad).setup()


def test_a_converted_official_arc_model_evaluates_on_its_own_puzzle_ids(tmp_path, identifiers, capsys):
    folder = official_folder(tmp_path, official_state())
    out = tmp_path / "checkpoints" / "official_arc"
    # identifiers.json of another build (one id more) is refused, naming both sizes
    other = tmp_path / "other.json"
    other.write_text(json.dumps(NAMES + [f"{EVAL_TASK}_t1_0123456789"]))
    assert convert(["official", str(folder), "--out", str(out), "--seq-len", "36", "--identifiers", str(other)]) == 2
    assert re.search(r"other.json: names 8 puzzle ids, but the checkpoint's puzzle table has 7 rows",
                     capsys.readouterr().err)
    assert not (out / "last.ckpt").exists()
    assert convert(["official", str(folder), "--out", str(out), "--seq-len", "36", "--identifiers",
                    str(identifiers)]) == 0
    shape = [f"model.net.hidden_size={ARCH['hidden_size']}", f"model.net.num_heads={ARCH['num_heads']}",
             f"model.net.H_layers={ARCH['H_layers']}", f"model.net.L_layers={ARCH['L_layers']}",
             f"model.act.halt_max_steps={ARCH['halt_max_steps']}"]
    result = run_train(["experiment=arc_tiny", "model=hrm", *shape, "data.canvas=6", "data.translate=false",
                        f"data.task_ids=[{TRAIN_TASK},{EVAL_TASK}]", f"data.identifiers={identifiers}",
                        "train=false", f"ckpt_path={out / 'last.ckpt'}", "logger=none",
                        "callbacks.arc_evaluation.pictures=0"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ARC evaluation of 2 test inputs in 4 augmented variants" in result.stdout  # arc_tiny: split=holdout
    assert re.search(r"official_pass@2 +[01]", result.stdout)
