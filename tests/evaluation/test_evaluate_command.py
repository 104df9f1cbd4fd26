"""`python train.py experiment=... train=false ckpt_path=...` evaluates a checkpoint on ARC, as a user runs it."""

import csv
import json

from tests.conftest import TINY, run_train
from tests.test_errors import one_line_error


def test_train_false_evaluates_the_checkpoint_and_writes_the_arc_files(tmp_path):
    trained = run_train(["experiment=arc_tiny", *TINY, "trainer.max_steps=2"], tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    ckpt = tmp_path / "checkpoints" / "arc_tiny" / "last.ckpt"

    result = run_train(["experiment=arc_tiny", *TINY, "train=false", f"ckpt_path={ckpt}",
                        "callbacks.arc_evaluation.pictures=2"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ARC evaluation: pass@2" in result.stdout
    run_dir = sorted(p.parent for p in (tmp_path / "experiments").rglob("arc_eval"))[-1]  # the newest run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("arc/pass@1", "arc/pass@2", "arc/all_correct@2", "arc/num_tasks", "arc/num_variants"):
        assert key in metrics
    assert metrics["arc/num_tasks"] == 2  # debug=tiny: two evaluation tasks
    # every test input in all of its augmented variants (debug=tiny: identity + 2)
    assert metrics["arc/num_variants"] >= 2 * 2

    out = run_dir / "arc_eval"
    submission = json.loads((out / "submission.json").read_text())
    assert len(submission) == 2
    for attempts in submission.values():
        assert all(set(a) == {"attempt_1", "attempt_2"} for a in attempts)
    rows = list(csv.DictReader((out / "per_task.csv").open()))
    assert {r["task_id"] for r in rows} == set(submission)
    assert (out / "pictures" / "contact_sheet.png").stat().st_size > 1000
    assert len(list((out / "pictures" / "tasks").glob("*.png"))) == 2
    halting = list(csv.DictReader((out / "halting.csv").open()))
    assert [int(r["segments"]) for r in halting] == [1, 2]  # debug=tiny: 2 segments
    assert (out / "halting.png").exists()


def test_train_false_without_a_checkpoint_gives_one_line(tmp_path):
    line = one_line_error(run_train(["experiment=arc_tiny", *TINY, "train=false"], tmp_path))
    assert "ckpt_path" in line


def test_evaluating_a_truncated_checkpoint_gives_one_line(tmp_path):
    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(b"\x00" * 100)
    line = one_line_error(run_train(["experiment=arc_tiny", *TINY, "train=false", f"ckpt_path={bad}"], tmp_path))
    assert "broken.ckpt" in line
