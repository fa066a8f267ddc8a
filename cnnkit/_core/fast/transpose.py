"""The fast engine's transposed convolution (the adjoint of :func:`.conv.conv_nd` in ``x``:
the input gradient of a convolution and the forward of ``ConvTranspose``).

Two exact algorithms, picked per geometry by a cost model of the memory traffic
(:func:`choose`):

* *scatter* (col2im, the adjoint of the forward's gather): ``gcol = Wᵀ @ y_grid`` per group
  ``(C/g*K, O/g) @ (O/g, m)``, then one contiguous ``+=`` per kernel offset into the phase
  images, un-phased (and cropped) at the end. Tiles over ``gx`` (:mod:`.tiles`) are
  independent: each reads the window of ``y`` that reaches it.
* *phases* (sub-pixel decomposition): ``gx[..., r::stride]`` is a stride-1 convolution of
  ``y`` with the taps of phase ``r``, flipped, in/out channels swapped; each element is
  written once. The tiles of every phase's convolution run in one parallel region.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Sequence

import numpy as np

from ..window import Pads
from . import threads, tiles
from .conv import _bands, _batch_chunks, _ints, forward_tasks
from .grid import PhaseGrid, phase_grid
from .scratch import Scratch

#: Relative cost of one multiply-add inside a GEMM and of one array element
#: moved by a NumPy copy/ufunc pass (BLAS is about 30x faster per element).
MAC_COST, ELEMENT_COST = 1 / 30, 1.0


# ---------------------------------------------------------------- cost model
def scatter_cost(grid: PhaseGrid, out_ch: int, channels: int, groups: int) -> float:
    """Per-sample cost of the scatter algorithm: GEMM ``(C*K, M)``, one ``+=`` (three
    element accesses) per offset, placing ``y`` and un-phasing."""
    kk, m = len(grid.taps), grid.span
    og = out_ch // groups
    product = channels * kk * m * (og * MAC_COST if og > 1 else 2 * ELEMENT_COST)
    return product + ELEMENT_COST * (3 * channels * kk * m + out_ch * m + 2 * channels * grid.positions * len(grid.phases))


def phases_cost(phases, out_ch: int, channels: int, groups: int) -> float:
    """Per-sample cost of the phases algorithm: per phase, an im2col copy of ``O * K_r`` rows
    and a GEMM ``(C/g, O/g*K_r) @ (O/g*K_r, M_r)``."""
    cost = 0.0
    cg = channels // groups
    for phase in phases:
        if phase is None:
            continue
        taps = math.prod(len(a[1]) for a in phase)
        m = math.prod(a[3] - a[2] for a in phase)  # grid of the padded y slice
        product = out_ch * taps * m * (cg * MAC_COST if cg > 1 else ELEMENT_COST)
        cost += product + ELEMENT_COST * (2 * out_ch * taps * m + 2 * out_ch * m + channels * m)
    return cost


def _phase_taps(size_in: int, size_out: int, k: int, s: int, d: int, lo: int, r: int):
    """The stride-1 convolution that gives phase ``r`` along one axis of a transposed convolution.

    Positions ``u = r + t*s`` (``0 <= t < count``) of the unpadded input receive
    ``y[t - b_k]`` through tap ``k`` whenever ``k*d - r - lo = b_k*s``. Returns
    ``(count, taps, y_start, y_stop, sub_dilation)``: ``taps`` in *reversed* order
    (a correlation with the flipped kernel; ``y`` is zero outside ``[0, size_out)``;
    ``[y_start, y_stop)`` is the range read), or ``None`` when the phase receives nothing.
    """
    count = -(-(size_in - r) // s)
    taps = [t for t in range(k) if (t * d - r - lo) % s == 0]
    if count <= 0 or not taps:
        return None
    b = [(t * d - r - lo) // s for t in taps]
    y_start, y_stop = -b[-1], count - b[0]
    if y_start >= size_out or y_stop <= 0:
        return None  # every tap reads outside y
    return count, taps[::-1], y_start, y_stop, d // math.gcd(s, d)


@functools.lru_cache(maxsize=512)
def phase_convs(in_shape, out_shape, kernel, stride, dilation, pads):
    """Per stride phase (row-major), the per-axis :func:`_phase_taps`, or ``None`` if the phase is zero
    (cached per geometry; all arguments are tuples)."""
    result = []
    for phase in itertools.product(*(range(s) for s in stride)):
        axes = [_phase_taps(i, o, k, s, d, lo, r)
                for i, o, k, s, d, (lo, _), r in zip(in_shape, out_shape, kernel, stride, dilation, pads, phase)]
        result.append(None if any(a is None for a in axes) else tuple(axes))
    return tuple(result)


@functools.lru_cache(maxsize=512)
def _choose(in_shape, out_shape, kernel, stride, dilation, pads, out_ch, channels, groups) -> str:
    grid = phase_grid(in_shape, kernel, stride, dilation, pads, out_shape=out_shape)
    phases = phase_convs(in_shape, out_shape, kernel, stride, dilation, pads)
    by_phases = phases_cost(phases, out_ch, channels, groups) < scatter_cost(grid, out_ch, channels, groups)
    return "phases" if by_phases else "scatter"


def choose(in_shape, out_shape, kernel, stride, dilation, pads, out_ch: int, channels: int, groups: int) -> str:
    """``"phases"`` or ``"scatter"``, whichever the cost model expects to be cheaper (cached)."""
    return _choose(_ints(in_shape), _ints(out_shape), _ints(kernel), _ints(stride), _ints(dilation),
                   tuple(_ints(p) for p in pads), int(out_ch), int(channels), int(groups))


# ---------------------------------------------------------------- entry point
def conv_transpose_nd(y: np.ndarray, w: np.ndarray, in_shape: Sequence[int], stride: Sequence[int],
                      pads: Pads, dilation: Sequence[int], groups: int,
                      bias: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of :func:`.conv.conv_nd` in ``x``: ``(N, O, *Out)`` -> ``(N, C, *in_shape)``,
    plus ``bias`` ``(C,)`` (see :func:`cnnkit._core.conv_reference.conv_transpose_nd`)."""
    kernel = tuple(w.shape[2:])
    channels = w.shape[1] * groups
    algorithm = choose(in_shape, y.shape[2:], kernel, stride, dilation, pads, y.shape[1], channels, groups)
    if algorithm == "phases":
        return _by_phases(y, w, in_shape, stride, pads, dilation, groups, bias)
    return _by_scatter(y, w, in_shape, stride, pads, dilation, groups, bias)


# ---------------------------------------------------------------- phases
def _by_phases(y, w, in_shape, stride, pads, dilation, groups, bias):
    """``gx[..., r::stride]`` is a stride-1 convolution of ``y`` with the taps of phase ``r``,
    flipped, in/out channels swapped; all phases' tiles in one parallel region."""
    n_batch, out_ch = y.shape[:2]
    cg = w.shape[1]
    kernel = tuple(w.shape[2:])
    channels = cg * groups
    og = out_ch // groups
    n_sp = len(kernel)
    phases = phase_convs(_ints(in_shape), _ints(y.shape[2:]), kernel, _ints(stride), _ints(dilation),
                         tuple(_ints(p) for p in pads))
    gx = np.empty((n_batch, channels) + tuple(in_shape), dtype=y.dtype)
    # weight of the phase convolutions: input channels O (of y), output channels C
    w_swapped = w.reshape((groups, og, cg) + kernel).swapaxes(1, 2).reshape((channels, og) + kernel)
    tasks = []
    for phase, axes in zip(itertools.product(*(range(s) for s in stride)), phases):
        dst = gx[(slice(None), slice(None)) + tuple(slice(r, None, s) for r, s in zip(phase, stride))]
        if dst.size == 0:
            continue
        if axes is None:
            dst[...] = 0 if bias is None else bias.reshape((channels,) + (1,) * n_sp)
            continue
        w_phase = np.ascontiguousarray(w_swapped[np.ix_(range(channels), range(og), *(a[1] for a in axes))])
        crop = tuple(slice(max(a[2], 0), min(a[3], o)) for a, o in zip(axes, y.shape[2:]))
        phase_pads = tuple((max(-a[2], 0), max(a[3] - o, 0)) for a, o in zip(axes, y.shape[2:]))
        tasks += forward_tasks(y[(slice(None), slice(None)) + crop], w_phase, (1,) * n_sp, phase_pads,
                               tuple(a[4] for a in axes), groups, dst, bias)
    threads.run_tasks(tasks)  # the phases write disjoint elements: one parallel region
    return gx


# ---------------------------------------------------------------- scatter
@functools.lru_cache(maxsize=512)
def _scatter_plan(n_batch, in_shape, out_shape, kernel, stride, dilation, pads, channels, itemsize, tile_bytes):
    """Tiles of ``gx`` for the scatter algorithm: ``(gx index, y index, grid or None)``; ``None``
    when no row of ``y`` reaches the tile."""
    full = phase_grid(in_shape, kernel, stride, dilation, pads, out_shape=out_shape)
    bytes_per_row = channels * math.prod(kernel) * itemsize * full.row_len * max(1, out_shape[0]) // in_shape[0]
    plan = []
    for t in tiles.split(n_batch, in_shape[0], bytes_per_row):
        if (t.r0, t.r1) == (0, in_shape[0]):
            p0, p1, grid = 0, out_shape[0], full
        else:
            p0, p1, first = tiles.transpose_window(t.r0, t.r1, out_shape[0], kernel[0], stride[0], dilation[0],
                                                   pads[0])
            grid = None if p1 <= p0 else phase_grid(
                (t.r1 - t.r0,) + in_shape[1:], kernel, stride, dilation, tiles.with_first(pads, first),
                out_shape=(p1 - p0,) + out_shape[1:])
        plan.append(((slice(t.n0, t.n1), slice(None), slice(t.r0, t.r1)),
                     (slice(t.n0, t.n1), slice(None), slice(p0, max(p0, p1))), grid))
    return tuple(plan)


def _scatter_tile(y, w_t, grid: PhaseGrid | None, gx, bias) -> None:
    """One tile, single-threaded: ``gx`` ``(nb, C, *S_t)`` from ``y`` ``(nb, O, *Out_t)``."""
    if grid is None:
        gx[...] = 0 if bias is None else bias
        return
    groups, ckk, og = w_t.shape
    n_batch, out_ch = y.shape[:2]
    channels = gx.shape[1]
    kk = len(grid.taps)
    with Scratch(y.dtype) as scratch:
        for c0, c1 in _batch_chunks(n_batch, grid.image_bytes(channels, y.itemsize)):
            nb = c1 - c0
            img = scratch.get("grid", grid.image_shape(channels, nb))
            img[...] = 0
            for n0, n1, m0, m1 in _bands(grid, nb, channels * kk * y.itemsize):
                ys = grid.place(y[c0 + n0:c0 + n1], scratch.get("ygrid", (out_ch, n1 - n0, m1 - m0)), m0)
                ys = ys.reshape(groups, og, -1)
                gcol_buf = scratch.get("col", (groups, ckk, ys.shape[2]))
                if og == 1:  # a contraction of length 1 (transposed depthwise): an outer product
                    gcol = np.multiply(w_t, ys, out=gcol_buf)
                else:
                    gcol = np.matmul(w_t, ys, out=gcol_buf)
                if grid.tap_strides is not None and len(grid.kernel) > 1:
                    _scatter_lattice(scratch, grid, gcol.reshape((channels,) + grid.kernel + (n1 - n0, m1 - m0)),
                                     img[0, :, n0:n1], m0)
                    continue
                gcol = gcol.reshape(channels, kk, n1 - n0, m1 - m0)
                for k, (phase, shift) in enumerate(grid.taps):
                    img[phase, :, n0:n1, m0 + shift:m1 + shift] += gcol[:, k]
            grid.unbuild(img, gx[c0:c1], bias)


def _scatter_lattice(scratch: Scratch, grid: PhaseGrid, gcol: np.ndarray, img: np.ndarray, m0: int) -> None:
    """``img[:, :, m0 + shift_k : ...] += gcol[:, *k]`` for every kernel offset ``k`` of a one-phase
    grid, whose shifts form a lattice (``shift_k = sum k_a * tap_strides[a]``): the last kernel
    axes are summed first into a longer row (``(C, K0.., nb, L + (K_a - 1) * t_a)``), one axis at
    a time, so a ``kh x kw`` kernel takes ``kh + kw`` NumPy calls instead of ``kh * kw`` (each call
    of a task may wait for the GIL). ``gcol`` ``(C, *K, nb, L)``, ``img`` ``(C, nb, P)``."""
    cur = gcol
    for a in reversed(range(1, len(grid.kernel))):
        ka, step = grid.kernel[a], grid.tap_strides[a]
        length = cur.shape[-1]
        nxt = scratch.get(f"lattice{a}", cur.shape[:1 + a] + cur.shape[2 + a:-1] + (length + (ka - 1) * step,))
        nxt[..., :length] = cur[(slice(None),) * (1 + a) + (0,)]
        nxt[..., length:] = 0
        for j in range(1, ka):
            nxt[..., j * step:j * step + length] += cur[(slice(None),) * (1 + a) + (j,)]
        cur = nxt
    length, step = cur.shape[-1], grid.tap_strides[0]
    for i in range(grid.kernel[0]):
        img[:, :, m0 + i * step:m0 + i * step + length] += cur[:, i]


def _by_scatter(y, w, in_shape, stride, pads, dilation, groups, bias):
    """col2im per tile of ``gx``; tiles read overlapping windows of ``y`` and write disjoint ``gx``."""
    n_batch, out_ch = y.shape[:2]
    cg = w.shape[1]
    kernel = tuple(w.shape[2:])
    channels = cg * groups
    og = out_ch // groups
    gx = np.empty((n_batch, channels) + tuple(in_shape), dtype=y.dtype)
    b = None if bias is None else bias.reshape((channels,) + (1,) * len(kernel))
    w_t = np.ascontiguousarray(w.reshape(groups, og, cg * math.prod(kernel)).transpose(0, 2, 1))  # (g, C/g*K, O/g)
    plan = _scatter_plan(int(n_batch), _ints(in_shape), _ints(y.shape[2:]), kernel, _ints(stride), _ints(dilation),
                         tuple(_ints(p) for p in pads), int(channels), int(y.itemsize),
                         tiles.TILE_BYTES)
    threads.run_tasks([functools.partial(_scatter_tile, y[yi], w_t, grid, gx[gi], b) for gi, yi, grid in plan])
    return gx
