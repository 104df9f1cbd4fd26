"""Lightning callbacks of the framework."""

from __future__ import annotations

import os
import signal as signal_module

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


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
        super().__init__(dirpath=dirpath, save_last=True, save_top_k=0,
                         every_n_train_steps=every_n_train_steps, **kwargs)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
