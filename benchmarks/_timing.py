"""The timing loop the benchmark scripts share (run them as ``python3 benchmarks/<script>.py``)."""
from __future__ import annotations

import time


def mean_seconds_per_call(fn, min_time: float, cooldown_s: float = 0.0) -> float:
    """One measurement: mean seconds per call over at least ``min_time`` seconds (after a warm-up call).

    ``cooldown_s`` is a pause before the warm-up: after a call, OpenBLAS's idle worker
    threads keep spinning (yielding) for up to ~0.1 s and PyTorch's OpenMP threads for a
    while too; measured straight after the other library they steal the cores.
    """
    if cooldown_s > 0:
        time.sleep(cooldown_s)
    fn()  # warm-up (allocations, caches)
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / n
