"""Scratch buffers of the fast engine, reused across the chunks of a call and kept per thread.

A network calls the engine with the same shapes at every step, and a fresh multi-MiB buffer
pays one page fault per 4 KiB page on first touch; so buffers up to :data:`KEEP_BYTES` are
kept between calls, one per thread, role and dtype (measurements: BENCHMARKS.md, Layers).
Each worker thread has its own pool, so concurrent tasks never share a buffer.
"""
from __future__ import annotations

import math
import threading

import numpy as np

#: Scratch buffers up to this size are kept between calls (per thread, role and dtype).
KEEP_BYTES = 8 * 2**20
_kept = threading.local()


class Scratch:
    """Reusable flat buffers (one per role) for all chunks of a call, used as a context
    manager: buffers up to :data:`KEEP_BYTES` are leased from the calling thread's pool
    on entry (so a nested call never shares one) and handed back on exit."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.bufs: dict[str, np.ndarray] = {}

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc) -> None:
        pool = _thread_pool()
        for role, buf in self.bufs.items():
            if buf.nbytes <= KEEP_BYTES:
                pool[(role, self.dtype)] = buf
        self.bufs.clear()

    def get(self, role: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised ``shape`` array of the scratch dtype for ``role``."""
        size = math.prod(shape)
        buf = self.bufs.get(role)
        if buf is None or buf.size < size:
            buf = _thread_pool().pop((role, self.dtype), None)
            if buf is None or buf.size < size:
                buf = np.empty(size, dtype=self.dtype)
            self.bufs[role] = buf
        return buf[:size].reshape(shape)


def _thread_pool() -> dict:
    pool = getattr(_kept, "bufs", None)
    if pool is None:
        pool = _kept.bufs = {}
    return pool
