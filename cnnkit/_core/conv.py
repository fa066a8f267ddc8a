"""N-d convolution on NumPy arrays: the forward / transposed pair and the
weight gradient. No autograd here; :mod:`cnnkit.functional.conv` wraps these.

Shapes (``n`` spatial axes, ``g`` groups, ``K`` the kernel shape):

* ``conv_nd``:            x ``(N, C, *S)``, w ``(O, C/g, *K)`` -> ``(N, O, *Out)``
* ``conv_transpose_nd``:  y ``(N, O, *Out)``, w ``(O, C/g, *K)`` -> ``(N, C, *S)``
  (the adjoint of ``conv_nd`` in ``x``: ``<conv_nd(x), y> = <x, conv_transpose_nd(y)>``;
  it is the input gradient of ``conv_nd`` *and* the forward of ``ConvTranspose``,
  whose PyTorch weight layout ``(in, out/g, *K)`` is exactly this ``w``)
* ``conv_weight_grad``:   x ``(N, C, *S)``, gy ``(N, O, *Out)`` -> ``(O, C/g, *K)``

Algorithm: im2col by one strided-slice copy per kernel position
(:func:`~cnnkit._core.window.gather`), then one GEMM per sample and group;
the transposed direction is the GEMM with ``wᵀ`` followed by the matching
scatter-add. Work is split into chunks of samples and of output rows so that
the column buffer stays under :data:`COL_BUDGET_BYTES` whatever the input size.
Depthwise layers (one input channel per group) skip the GEMM and multiply-add
per kernel position directly.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from .window import Pads, crop, gather, kernel_offsets, offset_slices, pad, scatter_add

#: Upper bound on the im2col scratch buffer of one chunk (bytes).
COL_BUDGET_BYTES = 48 * 2**20


def _chunks(n_batch: int, out_shape: Sequence[int], bytes_per_sample: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(n0, n1, r0, r1)``: sample range and range along the first output
    axis, so that each chunk's buffer is about ``COL_BUDGET_BYTES`` at most."""
    rows = out_shape[0] if out_shape else 1
    if bytes_per_sample <= COL_BUDGET_BYTES:
        step = max(1, COL_BUDGET_BYTES // max(bytes_per_sample, 1))
        for n0 in range(0, n_batch, step):
            yield n0, min(n0 + step, n_batch), 0, rows
        return
    per_row = max(1, bytes_per_sample // rows)
    row_step = max(1, COL_BUDGET_BYTES // per_row)
    for n0 in range(n_batch):
        for r0 in range(0, rows, row_step):
            yield n0, n0 + 1, r0, min(r0 + row_step, rows)


def _input_rows(r0: int, r1: int, kernel0: int, stride0: int, dilation0: int) -> slice:
    """Rows of the padded input that output rows ``[r0, r1)`` read."""
    return slice(r0 * stride0, (r1 - 1) * stride0 + (kernel0 - 1) * dilation0 + 1)


def conv_nd(x: np.ndarray, w: np.ndarray, stride: Sequence[int], pads: Pads, dilation: Sequence[int],
            groups: int, out_shape: Sequence[int]) -> np.ndarray:
    """Cross-correlation ``(N, C, *S)`` * ``(O, C/g, *K)`` -> ``(N, O, *out_shape)`` (no bias).

    ``out[n, o, *p] = sum_{c in group(o), k} w[o, c, *k] * xpad[n, c, *(p * stride + k * dilation)]``.
    """
    n_batch, channels = x.shape[:2]
    out_ch, cg = w.shape[:2]
    kernel = w.shape[2:]
    og = out_ch // groups
    xp = pad(x, pads)
    out = np.empty((n_batch, out_ch) + tuple(out_shape), dtype=x.dtype)
    if cg == 1:
        return _depthwise(xp, w, stride, dilation, groups, out_shape, out)
    kk = math.prod(kernel)
    w_mat = w.reshape(groups, og, cg * kk)
    per_sample = channels * kk * math.prod(out_shape) * x.itemsize
    for n0, n1, r0, r1 in _chunks(n_batch, out_shape, per_sample):
        sub = (r1 - r0,) + tuple(out_shape[1:])
        xs = xp[n0:n1, :, _input_rows(r0, r1, kernel[0], stride[0], dilation[0])]
        col = gather(xs, kernel, stride, dilation, sub).reshape(n1 - n0, groups, cg * kk, -1)
        res = np.matmul(w_mat, col)  # (n, g, O/g, L)
        out[n0:n1, :, r0:r1] = res.reshape((n1 - n0, out_ch) + sub)
    return out


def _depthwise(xp, w, stride, dilation, groups, out_shape, out):
    """One input channel per group: ``out[n, g*m + j] = sum_k w[g*m + j, 0, k] * xshift_k[n, g]``."""
    n_batch = xp.shape[0]
    mult = w.shape[0] // groups
    kernel = w.shape[2:]
    w_g = w.reshape(groups, mult, -1)  # (C, m, K)
    spatial_axes = (1,) * len(out_shape)
    acc = out.reshape((n_batch, groups, mult) + tuple(out_shape))
    acc[...] = 0
    tmp = np.empty_like(acc)
    for i, off in enumerate(kernel_offsets(kernel)):
        view = xp[(Ellipsis,) + offset_slices(off, out_shape, stride, dilation)]  # (N, C, *Out)
        np.multiply(view[:, :, None], w_g[:, :, i].reshape((groups, mult) + spatial_axes), out=tmp)
        acc += tmp
    return out


def conv_transpose_nd(y: np.ndarray, w: np.ndarray, in_shape: Sequence[int], stride: Sequence[int],
                      pads: Pads, dilation: Sequence[int], groups: int) -> np.ndarray:
    """The adjoint of :func:`conv_nd` in ``x``: ``(N, O, *Out)`` -> ``(N, C, *in_shape)``.

    ``in_shape`` is the unpadded spatial shape of ``x`` (it is not determined by
    ``Out`` alone when ``stride > 1``; that freedom is ``output_padding``).
    """
    n_batch, out_ch = y.shape[:2]
    cg = w.shape[1]
    kernel = w.shape[2:]
    out_shape = y.shape[2:]
    channels = cg * groups
    og = out_ch // groups
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_shape, pads))
    gxp = np.zeros((n_batch, channels) + padded, dtype=y.dtype)
    if cg == 1:
        _depthwise_transpose(y, w, gxp, stride, dilation, groups)
        return np.ascontiguousarray(crop(gxp, pads))
    kk = math.prod(kernel)
    w_t = np.ascontiguousarray(w.reshape(groups, og, cg * kk).transpose(0, 2, 1))  # (g, C/g*K, O/g)
    per_sample = channels * kk * math.prod(out_shape) * y.itemsize
    for n0, n1, r0, r1 in _chunks(n_batch, out_shape, per_sample):
        sub = (r1 - r0,) + tuple(out_shape[1:])
        ys = y[n0:n1, :, r0:r1].reshape(n1 - n0, groups, og, -1)
        col = np.matmul(w_t, ys).reshape((n1 - n0, channels) + tuple(kernel) + sub)
        rows = _input_rows(r0, r1, kernel[0], stride[0], dilation[0])
        scatter_add(col, gxp[n0:n1, :, rows], kernel, stride, dilation, sub)
    return np.ascontiguousarray(crop(gxp, pads))


def _depthwise_transpose(y, w, gxp, stride, dilation, groups):
    n_batch = y.shape[0]
    mult = w.shape[0] // groups
    kernel = w.shape[2:]
    out_shape = y.shape[2:]
    w_g = w.reshape(groups, mult, -1)
    y_g = y.reshape((n_batch, groups, mult) + tuple(out_shape))
    spatial_axes = (1,) * len(out_shape)
    for i, off in enumerate(kernel_offsets(kernel)):
        contrib = y_g * w_g[:, :, i].reshape((groups, mult) + spatial_axes)
        gxp[(Ellipsis,) + offset_slices(off, out_shape, stride, dilation)] += contrib.sum(axis=2) if mult > 1 else contrib[:, :, 0]


def conv_weight_grad(x: np.ndarray, gy: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                     pads: Pads, dilation: Sequence[int], groups: int) -> np.ndarray:
    """Gradient of ``sum(conv_nd(x, w) * gy)`` in ``w``: the correlation of the
    input with the output gradient, ``(O, C/g, *kernel)``."""
    n_batch, channels = x.shape[:2]
    out_ch = gy.shape[1]
    out_shape = gy.shape[2:]
    cg = channels // groups
    og = out_ch // groups
    kk = math.prod(kernel)
    xp = pad(x, pads)
    if cg == 1:
        return _depthwise_weight_grad(xp, gy, kernel, stride, dilation, groups)
    gw = np.zeros((groups, og, cg * kk), dtype=x.dtype)
    per_sample = channels * kk * math.prod(out_shape) * x.itemsize
    for n0, n1, r0, r1 in _chunks(n_batch, out_shape, per_sample):
        sub = (r1 - r0,) + tuple(out_shape[1:])
        xs = xp[n0:n1, :, _input_rows(r0, r1, kernel[0], stride[0], dilation[0])]
        col = gather(xs, kernel, stride, dilation, sub).reshape(n1 - n0, groups, cg * kk, -1)
        gys = gy[n0:n1, :, r0:r1].reshape(n1 - n0, groups, og, -1)
        gw += np.matmul(gys, col.transpose(0, 1, 3, 2)).sum(axis=0)
    return gw.reshape((out_ch, cg) + tuple(kernel))


def _depthwise_weight_grad(xp, gy, kernel, stride, dilation, groups):
    n_batch = xp.shape[0]
    out_ch = gy.shape[1]
    mult = out_ch // groups
    out_shape = gy.shape[2:]
    gy_g = gy.reshape(n_batch, groups, mult, -1)
    gw = np.empty((groups, mult, math.prod(kernel)), dtype=gy.dtype)
    for i, off in enumerate(kernel_offsets(kernel)):
        view = xp[(Ellipsis,) + offset_slices(off, out_shape, stride, dilation)].reshape(n_batch, groups, 1, -1)
        gw[:, :, i] = np.einsum("ncml,ncxl->cm", gy_g, view)
    return gw.reshape((out_ch, 1) + tuple(kernel))
