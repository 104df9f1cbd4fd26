"""Latency measurement shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


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
