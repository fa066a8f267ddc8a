"""N-d pooling on NumPy arrays: max (with its argmax), mean, adaptive mean and
adaptive max, each with its backward. No autograd here;
:mod:`cnnkit.functional.pool` wraps these.

Arrays are ``(N, C, *S)``. Windows follow :mod:`cnnkit._core.window`: kernel
position ``k`` of output position ``o`` reads padded input position
``o * stride + k * dilation``; every kernel position is one strided slice
(:func:`~cnnkit._core.window.offset_slices`), so the reductions are a running
maximum / sum over the ``prod(kernel)`` slices: no im2col copy, no fancy indexing.
(Reducing :func:`~cnnkit._core.window.window_view` over its kernel axes gives the
same values but is ~40x slower in NumPy, whose reductions over tiny strided inner
axes are slow; the running form reads each slice once with contiguous inner loops.)

Output size (PyTorch's ``pooling_output_shape``), per axis::

    out = floor_or_ceil((in + 2 * pad - dilation * (k - 1) - 1) / stride) + 1

and with ``ceil_mode`` the last window must start inside the input or the left
padding: when ``(out - 1) * stride >= in + pad``, ``out`` drops by one.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .window import Pads, crop, kernel_offsets, offset_slices, pad

# ----------------------------------------------------------------- geometry


def pool_output_shape(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> tuple[int, ...]:
    """PyTorch's pooling output size (see module docstring); ``ValueError`` when
    some axis would have no output."""
    out = []
    for i, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        num = i + 2 * p - span + ((s - 1) if ceil_mode else 0)
        o = num // s + 1  # floor division rounds toward -inf, as torch's div_rtn
        if ceil_mode and (o - 1) * s >= i + p:
            o -= 1
        out.append(o)
    if any(o < 1 for o in out):
        raise ValueError(
            f"pooling output size {tuple(out)} is too small: input {tuple(spatial)}, kernel_size {tuple(kernel)}, "
            f"stride {tuple(stride)}, padding {tuple(padding)}, dilation {tuple(dilation)}"
        )
    return tuple(out)


def window_pads(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                dilation: Sequence[int], out_shape: Sequence[int]) -> Pads:
    """``(before, after)`` per axis so that every window lies inside the padded
    array: ``before = padding``; ``after`` is what the last window reaches past the
    input (more than ``padding`` in ``ceil_mode``, possibly less, never negative)."""
    return tuple((p, max(0, (o - 1) * s + (k - 1) * d + 1 - i - p))
                 for i, k, s, p, d, o in zip(spatial, kernel, stride, padding, dilation, out_shape))


def non_overlapping(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> bool:
    """True when no input position belongs to two windows (then backward may
    assign instead of accumulate)."""
    return all(s >= (k - 1) * d + 1 for k, s, d in zip(kernel, stride, dilation))


def _slices(kernel, stride, dilation, out_shape):
    """``(flat kernel index, strided slice tuple)`` for every kernel position, row-major."""
    return [(i, (Ellipsis,) + offset_slices(off, out_shape, stride, dilation))
            for i, off in enumerate(kernel_offsets(kernel))]


# ------------------------------------------------------------------ max pool


def max_pool_forward(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], pads: Pads,
                     dilation: Sequence[int], out_shape: Sequence[int], with_argmax: bool):
    """Maximum over each window of ``x`` padded with ``-inf``.

    Returns ``(out, argmax)``; ``argmax`` (only when ``with_argmax``) holds, per
    output position, the row-major kernel position of the window's FIRST maximum
    (PyTorch's rule; a NaN wins, as in PyTorch, where the last NaN of the window
    is reported; a window whose input cells are all ``-inf`` reports its first
    input cell, never the padding), as ``uint8`` when the kernel has at most 256 positions.
    """
    xp = pad(x, pads, value=-np.inf)
    slices = _slices(kernel, stride, dilation, out_shape)
    out = np.array(xp[slices[0][1]], copy=True)
    for _, sl in slices[1:]:
        np.maximum(out, xp[sl], out=out)
    if not with_argmax:
        return out, None
    kk = len(slices)
    arg = np.zeros(out.shape, dtype=np.uint8 if kk <= 256 else np.intp)
    claimed = np.zeros(out.shape, dtype=bool)  # windows whose first maximum is already found
    eq = np.empty(out.shape, dtype=bool)
    first = np.empty(out.shape, dtype=bool)
    for i, sl in slices:
        np.equal(xp[sl], out, out=eq)
        np.greater(eq, claimed, out=first)  # eq and not claimed
        claimed |= eq
        if i:  # arithmetic instead of a masked store: much faster on random masks
            arg += first.view(np.uint8) * arg.dtype.type(i)
    if any(lo or hi for lo, hi in pads):
        _first_input_cell(arg, out, x.shape[2:], pads, slices)
    nan_out = np.isnan(out)
    if nan_out.any():  # PyTorch reports the last NaN of a window
        for i, sl in slices:
            arg[nan_out & np.isnan(xp[sl])] = i
    return out, arg


def _first_input_cell(arg: np.ndarray, out: np.ndarray, in_spatial: Sequence[int], pads: Pads, slices) -> None:
    """A window whose input cells are all ``-inf`` has its maximum ``-inf`` in the
    padding too; point its argmax at its first cell inside the input (PyTorch's
    index), so that the index is valid and the gradient is not lost in the padding."""
    pending = np.isneginf(out)
    if not pending.any():
        return
    inside = pad(np.ones(tuple(in_spatial), dtype=bool), pads, value=False)
    for i, sl in slices:
        hit = pending & inside[sl]
        arg[hit] = i
        pending &= ~hit


def max_pool_backward(g: np.ndarray, arg: np.ndarray, in_spatial: Sequence[int], kernel: Sequence[int],
                      stride: Sequence[int], pads: Pads, dilation: Sequence[int]) -> np.ndarray:
    """Route each upstream gradient to its window's argmax; overlapping windows
    accumulate. One strided-slice update per kernel position."""
    out_shape = g.shape[2:]
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_spatial, pads))
    gxp = np.zeros(g.shape[:2] + padded, dtype=g.dtype)
    mask = np.empty(arg.shape, dtype=bool)
    assign = non_overlapping(kernel, stride, dilation)
    tmp = None if assign else np.empty_like(g)
    for i, sl in _slices(kernel, stride, dilation, out_shape):
        np.equal(arg, i, out=mask)
        if assign:
            np.multiply(g, mask, out=gxp[sl])
        else:
            np.multiply(g, mask, out=tmp)
            gxp[sl] += tmp
    return np.ascontiguousarray(crop(gxp, pads))


def argmax_to_indices(arg: np.ndarray, in_spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      pads: Pads, dilation: Sequence[int]) -> np.ndarray:
    """PyTorch's ``return_indices``: the flat index, into the unpadded input's
    spatial plane, of each window's maximum (``int64``)."""
    offsets = np.unravel_index(arg.astype(np.intp), tuple(kernel))
    flat = np.zeros(arg.shape, dtype=np.int64)
    n = len(kernel)
    for axis in range(n):
        o = np.arange(arg.shape[2 + axis], dtype=np.int64).reshape((-1,) + (1,) * (n - 1 - axis))
        pos = o * stride[axis] - pads[axis][0] + offsets[axis].astype(np.int64) * dilation[axis]
        flat = flat * in_spatial[axis] + pos
    return flat


# ----------------------------------------------------------------- mean pool


def avg_divisor(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                out_shape: Sequence[int], count_include_pad: bool, divisor_override: int | None,
                dtype) -> np.ndarray | float:
    """The number each window's sum is divided by (PyTorch's rule), as a scalar
    when it is the same everywhere, else an array broadcastable to ``(N, C, *out_shape)``.

    Per axis, window ``o`` covers ``[o*s - p, min(o*s - p + k, in + p))``: with
    ``count_include_pad`` its length counts the padding (but not what
    ``ceil_mode`` adds past it), otherwise only the input positions. The divisor
    is the product of the per-axis lengths.
    """
    if divisor_override is not None:
        return float(divisor_override)
    sizes = []
    for i, k, s, p, o in zip(spatial, kernel, stride, padding, out_shape):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, i + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, i)
        sizes.append(end - start)
    if all((n == n[0]).all() for n in sizes):
        return float(math.prod(int(n[0]) for n in sizes))
    div = np.ones((), dtype=np.float64)
    for n in sizes:
        div = np.multiply.outer(div, n)
    return div.astype(dtype)


def avg_pool_forward(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], pads: Pads,
                     out_shape: Sequence[int], divisor) -> np.ndarray:
    """Sum over each window of the zero-padded ``x``, divided by ``divisor``."""
    xp = pad(x, pads)
    dilation = (1,) * len(kernel)
    slices = _slices(kernel, stride, dilation, out_shape)
    if len(slices) == 1:
        out = np.array(xp[slices[0][1]], copy=True)
    else:
        out = np.add(xp[slices[0][1]], xp[slices[1][1]])
        for _, sl in slices[2:]:
            out += xp[sl]
    if isinstance(divisor, float):
        out *= np.asarray(1.0 / divisor, dtype=out.dtype)
    else:
        out /= divisor
    return out


def avg_pool_backward(g: np.ndarray, in_spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      pads: Pads, divisor) -> np.ndarray:
    """Spread ``g / divisor`` evenly over each window (the adjoint of the forward)."""
    out_shape = g.shape[2:]
    dilation = (1,) * len(kernel)
    gs = g * np.asarray(1.0 / divisor, dtype=g.dtype) if isinstance(divisor, float) else g / divisor
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_spatial, pads))
    gxp = np.zeros(g.shape[:2] + padded, dtype=g.dtype)
    assign = non_overlapping(kernel, stride, dilation)
    for _, sl in _slices(kernel, stride, dilation, out_shape):
        if assign:
            gxp[sl] = gs
        else:
            gxp[sl] += gs
    return np.ascontiguousarray(crop(gxp, pads))


# ------------------------------------------------------------ adaptive pools


def adaptive_ranges(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows on one axis: ``[floor(o*in/out), ceil((o+1)*in/out))``."""
    o = np.arange(out)
    return (o * size) // out, -((-(o + 1) * size) // out)


def adaptive_avg_matrix(size: int, out: int, dtype) -> np.ndarray:
    """``(out, size)`` averaging matrix of one axis: row ``o`` is ``1/len`` on window ``o``."""
    start, end = adaptive_ranges(size, out)
    cols = np.arange(size)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def apply_along(x: np.ndarray, mat: np.ndarray, axis: int) -> np.ndarray:
    """``y[..., o, ...] = sum_i mat[o, i] * x[..., i, ...]`` on ``axis``."""
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(moved @ mat.T, -1, axis)


def adaptive_avg_forward(x: np.ndarray, out_shape: Sequence[int]) -> np.ndarray:
    """Mean over adaptive windows. A box mean is separable: one averaging matrix per axis."""
    y = x
    for axis, o in enumerate(out_shape):
        y = apply_along(y, adaptive_avg_matrix(x.shape[2 + axis], o, x.dtype), 2 + axis)
    return np.ascontiguousarray(y)


def adaptive_avg_backward(g: np.ndarray, in_spatial: Sequence[int]) -> np.ndarray:
    """Adjoint of :func:`adaptive_avg_forward`: the transposed matrices, in turn."""
    gx = g
    for axis, i in enumerate(in_spatial):
        gx = apply_along(gx, adaptive_avg_matrix(i, g.shape[2 + axis], g.dtype).T, 2 + axis)
    return np.ascontiguousarray(gx)


def adaptive_max_forward(x: np.ndarray, out_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Maximum over adaptive windows and the flat index (into the input's spatial
    plane, ``int64``) of each window's first maximum in row-major order (a NaN
    wins; PyTorch reports the last NaN of a window, and so do we).

    A box maximum is separable; reducing the LAST axis first and then earlier
    axes, each time keeping the first maximum, yields the row-major first one.
    The windows of one axis are gathered as an ``(out, kmax)`` index array
    (shorter windows repeat their last index, which never changes the result).
    """
    n = len(out_shape)
    vals = x
    pos: list = [None] * n  # per axis: the input coordinate each entry of ``vals`` came from
    for axis in reversed(range(n)):
        ax = 2 + axis
        start, end = adaptive_ranges(x.shape[ax], out_shape[axis])
        kmax = int((end - start).max())
        idx = np.minimum(start[:, None] + np.arange(kmax), end[:, None] - 1)  # (out, kmax)
        gathered = np.take(vals, idx, axis=ax)  # (..., out, kmax, ...)
        am = np.argmax(gathered, axis=ax + 1)
        nan = np.isnan(gathered)
        if nan.any():
            last_nan = kmax - 1 - np.argmax(np.flip(nan, axis=ax + 1), axis=ax + 1)
            am = np.where(nan.any(axis=ax + 1), last_nan, am)
        am_k = np.expand_dims(am, ax + 1)
        vals = np.take_along_axis(gathered, am_k, axis=ax + 1).squeeze(ax + 1)
        for b in range(axis + 1, n):
            pos[b] = np.take_along_axis(np.take(pos[b], idx, axis=ax), am_k, axis=ax + 1).squeeze(ax + 1)
        o_index = np.arange(out_shape[axis]).reshape((-1,) + (1,) * (vals.ndim - ax - 1))
        pos[axis] = idx[o_index, am]
    flat = np.zeros(vals.shape, dtype=np.int64)
    for axis in range(n):
        flat = flat * x.shape[2 + axis] + pos[axis]
    return np.ascontiguousarray(vals), flat


def scatter_flat(g: np.ndarray, flat: np.ndarray, in_spatial: Sequence[int]) -> np.ndarray:
    """Add ``g[n, c, o]`` into ``gx[n, c, flat[n, c, o]]`` (repeated indices accumulate)."""
    plane = math.prod(in_spatial)
    nc = g.shape[0] * g.shape[1]
    base = (np.arange(nc, dtype=np.int64) * plane).reshape(g.shape[:2] + (1,) * (g.ndim - 2))
    sums = np.bincount((flat + base).ravel(), weights=g.ravel(), minlength=nc * plane)
    return sums.astype(g.dtype).reshape(g.shape[:2] + tuple(in_spatial))
