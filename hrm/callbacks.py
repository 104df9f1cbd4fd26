"""Lightning callbacks of the framework."""

from __future__ import annotations

import os
import signal as signal_module
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from hrm.errors import TrainingDiverged
from hrm.utils.checkpoint_io import first_non_finite


class SimulatedCrash(L.Callback):
    """Kill the process with SIGKILL when `at_step` optimizer steps are done: no clean-up, no final save,
    exactly like `kill -9` or a lost node. Used to check that a resumed run continues exactly.
    With `signal="USR2"` it sends the signal SLURM sends before a preemption or time limit instead.

    It fires at the start of the next batch, so every checkpoint due at `at_step` has been written; once
    per run, and not in a run that resumes at or past `at_step` (a requeued job reruns the same command).
    """

    def __init__(self, at_step: int | None, signal: str = "KILL"):
        self.at_step = at_step  # None: never
        self.signal = getattr(signal_module, f"SIG{signal}")
        self._armed = False

    def on_train_start(self, trainer: L.Trainer, *args) -> None:
        self._armed = self.at_step is not None and trainer.global_step < self.at_step

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        if self._armed and trainer.global_step >= self.at_step:
            self._armed = False
            os.kill(os.getpid(), self.signal)


class LastCheckpoint(ModelCheckpoint):
    """`last.ckpt`, refreshed every `every_n_train_steps` optimizer steps and once more when training ends.

    Lightning's own `save_last` skips the final save when an earlier step already wrote last.ckpt, which
    would make a finished run's last.ckpt lag up to N steps behind its final weights.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int, **kwargs):
        # No last-v1.ckpt, last-v2.ckpt beside a stale last.ckpt when a rerun changes the interval: one file.
        super().__init__(dirpath=dirpath, save_last=True, save_top_k=0, every_n_train_steps=every_n_train_steps,
                         enable_version_counter=False, **kwargs)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        super().on_train_batch_end(trainer, pl_module, *args)
        # The last step of a run bounded by max_steps is saved here, mid-epoch as it is: saved at
        # on_train_end, the loops would already count the epoch as done, and a run extended to more
        # steps would skip the rest of that epoch.
        if 0 < trainer.max_steps <= trainer.global_step and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def diverged(trainer: L.Trainer | None, what: str) -> TrainingDiverged:
    """The error that stops a run whose loss, gradients or weights stopped being finite: names the step and
    what went wrong, and says which checkpoint is the last good one."""
    step = trainer.global_step if trainer is not None else "?"
    saved = [Path(c.dirpath) / "last.ckpt" for c in (trainer.checkpoint_callbacks if trainer else [])
             if getattr(c, "dirpath", None)]
    good = next((str(path) for path in saved if path.is_file()), None)
    kept = f"the last good checkpoint is kept: {good}" if good else "no checkpoint was written before it"
    return TrainingDiverged(f"training diverged at step {step}: {what}; stopped before updating the weights;"
                            f" {kept} (lower model.optimizer.lr?)")


class StopOnNonFinite(L.Callback):
    """Stops any training run at the first NaN or infinite loss or gradient, before the optimizer uses it,
    so the weights (and every checkpoint written after) stay finite. The checkpoint writer refuses
    non-finite weights too (`hrm.utils.checkpoint_io`)."""

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if not bool(torch.isfinite(loss.detach()).all()):
            raise diverged(trainer, f"the loss is {loss.detach().float().flatten()[0].item()}")

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        grads = {name: param.grad for name, param in pl_module.named_parameters() if param.grad is not None}
        bad = first_non_finite(grads)  # the same check the checkpoint writer makes of the weights
        if bad is not None:
            raise diverged(trainer, f"the gradient of {bad} is not finite")


class LoopStarted(L.Callback):
    """Whether the training or test loop began. Lightning restores a checkpoint (weights, optimizer,
    schedules, loops, callbacks' states) before that, so a failure before it, in a run given a checkpoint,
    is the checkpoint's (`hrm.training.restoring`)."""

    def __init__(self):
        self.started = False

    def on_train_start(self, *args) -> None:
        self.started = True

    def on_test_start(self, *args) -> None:
        self.started = True
