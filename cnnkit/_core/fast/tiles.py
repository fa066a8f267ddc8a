"""Cutting one convolution into independent tiles, from its sizes alone.

A tile is a block of samples ``[n0, n1)`` and of rows ``[r0, r1)`` along the first spatial
axis of what it writes (the output of a convolution; the input gradient ``gx`` of its
transposed direction). Each tile is itself a small convolution of a *window* of the input
with its own padding, so tiles run on different threads with no communication; a tile's
window and padding follow from the output-size rule of :mod:`cnnkit._core.window`:

* forward (and weight gradient): outputs ``[p0, p1)`` read padded rows
  ``[p0*s, (p1-1)*s + (k-1)*d + 1)``, i.e. input rows ``[p0*s - lo, ...)`` clipped to the
  input, the clipped part becoming the tile's padding;
* transposed: ``gx`` rows ``[u0, u1)`` receive ``y`` rows ``p`` with ``p*s + k*d = u + lo``,
  ``p`` in ``[floor((u0 + lo - (k-1)*d) / s), floor((u1 - 1 + lo) / s)]`` (clipped to ``y``);
  the tile's padding is ``lo' = u0 + lo - p0*s >= 0``, and ``hi'`` is what lets the tile's
  ``y`` rows fit.

How many tiles: the work of a tile is measured by the bytes of the column matrix it builds,
about :data:`TILE_BYTES` each, the count rounded up to a multiple of 4 (so 2 or 4 threads get
equal shares), samples first, then rows of one sample. The thread count plays no part, so
every thread count computes the same tiles, and the same bits.
"""
from __future__ import annotations

from typing import NamedTuple

from ..window import Pads

#: Bytes of column matrix per tile: the column budget of one band (sized for the caches).
#: Smaller tiles of a small problem cost more in hand-offs (a region's wake-up and join, and
#: every NumPy call of a task may wait for the GIL) than they gain: LeNet-5's convolutions ran
#: fastest on 2 threads as 4 tiles of ~1.4 MB, slower as 8 (BENCHMARKS.md).
TILE_BYTES = 4 * 2**20


class Tile(NamedTuple):
    """Samples ``[n0, n1)`` and rows ``[r0, r1)`` (first spatial axis) of the written array."""

    n0: int
    n1: int
    r0: int
    r1: int


def tile_count(total_bytes: int) -> int:
    """Number of tiles for ``total_bytes`` of column matrix (see the module docstring)."""
    count = -(-total_bytes // max(TILE_BYTES, 1))
    return 1 if count <= 1 else -(-count // 4) * 4


def split(n_batch: int, rows: int, bytes_per_row: int, max_tiles: int | None = None) -> list[Tile]:
    """Tiles covering ``n_batch`` samples of ``rows`` rows, each row costing ``bytes_per_row``;
    ``max_tiles`` caps the count (e.g. the weight gradient's partial sums)."""
    count = tile_count(n_batch * rows * bytes_per_row)
    if max_tiles is not None:
        count = max(1, min(count, max_tiles))
    if count <= n_batch:  # blocks of whole samples, sizes within one sample of each other
        bounds = [i * n_batch // count for i in range(count + 1)]
        return [Tile(a, b, 0, rows) for a, b in zip(bounds, bounds[1:])]
    per_sample = min(-(-count // n_batch), rows)
    bounds = [j * rows // per_sample for j in range(per_sample + 1)]
    return [Tile(n, n + 1, a, b) for n in range(n_batch) for a, b in zip(bounds, bounds[1:])]


def forward_window(p0: int, p1: int, size: int, k: int, s: int, d: int, pad: tuple[int, int]):
    """Input rows ``[i0, i1)`` and padding ``(lo', hi')`` of the outputs ``[p0, p1)`` of one axis
    (``size`` input rows, kernel ``k``, stride ``s``, dilation ``d``, padding ``pad``)."""
    start = p0 * s - pad[0]
    stop = (p1 - 1) * s + (k - 1) * d + 1 - pad[0]
    i0 = min(max(start, 0), size)
    i1 = max(min(stop, size), i0)  # an empty window when the outputs read only padding
    return i0, i1, (i0 - start, stop - i1)


def transpose_window(u0: int, u1: int, y_rows: int, k: int, s: int, d: int, pad: tuple[int, int]):
    """``y`` rows ``[p0, p1)`` and padding ``(lo', hi')`` that give the transposed convolution's
    rows ``[u0, u1)`` of one axis (``y_rows`` rows of ``y``); ``p1 <= p0`` when no ``y`` row
    reaches them."""
    lo = pad[0]
    p0 = max(0, (u0 + lo - (k - 1) * d) // s)
    p1 = min(y_rows, (u1 - 1 + lo) // s + 1)
    pad_lo = u0 + lo - p0 * s
    pad_hi = max(0, (p1 - 1 - p0) * s + (k - 1) * d + 1 - (u1 - u0) - pad_lo)
    return p0, p1, (pad_lo, pad_hi)


def with_first(pads: Pads, first: tuple[int, int]) -> Pads:
    """``pads`` with the first axis' pair replaced."""
    return (tuple(first),) + tuple(pads[1:])
