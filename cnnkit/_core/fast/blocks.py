"""A small parallel map over blocks of an array's leading items, for the ops that work on
each ``(sample, channel)`` plane (pooling), each channel (batch norm) or each row (layer
norm) independently: the existing single-threaded function runs on every block, on the
worker threads of :mod:`.threads`, and the blocks' results are copied into one output.

Block boundaries come from the sizes alone (about :data:`BLOCK_BYTES` per block, the count
rounded up to a multiple of 4), so every thread count computes the same blocks and the
same bits.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable

import numpy as np

from . import threads

#: Bytes of input per block: large enough that a block's work dwarfs its Python overhead
#: (tens of microseconds for a pooling call) and the hand-offs to a thread (LeNet-5's
#: pooling and ReLU, 1.2 MB, ran slower on 2 threads in 1 MiB blocks: BENCHMARKS.md).
BLOCK_BYTES = 4 * 2**20


def split(n: int, bytes_per_item: int) -> list[tuple[int, int]]:
    """Ranges ``[a, b)`` covering ``n`` items of ``bytes_per_item`` bytes each."""
    count = -(-n * bytes_per_item // BLOCK_BYTES)
    count = 1 if count <= 1 else min(n, -(-count // 4) * 4)
    bounds = [i * n // count for i in range(count + 1)]
    return list(zip(bounds, bounds[1:]))


def map_ranges(fn: Callable[[int, int], Any], n: int, bytes_per_item: int) -> list[Any]:
    """``[fn(a, b) for (a, b) in split(n, bytes_per_item)]``, in parallel, results in block order."""
    ranges = split(n, bytes_per_item)
    return threads.run(lambda i: fn(*ranges[i]), len(ranges))


def over_planes(fn: Callable, n_split: int = 1) -> Callable:
    """``fn`` (working on each ``(sample, channel)`` plane of ``(N, C, *S)`` arrays on its own)
    run on blocks of planes in parallel. The first ``n_split`` positional arguments are split
    (they share ``N, C``); the rest is passed to every call. ``fn`` returns an array or a tuple
    of arrays (or ``None``) with the same leading ``N, C``; the blocks' results are copied
    into whole outputs."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        arrays = args[:n_split]
        lead = arrays[0].shape[:2]
        planes = lead[0] * lead[1]
        ranges = split(planes, arrays[0][:1, :1].nbytes)
        if len(ranges) == 1:
            return fn(*args, **kwargs)
        flat = [a.reshape((planes, 1) + a.shape[2:]) for a in arrays]
        outputs: list[np.ndarray | None] | None = None
        lock = threading.Lock()

        def block(i: int):
            nonlocal outputs
            a, b = ranges[i]
            result = fn(*(f[a:b] for f in flat), *args[n_split:], **kwargs)
            parts = result if isinstance(result, tuple) else (result,)
            with lock:
                if outputs is None:
                    outputs = [None if p is None else np.empty((planes,) + p.shape[1:], dtype=p.dtype) for p in parts]
            for dst, p in zip(outputs, parts):
                if p is not None:
                    dst[a:b] = p

        threads.run(block, len(ranges))
        shaped = tuple(None if o is None else o.reshape(lead + o.shape[2:]) for o in outputs)
        return shaped if len(shaped) > 1 else shaped[0]

    return wrapped
