"""Progress over the whole run, not per epoch: `step 120/800`, the loss, the rate and the time left.

Lightning's bars count batches within an epoch ("Epoch 7/-2" when a run is bounded by steps, and no
estimate of the end). This bar counts optimizer steps towards `trainer.max_steps` (or what
`max_epochs` comes to, or the time left of `max_time`), shows the epoch beside them, and gives
validation and testing bars of their own. Without a terminal (CI, `nohup`, SLURM logs) it prints one
line every `every_seconds` instead, and a line when an evaluation starts and ends.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import timedelta

import lightning as L
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.callbacks.progress import ProgressBar
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

SHOWN_METRICS = ("train/loss", "train/exact_accuracy", "train/accuracy")


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return str(timedelta(seconds=int(seconds)))


class StepProgress(ProgressBar):
    def __init__(self, every_seconds: float = 10.0, terminal: bool | None = None):
        """every_seconds: without a terminal, a line this often. terminal: draw a live bar (None: when
        stdout is a terminal)."""
        super().__init__()
        self.every_seconds = every_seconds
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self._enabled = True
        self._bar: Progress | None = None
        self._task = None
        self._eval_task = None
        self._started_at = self._last_line = 0.0
        self._first_step = 0

    # --- Lightning's ProgressBar interface ---------------------------------------------------------
    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def print(self, *args, **kwargs) -> None:
        (self._bar.console.print if self._bar is not None else print)(*args, **kwargs)

    # --- what the run has done and has left --------------------------------------------------------
    def total_steps(self, trainer: L.Trainer) -> int | None:
        total = trainer.estimated_stepping_batches
        return int(total) if math.isfinite(total) and total > 0 else None

    def seconds_left(self, trainer: L.Trainer) -> float | None:
        done = trainer.global_step - self._first_step
        elapsed = time.monotonic() - self._started_at
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        by_time = timer.time_remaining("train") if timer is not None else None
        total = self.total_steps(trainer)
        by_steps = (total - trainer.global_step) * elapsed / done if total and done > 0 else None
        known = [s for s in (by_time, by_steps) if s is not None]
        return min(known) if known else None

    def metrics_text(self, trainer: L.Trainer) -> str:
        shown = []
        for key in SHOWN_METRICS:
            value = trainer.progress_bar_metrics.get(key)
            if value is not None:
                shown.append(f"{key.split('/')[-1]} {float(value):.4g}")
        return "  ".join(shown)

    def status_line(self, trainer: L.Trainer) -> str:
        total = self.total_steps(trainer)
        step = trainer.global_step
        done = f"step {step}/{total} ({100 * step / total:.0f}%)" if total else f"step {step}"
        rate = (step - self._first_step) / max(time.monotonic() - self._started_at, 1e-9)
        return (f"{done}  epoch {trainer.current_epoch}  {self.metrics_text(trainer)}  {rate:.2f} steps/s"
                f"  ETA {clock(self.seconds_left(trainer))}")

    # --- training ----------------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._enabled:
            return
        self._started_at = self._last_line = time.monotonic()
        self._first_step = trainer.global_step
        if self.terminal:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[info]}"), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.total_steps(trainer),
                                            completed=trainer.global_step, info="")
        else:
            total = self.total_steps(trainer)
            print(f"training: step {trainer.global_step} of {total or 'a time budget'}; a line every"
                  f" {self.every_seconds:g} s", flush=True)

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            info = f"epoch {trainer.current_epoch}  {self.metrics_text(trainer)}"
            self._bar.update(self._task, completed=trainer.global_step, info=info)
        elif time.monotonic() - self._last_line >= self.every_seconds:
            self._last_line = time.monotonic()
            print(self.status_line(trainer), flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=trainer.global_step)
        else:
            print(self.status_line(trainer).replace("ETA 0:00:00", "done"), flush=True)
        self._stop()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._stop()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._bar is not None and self._task is not None and self._eval_task is None:
            self._bar.stop()
            self._bar = self._task = None

    # --- validation and test: a bar (or a line) of their own ---------------------------------------
    def _eval_start(self, trainer: L.Trainer, what: str, batches) -> None:
        if not self._enabled or trainer.sanity_checking:
            return
        total = int(sum(batches)) if batches and all(math.isfinite(b) for b in batches) else None
        if self.terminal:
            if self._bar is None:
                self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=True)
                self._bar.start()
            self._eval_task = self._bar.add_task(what, total=total, info="")
        else:
            self._eval_started = time.monotonic()
            if what == "testing":  # validation says something only when it is slow (see _eval_end)
                print(f"{what}: {total if total is not None else '?'} batches ...", flush=True)

    def _eval_batch(self) -> None:
        if self._bar is not None and self._eval_task is not None:
            self._bar.advance(self._eval_task)

    def _eval_end(self, what: str) -> None:
        if self._bar is not None and self._eval_task is not None:
            self._bar.remove_task(self._eval_task)
            self._eval_task = None
            if self._task is None:  # testing after training (or alone): nothing else on this bar
                self._bar.stop()
                self._bar = None
        elif not self.terminal and self._enabled:
            took = time.monotonic() - getattr(self, "_eval_started", time.monotonic())
            if what == "testing" or took >= self.every_seconds:
                print(f"{what}: done in {clock(took)}", flush=True)

    def on_validation_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "validating", trainer.num_val_batches)

    def on_validation_batch_end(self, *args, **kwargs) -> None:
        self._eval_batch()

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._eval_end("validating")

    def on_test_start(self, trainer, pl_module) -> None:
        self._eval_start(trainer, "testing", trainer.num_test_batches)

    def on_test_batch_end(self, *args, **kwargs) -> None:
        self._eval_batch()

    def on_test_end(self, trainer, pl_module) -> None:
        self._eval_end("testing")
