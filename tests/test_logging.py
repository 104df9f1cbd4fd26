"""wandb runs offline by default, and a resumed run keeps its wandb run id."""

import json

from tests.conftest import run_train


def wandb_runs(root):
    return sorted(p.name for p in (root / "experiments").rglob("offline-run-*") if p.is_dir())


def test_offline_wandb_by_default_and_the_same_run_id_after_resume(tmp_path):
    args = ["experiment=arc_tiny", "debug=tiny"]
    first = run_train([*args, "trainer.max_steps=2"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    run_id = json.loads((tmp_path / "checkpoints" / "arc_tiny" / "run_info.json").read_text())["wandb_id"]
    runs = wandb_runs(tmp_path)
    assert len(runs) == 1 and runs[0].endswith(run_id)
    assert "wandb (offline)" in first.stdout
    assert len(list((tmp_path / "experiments").rglob("csv/metrics.csv"))) == 1  # what the dashboard reads

    second = run_train([*args, "trainer.max_steps=4"], tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming from" in second.stdout
    runs = wandb_runs(tmp_path)
    assert len(runs) == 2 and all(name.endswith(run_id) for name in runs)


def test_csv_logger_writes_the_metrics_of_every_step(tmp_path):
    result = run_train(["experiment=arc_tiny", "debug=tiny", "logger=csv", "trainer.max_steps=3"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (csv_file,) = (tmp_path / "experiments").rglob("metrics.csv")
    header, *rows = csv_file.read_text().splitlines()
    assert "train/loss" in header.split(",") and len(rows) >= 3
