"""A run does what its command says: the same command resumes or says it is done, a changed setting makes
a new run beside the old one, and a larger step budget continues the run exactly."""

import pytest
import torch

from tests.conftest import TINY, run_train
from tests.hostile.forge import snapshot, unchanged

ARGS = ["experiment=arc_tiny", *TINY, "test=false"]


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_same_command_finished_changed_setting_new_run_killed_run_resumes(tmp_path):
    first = run_train([*ARGS, "trainer.max_steps=3"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    base = tmp_path / "checkpoints" / "arc_tiny"
    done = snapshot(base)

    again = run_train([*ARGS, "trainer.max_steps=3"], tmp_path)
    assert again.returncode == 0 and "finished earlier: this run trained 3 steps; nothing to train" in again.stdout
    assert "step 1/" not in again.stdout  # nothing trained

    changed = run_train([*ARGS, "trainer.max_steps=3", "model.optimizer.lr=3e-4", "crash_at_step=2"], tmp_path)
    assert changed.returncode == -9  # killed after 2 steps
    (own,) = [p for p in base.parent.iterdir() if p.name.startswith("arc_tiny-")]
    assert f"new run in {own}: its settings differ from {base}'s in model.optimizer.lr: 0.001 -> 0.0003" \
        in changed.stdout
    assert not unchanged(done, snapshot(base))  # the earlier run is left as it was

    resumed = run_train([*ARGS, "trainer.max_steps=3", "model.optimizer.lr=3e-4"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {own / 'last.ckpt'} (step 2, epoch 0)" in resumed.stdout
    assert "new run" not in resumed.stdout
    assert torch.load(own / "last.ckpt", weights_only=True)["global_step"] == 3

    # evaluating under other settings trains nothing, so it makes no run: it evaluates the experiment's own
    runs = sorted(base.parent.iterdir())
    evaluated = run_train([*ARGS, "train=false", "data.seed=5"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"evaluating {base / 'last.ckpt'} (step 3, epoch 0)" in evaluated.stdout
    assert "new run" not in evaluated.stdout and sorted(base.parent.iterdir()) == runs


@pytest.mark.parametrize("budget, first, then", [("trainer.max_steps", 4, 8), ("trainer.max_epochs", 1, 2)])
def test_a_larger_budget_continues_exactly_across_an_epoch_boundary(tmp_path, budget, first, then):
    # debug=tiny's ARC: 6 batches an epoch; 4 steps then 4 more cross its end, as 1 epoch then 2 do.
    bounded = [*ARGS, "trainer.max_steps=-1"] if budget == "trainer.max_epochs" else ARGS
    straight = run_train([*bounded, f"{budget}={then}"], tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    for size in (first, then):
        result = run_train([*bounded, f"{budget}={size}"], tmp_path / "extended")
        assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming from" in result.stdout and "new run" not in result.stdout
    expected = weights(tmp_path / "straight" / "checkpoints" / "arc_tiny" / "last.ckpt")
    got = weights(tmp_path / "extended" / "checkpoints" / "arc_tiny" / "last.ckpt")
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
