"""A training progress bar: tqdm when installed, else a plain stderr line.

Shows the running loss and accuracy, samples per second and the time left in
the epoch. The plain fallback rewrites one line at most every
``min_interval`` seconds (and always at the end).
"""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 3600:
        return f"{seconds // 60:d}:{seconds % 60:02d}"
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``Progress(total, desc)``; ``update(n, loss=, accuracy=)`` after each batch of ``n`` samples; ``close()``.

    ``unit`` names what is counted (``"sample"``; the lab counts ``"run"``s); ``leave`` keeps
    the finished tqdm bar on screen."""

    def __init__(self, total: int, desc: str = "", enabled: bool = True, initial: int = 0,
                 stream=None, min_interval: float = 0.5, unit: str = "sample", leave: bool = False):
        self.total, self.desc, self.enabled, self.unit = total, desc, enabled, unit
        self.done = self.start_done = initial
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval, self.start, self.last_print = min_interval, time.perf_counter(), 0.0
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit == "sample",
                                leave=leave, file=self.stream, dynamic_ncols=True)

    @property
    def rate(self) -> float:
        """Samples per second since this bar started."""
        elapsed = time.perf_counter() - self.start
        return (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0

    def update(self, n: int, loss: float | None = None, accuracy: float | None = None) -> None:
        self.done += n
        if not self.enabled:
            return
        stats = {}
        if loss is not None:
            stats["loss"] = f"{loss:.4f}"
        if accuracy is not None:
            stats["acc"] = f"{100 * accuracy:.2f}%"
        if self.bar is not None:
            self.bar.set_postfix(stats, refresh=False)
            self.bar.update(n)
            return
        now = time.perf_counter()
        if now - self.last_print < self.min_interval and self.done < self.total:
            return
        self.last_print = now
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        text = " ".join(f"{k} {v}" for k, v in stats.items())
        shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.2f}"  # runs take seconds, samples microseconds
        self.stream.write(f"\r{self.desc} {self.done}/{self.total} {text} {shown} {self.unit}s/s ETA {_clock(eta)}  ")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self.stream.write("\n")
            self.stream.flush()
