"""A failure is a failure: a run that cannot write, or whose training diverges, exits non-zero with one
line, and the last good checkpoint stays as it was."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest
import torch

from hrm.callbacks import StopOnNonFinite
from hrm.errors import TrainingDiverged
from hrm.utils.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError
from hrm.utils.checkpoints import read_checkpoint
from tests.conftest import ROOT, TINY, run_train
from tests.hostile.forge import refusal, snapshot, unchanged

EVERY_STEP = ["callbacks.last.every_n_train_steps=1"]


def test_a_checkpoint_dir_that_cannot_be_made_stops_the_run_before_training(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "arc_tiny").write_text("a file where the checkpoint dir should be")
    before = snapshot(tmp_path)
    refusal(run_train(["experiment=arc_tiny", *TINY], tmp_path), "checkpoints/arc_tiny", "cannot write checkpoints")
    assert not unchanged(before, snapshot(tmp_path))


def test_a_run_dir_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "blocked").write_text("a file")
    refusal(run_train(["experiment=arc_tiny", *TINY, f"hydra.run.dir={tmp_path}/blocked/run"], tmp_path), "blocked")


def small_disk():
    """In the child: files may grow to 300 kB (writes past it fail with EFBIG, as on a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_full_disk_fails_the_run_and_keeps_the_last_checkpoint(tmp_path):
    first = run_train(["experiment=arc_tiny", *TINY, "trainer.max_steps=2"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    last = tmp_path / "checkpoints" / "arc_tiny" / "last.ckpt"
    before = snapshot(tmp_path / "checkpoints")
    env = dict(os.environ, HRM_ROOT=str(tmp_path), WANDB_SILENT="true")
    result = subprocess.run([sys.executable, "train.py", "experiment=arc_tiny", *TINY, "trainer.max_steps=4",
                             "resume=true", *EVERY_STEP], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300, preexec_fn=small_disk)
    refusal(result, "last.ckpt", "cannot write the checkpoint", "File too large")
    assert not unchanged(before, snapshot(tmp_path / "checkpoints"))
    assert read_checkpoint(last)["global_step"] == 2
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]  # no half-written leftovers


def test_a_diverging_run_stops_at_once_and_never_saves_non_finite_weights(tmp_path):
    result = run_train(["experiment=arc_tiny", *TINY, "model.optimizer.lr=1e6", "trainer.max_steps=30",
                        *EVERY_STEP], tmp_path)
    line = refusal(result, "training diverged at step", "stopped before updating the weights",
                   "the last good checkpoint is kept")
    last = read_checkpoint(tmp_path / "checkpoints" / "arc_tiny" / "last.ckpt")
    assert f"step {last['global_step']}:" in line or f"at step {last['global_step']}" in line
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point())


def test_the_checkpoint_writer_refuses_non_finite_weights_and_unwritable_places(tmp_path):
    io = AtomicCheckpointIO()
    good = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, good)
    before = good.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"step 2: w is NaN or infinite; not writing .*last.ckpt"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("nan")])}, "global_step": 2}, good)
    assert good.read_bytes() == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointWriteError, match=r"file/last.ckpt: cannot write the checkpoint"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, tmp_path / "file" / "last.ckpt")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_the_gradient_check_names_the_first_non_finite_gradient_sparse_ones_included(bad):
    module = torch.nn.Module()
    module.dense = torch.nn.Linear(3, 2)
    module.table = torch.nn.Embedding(5, 2, sparse=True)
    module.table(torch.tensor([1, 3])).sum().backward()
    module.dense.weight.grad = torch.ones(2, 3)
    StopOnNonFinite().on_before_optimizer_step(None, module, None)  # all finite: nothing happens
    module.table.weight.grad = module.table.weight.grad.coalesce()
    module.table.weight.grad._values()[1, 0] = bad
    with pytest.raises(TrainingDiverged, match="the gradient of table.weight is not finite"):
        StopOnNonFinite().on_before_optimizer_step(None, module, None)
