"""The phase grid: the layout that makes every kernel offset of a strided,
dilated, padded N-d convolution a contiguous slice.

Split the zero-padded input ``xpad (N, C, *P)`` by stride phase ``r`` (one of
``prod(stride)``) into channel-major images on a grid of
``Q = ceil(P / stride)`` positions per axis::

    G[r][c, n, *q] = xpad[n, c, *(q * stride + r)]        (zero beyond xpad)

Kernel offset ``k`` reads input position ``p*stride + k*dilation = (p + a_k)*stride + r_k``
with ``r_k = k*dilation mod stride`` and ``a_k = k*dilation div stride``, i.e.
``G[r_k]`` at grid position ``p + a_k``. Flatten each sample's grid row-major
and put output ``p`` at flat position ``m = flat(p)`` (row length ``Q[-1]``, not
``Out[-1]``): offset ``k`` then reads flat position ``m + shift_k`` with
``shift_k = flat(a_k)``, so for all outputs of a sample it reads the
*contiguous* range ``G[r_k][c, n, shift_k : shift_k + span]``, where
``span = flat(Out - 1) + 1``. The grid positions between valid outputs (the
last ``Q - Out`` of each row) are computed and cropped. Valid outputs never
read across a row: ``p + a_k <= Q - 1`` on every axis. For stride 1 there is one
phase and ``G`` is just the padded input, channel-major.

A 1-D example: input 5, kernel 3, stride 2, padding 1 (padded 7, ``Q = 4``,
3 outputs); tap 1 reads phase 1, tap 2 phase 0 shifted by one position:

>>> g = PhaseGrid((5,), (3,), (2,), (1,), ((1, 1),))
>>> g.q, g.out_shape, g.span, g.taps
((4,), (3,), 3, ((0, 0), (1, 0), (0, 1)))
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Sequence

import numpy as np

from ..window import Pads, kernel_offsets


class PhaseGrid:
    """Geometry of the phase grid of one convolution (see module docstring).

    ``in_shape``: unpadded spatial shape ``S``; ``pads``: ``((before, after), ...)``;
    ``out_shape``: the outputs kept (default: all of them; the ``y`` of a transposed
    convolution with ``output_padding`` covers fewer).
    Attributes: ``q`` (grid shape ``Q``), ``out_shape``, ``positions = prod(Q)``,
    ``span`` (flat grid columns per sample that hold the outputs), ``row_len``
    (flat length of one grid row along the first axis), ``phases`` (phase tuples
    in row-major order) and ``taps`` (``(phase index, flat shift)`` per kernel
    offset, in the row-major order of the weight's kernel axes).
    """

    def __init__(self, in_shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int], pads: Pads, out_shape: Sequence[int] | None = None):
        self.in_shape = tuple(in_shape)
        self.stride = tuple(stride)
        self.pads = tuple(pads)
        padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_shape, pads))
        self.q = tuple(-(-p // s) for p, s in zip(padded, stride))
        full = tuple((p - (k - 1) * d - 1) // s + 1 for p, k, d, s in zip(padded, kernel, dilation, stride))
        # a transposed convolution's y may be shorter than the full output (output_padding)
        self.out_shape = full if out_shape is None else tuple(out_shape)
        assert all(0 < o <= f for o, f in zip(self.out_shape, full)), (self.out_shape, full)
        self.positions = math.prod(self.q)
        self.row_strides = tuple(math.prod(self.q[i + 1:]) for i in range(len(self.q)))
        self.row_len = self.row_strides[0]
        self.span = sum((o - 1) * step for o, step in zip(self.out_shape, self.row_strides)) + 1
        self.phases = tuple(itertools.product(*(range(s) for s in stride)))
        index = {r: i for i, r in enumerate(self.phases)}
        self.taps = tuple(
            (index[tuple(k * d % s for k, d, s in zip(off, dilation, stride))],
             sum((k * d // s) * step for k, d, s, step in zip(off, dilation, stride, self.row_strides)))
            for off in kernel_offsets(kernel))
        self.slices = tuple(self._phase_slices(r) for r in self.phases)
        self.kernel = tuple(kernel)
        #: with one phase (stride 1) the taps' flat shifts form a lattice: offset ``k`` is at
        #: ``sum(k * dilation * row_strides)``, so all taps are one strided view (else ``None``)
        self.tap_strides = (tuple(d * step for d, step in zip(dilation, self.row_strides))
                            if len(self.phases) == 1 else None)
        #: one phase, no padding: the phase image of a sample is its input, unchanged
        self.identity = all(st == 1 for st in self.stride) and not any(lo or hi for lo, hi in self.pads)

    # ------------------------------------------------------------ sizes
    def image_shape(self, channels: int, nb: int) -> tuple[int, ...]:
        """Shape of the phase images of ``nb`` samples: ``(R, C, nb, prod(Q))``."""
        return len(self.phases), channels, nb, self.positions

    def image_bytes(self, channels: int, itemsize: int) -> int:
        """Bytes of the phase images per sample."""
        return len(self.phases) * channels * self.positions * itemsize

    # ------------------------------------------------------------ views
    def outputs(self, flat: np.ndarray, m0: int = 0) -> np.ndarray:
        """The valid outputs inside grid columns ``[m0, m0 + flat.shape[-1])`` of each
        sample, ``m0`` a multiple of ``row_len``: ``flat`` ``(..., nb, cols)`` viewed as
        ``(..., nb, rows, *Out[1:])`` (a strided view, writable when ``flat`` is)."""
        cols = flat.shape[-1]
        r0 = m0 // self.row_len
        rows = min(self.out_shape[0] - r0, -(-cols // self.row_len))
        shape = flat.shape[:-1] + (max(rows, 0),) + self.out_shape[1:]
        strides = flat.strides[:-1] + tuple(step * flat.strides[-1] for step in self.row_strides)
        return strided(flat, 0, shape, strides)

    def _phase_slices(self, r: Sequence[int]):
        """For phase ``r``: grid slices and input slices of the unpadded positions it holds
        (``None`` when it holds none): ``q0 = ceil((lo - r) / s)``, input ``i0 = q0*s + r - lo``."""
        grid_sl, in_sl = [], []
        for ri, s, (lo, _), size in zip(r, self.stride, self.pads, self.in_shape):
            q0 = max(0, -(-(lo - ri) // s))
            i0 = q0 * s + ri - lo
            count = -(-(size - i0) // s)
            if count <= 0:
                return None
            grid_sl.append(slice(q0, q0 + count))
            in_sl.append(slice(i0, i0 + (count - 1) * s + 1, s))
        return tuple(grid_sl), tuple(in_sl)

    # ------------------------------------------------------------ layout changes
    def build(self, x: np.ndarray, img: np.ndarray) -> np.ndarray:
        """Fill ``img`` ``(R, C, nb, prod(Q))`` with the phase images of ``x`` ``(nb, C, *S)``
        (only the padding around each copied block is zeroed, not the whole buffer)."""
        view = img.reshape(img.shape[:3] + self.q)
        xt = x.swapaxes(0, 1)  # (C, nb, *S)
        for ri, sl in enumerate(self.slices):
            if sl is None:
                view[ri] = 0
                continue
            view[(ri, Ellipsis) + sl[0]] = xt[(Ellipsis,) + sl[1]]
            for axis, box in enumerate(sl[0]):  # the complement of the block, one slab pair per axis
                inner = (ri, slice(None), slice(None)) + sl[0][:axis]
                view[inner + (slice(0, box.start),)] = 0
                view[inner + (slice(box.stop, None),)] = 0
        return img

    def image_view(self, x: np.ndarray) -> np.ndarray | None:
        """The phase images of ``x`` ``(nb, C, *S)`` as a view of ``x`` (no copy) when they are
        ``x``'s own memory: :attr:`identity` geometry, C-contiguous ``x`` and one sample or one
        channel (then channel-major order is ``x``'s order); else ``None`` (use :meth:`build`)."""
        nb, channels = x.shape[:2]
        if not self.identity or (nb > 1 and channels > 1) or not x.flags.c_contiguous:
            return None
        return x.reshape((1, channels, nb, self.positions))

    def unbuild(self, img: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """Inverse of :meth:`build` (un-phase and crop): ``out`` ``(nb, C, *S)`` from ``img``,
        plus ``bias`` (broadcastable to ``(C, *S)``). Every position of ``out`` is written once."""
        view = img.reshape(img.shape[:3] + self.q)
        for ri, sl in enumerate(self.slices):
            if sl is None:
                continue
            src = view[(ri, Ellipsis) + sl[0]].swapaxes(0, 1)
            dst = out[(Ellipsis,) + sl[1]]
            if bias is not None:
                np.add(src, bias, out=dst)
            else:
                dst[...] = src
        return out

    def place(self, y: np.ndarray, buf: np.ndarray, m0: int = 0) -> np.ndarray:
        """Put the outputs ``y`` ``(nb, O, *Out)`` that fall in grid columns
        ``[m0, m0 + cols)`` of each sample into ``buf`` ``(O, nb, cols)``, zero elsewhere."""
        buf[...] = 0
        view = self.outputs(buf, m0)  # (O, nb, rows, *Out[1:])
        r0 = m0 // self.row_len
        view[...] = y[:, :, r0:r0 + view.shape[2]].swapaxes(0, 1)
        return buf


def strided(base: np.ndarray, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A view of the C-contiguous ``base``'s memory from byte ``offset`` with ``shape`` and byte
    ``strides``: ``np.lib.stride_tricks.as_strided`` at a fifth of its cost (the small
    convolutions of a network build several such views per call). The caller keeps the view
    inside ``base``."""
    assert base.flags.c_contiguous, "strided() needs a C-contiguous base"
    return np.ndarray(shape, base.dtype, base, offset, strides)


@functools.lru_cache(maxsize=512)
def _cached_grid(in_shape, kernel, stride, dilation, pads, out_shape) -> PhaseGrid:
    return PhaseGrid(in_shape, kernel, stride, dilation, pads, out_shape=out_shape)


def phase_grid(in_shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
               dilation: Sequence[int], pads: Pads, out_shape: Sequence[int] | None = None) -> PhaseGrid:
    """:class:`PhaseGrid`, cached per geometry: a layer calls the core with the same shapes at
    every step, and building the tap table in Python costs more than a small convolution's copies.
    The returned grid is shared: treat it as read-only."""
    as_ints = lambda v: tuple(int(i) for i in v)  # noqa: E731 (hashable, NumPy ints normalised)
    return _cached_grid(as_ints(in_shape), as_ints(kernel), as_ints(stride), as_ints(dilation),
                        tuple(as_ints(p) for p in pads), None if out_shape is None else as_ints(out_shape))
