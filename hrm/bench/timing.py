"""Latency measurement shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import lightning as L

from hrm.utils.io import atomic_write_json


def median_ms(call: Callable[[Any], Any], inputs: list, warmup: int = 1) -> float:
    """Median wall time of `call(x)` over `inputs`, in milliseconds, after `warmup` untimed calls."""
    for x in inputs[:warmup]:
        call(x)
    times = []
    for x in inputs:
        start = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


class ValidationTimeline(L.Callback):
    """Records {epoch, seconds since fit start, value of `metric`} at every validation, into a JSON file."""

    def __init__(self, path: str, metric: str = "val/accuracy"):
        self.path, self.metric, self.rows, self.start = Path(path), metric, [], None

    def on_fit_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        value = trainer.callback_metrics.get(self.metric)
        if value is not None and not trainer.sanity_checking:
            self.rows.append({"epoch": trainer.current_epoch, "seconds": time.perf_counter() - self.start,
                              "value": float(value)})
            atomic_write_json(self.path, self.rows)
