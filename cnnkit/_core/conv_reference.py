"""The reference convolution: the algorithm in its plainest form, for reading and as the
PyTorch-free oracle the tests hold the fast engine (:mod:`cnnkit._core.fast`) against.

A convolution layer computes a dot product of the kernel with every window of the padded
input. Written as matrices ("im2col"), that is three steps:

1. **pad** the input with zeros (:func:`cnnkit._core.window.pad`);
2. **gather** every window into a column: ``col[n, c, *k, *p] = xpad[n, c, *(p*stride + k*dilation)]``
   (:func:`cnnkit._core.window.gather`, one strided slice per kernel offset);
3. **one matrix product** per group: ``out = W (O/g, C/g*K) @ col (C/g*K, positions)``.

The other two directions follow by linear algebra:

* the input gradient is the *adjoint* (transpose) of that linear map: ``gcol = Wᵀ @ gy``,
  then every column is added back where its window came from (:func:`~cnnkit._core.window.scatter_add`,
  overlapping windows accumulate) and the padding is cut off; it is also the forward of a
  *transposed convolution* (``ConvTranspose``), whose PyTorch weight layout ``(in, out/g, *K)``
  is exactly this ``w``: ``<conv_nd(x), y> = <x, conv_transpose_nd(y)>``;
* the weight gradient correlates the input with the output gradient: ``gW = gy @ colᵀ``,
  summed over the samples.

Shapes (``n`` spatial axes, ``g`` groups, ``K`` the kernel shape): ``x (N, C, *S)``,
``w (O, C/g, *K)``, ``y (N, O, *Out)``. The column matrix is ``prod(K)`` times the input,
which is why the fast engine builds it in cache-sized pieces; the results are the same.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .window import Pads, crop, gather, pad, scatter_add


def conv_nd(x: np.ndarray, w: np.ndarray, stride: Sequence[int], pads: Pads, dilation: Sequence[int],
            groups: int, out_shape: Sequence[int], bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlation ``(N, C, *S)`` * ``(O, C/g, *K)`` -> ``(N, O, *out_shape)``, plus ``bias`` ``(O,)``:
    ``out[n, o, *p] = bias[o] + sum_{c in group(o), k} w[o, c, *k] * xpad[n, c, *(p*stride + k*dilation)]``.

    >>> x = np.arange(5.).reshape(1, 1, 5)
    >>> conv_nd(x, np.array([[[1., 0., -1.]]]), (1,), ((0, 0),), (1,), 1, (3,))
    array([[[-2., -2., -2.]]])
    """
    n, channels = x.shape[:2]
    out_ch, cg = w.shape[:2]
    kernel = w.shape[2:]
    og, kk, m = out_ch // groups, math.prod(kernel), math.prod(out_shape)
    col = gather(pad(x, pads), kernel, stride, dilation, out_shape)  # (N, C, *K, *Out)
    col = col.reshape(n, groups, cg * kk, m)
    out = w.reshape(groups, og, cg * kk) @ col  # (N, g, O/g, positions)
    out = out.reshape((n, out_ch) + tuple(out_shape))
    if bias is not None:
        out += bias.reshape((out_ch,) + (1,) * len(kernel))
    return out


def conv_transpose_nd(y: np.ndarray, w: np.ndarray, in_shape: Sequence[int], stride: Sequence[int],
                      pads: Pads, dilation: Sequence[int], groups: int,
                      bias: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of :func:`conv_nd` in ``x``: ``(N, O, *Out)`` -> ``(N, C, *in_shape)``, plus ``bias`` ``(C,)``:
    ``gx[n, c, *u] = sum_{o, k, p : u + pad = p*stride + k*dilation} w[o, c, *k] * y[n, o, *p]``.

    ``in_shape`` is the unpadded spatial shape of ``x``: with ``stride > 1`` it is not fixed by
    ``Out`` (that freedom is ``output_padding``).
    """
    n, out_ch = y.shape[:2]
    cg = w.shape[1]
    kernel = w.shape[2:]
    channels, og, kk = cg * groups, out_ch // groups, math.prod(kernel)
    out_shape = y.shape[2:]
    w_t = w.reshape(groups, og, cg * kk).transpose(0, 2, 1)  # (g, C/g*K, O/g)
    gcol = w_t @ y.reshape(n, groups, og, -1)  # (N, g, C/g*K, positions)
    padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_shape, pads))
    xp = np.zeros((n, channels) + padded, dtype=y.dtype)
    scatter_add(gcol.reshape((n, channels) + tuple(kernel) + tuple(out_shape)), xp, kernel, stride, dilation,
                out_shape)
    gx = np.ascontiguousarray(crop(xp, pads))
    if bias is not None:
        gx += bias.reshape((channels,) + (1,) * len(kernel))
    return gx


def conv_weight_grad(x: np.ndarray, gy: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                     pads: Pads, dilation: Sequence[int], groups: int) -> np.ndarray:
    """Gradient of ``sum(conv_nd(x, w) * gy)`` in ``w``, ``(O, C/g, *kernel)``:
    ``gw[o, c, *k] = sum_{n, p} gy[n, o, *p] * xpad[n, g(o)*C/g + c, *(p*stride + k*dilation)]``."""
    n, channels = x.shape[:2]
    out_ch = gy.shape[1]
    cg, og, kk = channels // groups, out_ch // groups, math.prod(kernel)
    col = gather(pad(x, pads), kernel, stride, dilation, gy.shape[2:])
    col = col.reshape(n, groups, cg * kk, -1)
    gw = (gy.reshape(n, groups, og, -1) @ col.transpose(0, 1, 3, 2)).sum(axis=0)  # (g, O/g, C/g*K)
    return gw.reshape((out_ch, cg) + tuple(kernel))
