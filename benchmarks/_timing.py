"""The timing loop the benchmark workers share."""
from __future__ import annotations

import time


def mean_seconds_per_call(fn, min_time: float, warmup: bool = True) -> float:
    """One measurement: mean seconds per call over at least ``min_time`` seconds (at least one
    call), after a warm-up call (allocations, caches) unless ``warmup`` is false."""
    if warmup:
        fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / n
