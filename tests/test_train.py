"""End to end: the real train.py / hrm.training.run with tiny overrides."""

import json
from pathlib import Path

import pytest
import torch

from hrm.training import run
from tests.conftest import TINY, run_train
from tests.test_configs import options


@pytest.mark.parametrize("experiment", options("experiment"))
def test_each_experiment_takes_its_first_training_steps(make_config, tmp_path, experiment):
    first = {"vae_distill": "vae_teacher", "agent_rl": "agent_imitation"}  # what they start from
    if experiment in first:
        run(make_config(f"experiment={first[experiment]}", *TINY, "trainer.max_steps=3", "test=false"))
    cfg = make_config(f"experiment={experiment}", *TINY, "trainer.max_steps=2")
    metrics = run(cfg)
    assert metrics["trainer/global_step"] == 2
    assert any(key.startswith("val/") for key in metrics), metrics  # debug=tiny validates: a search can read it
    assert "train/loss" in metrics and torch.isfinite(torch.tensor(metrics["train/loss"]))
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written == metrics
    # the final weights are in the experiment's stable checkpoint dir
    last = Path(cfg.paths.ckpt_dir) / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2


def test_validation_reports_the_headline_metrics(make_config):
    metrics = run(make_config("experiment=arc_tiny", *TINY, "trainer.max_steps=-1", "trainer.max_epochs=1"))
    for key in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss"):
        assert f"val/{key}" in metrics
    assert metrics["val/steps"] == 2  # every row ran to halt_max_steps (debug=tiny: 2)
    assert 0 <= metrics["val/accuracy"] <= 1


def state_dict(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("accumulate", [1, 2])
def test_a_killed_run_resumes_where_it_stopped_and_ends_with_the_same_weights(tmp_path, accumulate):
    # debug=tiny: 2 tasks x 3 variants, batch 4 -> a few batches per epoch, so 7 steps cross epochs.
    args = ["experiment=arc_tiny", *TINY, "trainer.max_steps=7", "callbacks.last.every_n_train_steps=3",
            f"trainer.accumulate_grad_batches={accumulate}", "test=false"]
    straight = run_train(args, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]

    crashed = run_train([*args, "crash_at_step=3"], tmp_path / "killed")
    assert crashed.returncode == -9  # SIGKILL: nothing ran after step 3
    ckpt = tmp_path / "killed" / "checkpoints" / "arc_tiny" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["global_step"] == 3

    resumed = run_train(args, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {ckpt}" in resumed.stdout
    assert torch.load(ckpt, weights_only=True)["global_step"] == 7

    expected = state_dict(tmp_path / "straight" / "checkpoints" / "arc_tiny" / "last.ckpt")
    got = state_dict(ckpt)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


def test_checkpoints_best_last_and_one_every_5_epochs_even_with_step_based_validation(make_config, tmp_path):
    cfg = make_config("experiment=arc_tiny", *TINY, "trainer.max_steps=-1", "trainer.max_epochs=10",
                      "trainer.val_check_interval=3", "trainer.check_val_every_n_epoch=null", "test=false")
    run(cfg)
    names = sorted(p.name for p in (tmp_path / "checkpoints" / "arc_tiny").glob("*.ckpt"))
    assert names == ["best.ckpt", "epoch-004.ckpt", "epoch-009.ckpt", "last.ckpt"]
    best = torch.load(tmp_path / "checkpoints" / "arc_tiny" / "best.ckpt", weights_only=True)
    monitor = [v for k, v in best["callbacks"].items() if "val/exact_accuracy" in k]
    assert monitor and monitor[0]["best_model_score"] is not None


def test_a_time_limit_ends_a_run_inside_its_first_epoch(make_config):
    # 500 variants of each example of 2 tasks in batches of 4: an epoch of about 1,000 steps (minutes), far
    # past a 1-second limit, which Lightning would otherwise let it finish (its min_epochs).
    cfg = make_config("experiment=arc_tiny", *TINY, "data.num_aug=500", "trainer.max_steps=-1",
                      "trainer.max_epochs=1", "trainer.max_time=00:00:00:01", "test=false")
    metrics = run(cfg)
    assert 1 <= metrics["trainer/global_step"] < 100
