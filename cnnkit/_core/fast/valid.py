"""Unpadded stride-1 convolutions (``padding=0``, e.g. LeNet-5's layers): the windows straight
from the input, the products straight into the output.

Without padding and stride the column matrix of a sample is one strided view of ``x`` itself,
``col[c, *k, *p] = x[c, *(p + k*dilation)]`` (a single copy, no phase image), holding only
the valid output positions; one GEMM per sample ``out[n] = W (O/g, C/g*K) @ col[n]`` then
writes the output in its final layout (no crop), and the weight gradient is
``sum_n col[n] @ gy[n]ᵀ``, the samples added in order. Tiles and bands come from the sizes as in
:mod:`.conv`; measured against the phase-grid path on LeNet-5's tiles: BENCHMARKS.md.
"""
from __future__ import annotations

import math

import numpy as np

from . import conv
from .grid import strided
from .scratch import Scratch


def geometry(stride, pads) -> bool:
    """Stride 1 and no padding."""
    return all(s == 1 for s in stride) and not any(lo or hi for lo, hi in pads)


def applies(stride, pads, out: np.ndarray) -> bool:
    """:func:`geometry`, and a C-contiguous ``out`` (tile views of it merge their trailing axes)."""
    return geometry(stride, pads) and out.flags.c_contiguous


def _bands(nb: int, rows: int, bytes_per_row: int):
    """``(n0, n1, r0, r1)``: several whole samples, or rows of one sample, each under the column budget."""
    per_band = max(1, conv.COL_BUDGET_BYTES // max(bytes_per_row, 1))
    if per_band >= rows:
        step = per_band // rows
        for n0 in range(0, nb, step):
            yield n0, min(n0 + step, nb), 0, rows
        return
    for n in range(nb):
        for r0 in range(0, rows, per_band):
            yield n, n + 1, r0, min(r0 + per_band, rows)


def _columns(scratch: Scratch, x: np.ndarray, kernel, dilation, n0, n1, r0, r1, out_spatial) -> np.ndarray:
    """``col[n, c, *k, *p]`` for samples ``[n0, n1)`` and output rows ``[r0, r1)``: one copy of a
    strided view of ``x``."""
    shape = (n1 - n0, x.shape[1]) + tuple(kernel) + (r1 - r0,) + tuple(out_spatial[1:])
    sp = x.strides[2:]
    strides = x.strides[:2] + tuple(s * d for s, d in zip(sp, dilation)) + sp
    if x.flags.c_contiguous:
        view = strided(x, n0 * x.strides[0] + r0 * sp[0], shape, strides)
    else:  # a tile's window of rows: a view into a larger array
        view = np.lib.stride_tricks.as_strided(x[n0:, :, r0:], shape=shape, strides=strides, writeable=False)
    col = scratch.get("col", shape)
    col[...] = view
    return col


def forward_tile(x: np.ndarray, w_mat: np.ndarray, kernel, dilation, out: np.ndarray,
                 bias: np.ndarray | None) -> None:
    """One tile, single-threaded: ``out`` ``(nb, O, *Out)`` = conv of ``x`` ``(nb, C, *S)``."""
    nb, channels = x.shape[:2]
    groups, og, ck = w_mat.shape
    out_spatial = out.shape[2:]
    per_row = channels * math.prod(kernel) * math.prod(out_spatial[1:]) * x.itemsize
    b = None if bias is None else bias.reshape(groups, og, 1)
    with Scratch(x.dtype) as scratch:
        for n0, n1, r0, r1 in _bands(nb, out_spatial[0], per_row):
            col = _columns(scratch, x, kernel, dilation, n0, n1, r0, r1, out_spatial)
            dst = out[n0:n1, :, r0:r1].reshape(n1 - n0, groups, og, -1)  # a view: rows are whole
            np.matmul(w_mat, col.reshape(n1 - n0, groups, ck, -1), out=dst)
            if b is not None:
                np.add(dst, b, out=dst)


def weight_grad_tile(x: np.ndarray, gy: np.ndarray, kernel, dilation, groups: int) -> np.ndarray:
    """One tile's share of ``gwᵀ`` ``(g, C/g*K, O/g)``, single-threaded: ``sum_n col[n] @ gy[n]ᵀ``
    per band, bands and samples added in order."""
    nb, channels = x.shape[:2]
    out_ch = gy.shape[1]
    out_spatial = gy.shape[2:]
    per_row = channels * math.prod(kernel) * math.prod(out_spatial[1:]) * x.itemsize
    gw_t = None
    with Scratch(x.dtype) as scratch:
        for n0, n1, r0, r1 in _bands(nb, out_spatial[0], per_row):
            col = _columns(scratch, x, kernel, dilation, n0, n1, r0, r1, out_spatial)
            g = gy[n0:n1, :, r0:r1].reshape(n1 - n0, groups, out_ch // groups, -1)
            part = np.matmul(col.reshape(n1 - n0, groups, -1, g.shape[3]), g.transpose(0, 1, 3, 2))
            part = part.sum(axis=0) if n1 - n0 > 1 else part[0]
            if gw_t is None:
                gw_t = part
            else:
                gw_t += part
    return gw_t
