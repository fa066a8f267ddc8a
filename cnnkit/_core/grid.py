"""The phase grid: the layout that makes every kernel offset of a strided,
dilated, padded N-d convolution a contiguous slice.

Split the zero-padded input ``xpad (N, C, *P)`` by stride phase ``r`` (one of
``prod(stride)``) into channel-major images on a grid of
``Q = ceil(P / stride)`` positions per axis::

    G[r][c, (n, *q)] = xpad[n, c, *(q * stride + r)]        (zero beyond xpad)

Kernel offset ``k`` reads input position ``p*stride + k*dilation = (p + a_k)*stride + r_k``
with ``r_k = k*dilation mod stride`` and ``a_k = k*dilation div stride``, i.e.
``G[r_k]`` at grid position ``p + a_k``. Flattening ``(n, *q)`` row-major, that
is the flat position ``m + shift_k`` with ``shift_k = flat(a_k)``: for output
grid positions ``m = 0 .. M-1`` every offset reads the *contiguous* range
``G[r_k][:, shift_k : shift_k + M]``. Output position ``p`` lives at grid
position ``q = p`` (``Out <= Q - a_max`` on every axis, so valid positions never
read across a row or sample boundary); the other grid positions are computed
and cropped. For stride 1 there is one phase and ``G`` is just the padded input,
channel-major, with ``shift_k = flat(k * dilation)``.

Each image carries ``max(shift_k)`` zero columns of tail so that the last
sample's slices stay inside the buffer.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

from .window import Pads, kernel_offsets


class PhaseGrid:
    """Geometry of the phase grid of one convolution (see module docstring).

    ``in_shape``: unpadded spatial shape ``S``; ``pads``: ``((before, after), ...)``.
    Attributes: ``q`` (grid shape ``Q``), ``positions = prod(Q)``, ``phases``
    (phase tuples ``r`` in row-major order), ``taps`` (``(phase index, flat shift)``
    per kernel offset, in the row-major order of the weight's kernel axes) and ``tail``.
    """

    def __init__(self, in_shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int], pads: Pads):
        self.in_shape = tuple(in_shape)
        self.stride = tuple(stride)
        self.pads = tuple(pads)
        padded = tuple(i + lo + hi for i, (lo, hi) in zip(in_shape, pads))
        self.q = tuple(-(-p // s) for p, s in zip(padded, stride))
        self.positions = math.prod(self.q)
        self.phases = tuple(itertools.product(*(range(s) for s in stride)))
        row_major = [math.prod(self.q[i + 1:]) for i in range(len(self.q))]
        index = {r: i for i, r in enumerate(self.phases)}
        self.taps = tuple(
            (index[tuple(k * d % s for k, d, s in zip(off, dilation, stride))],
             sum((k * d // s) * step for k, d, s, step in zip(off, dilation, stride, row_major)))
            for off in kernel_offsets(kernel))
        self.tail = max(shift for _, shift in self.taps)

    # ------------------------------------------------------------ sizes
    def image_shape(self, channels: int, nb: int) -> tuple[int, int, int]:
        """Shape of the phase images of ``nb`` samples: ``(R, C, nb * prod(Q) + tail)``."""
        return len(self.phases), channels, nb * self.positions + self.tail

    def image_bytes(self, channels: int, itemsize: int) -> int:
        """Bytes of the phase images per sample."""
        return len(self.phases) * channels * self.positions * itemsize

    def _grid_view(self, img: np.ndarray, nb: int) -> np.ndarray:
        """``(R, C, nb * prod(Q) + tail)`` as ``(R, C, nb, *Q)`` (a view without the tail)."""
        return img[:, :, :nb * self.positions].reshape(img.shape[:2] + (nb,) + self.q)

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
        """Fill ``img`` ``(R, C, nb * prod(Q) + tail)`` with the phase images of ``x`` ``(nb, C, *S)``."""
        nb = x.shape[0]
        img[...] = 0
        view = self._grid_view(img, nb)
        xt = x.swapaxes(0, 1)  # (C, nb, *S)
        for ri, r in enumerate(self.phases):
            sl = self._phase_slices(r)
            if sl is not None:
                view[(ri, Ellipsis) + sl[0]] = xt[(Ellipsis,) + sl[1]]
        return img

    def unbuild(self, img: np.ndarray, out: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """Inverse of :meth:`build` (un-phase and crop): ``out`` ``(nb, C, *S)`` from ``img``,
        plus ``bias`` (broadcastable to ``(C, *S)``). Every position of ``out`` is written once."""
        nb = out.shape[0]
        view = self._grid_view(img, nb)
        for ri, r in enumerate(self.phases):
            sl = self._phase_slices(r)
            if sl is None:
                continue
            src = view[(ri, Ellipsis) + sl[0]].swapaxes(0, 1)
            dst = out[(Ellipsis,) + sl[1]]
            if bias is not None:
                np.add(src, bias, out=dst)
            else:
                dst[...] = src
        return out

    def place(self, y: np.ndarray, buf: np.ndarray, transposed: bool = False) -> np.ndarray:
        """Put ``y`` ``(nb, O, *Out)`` on the output grid, zero elsewhere: ``buf`` is
        ``(O, nb * prod(Q))``, or ``(nb * prod(Q), O)`` with ``transposed``."""
        nb, channels = y.shape[:2]
        buf[...] = 0
        crop = tuple(slice(0, o) for o in y.shape[2:])
        if transposed:
            view = buf.reshape((nb,) + self.q + (channels,))
            view[(slice(None),) + crop] = np.moveaxis(y, 1, -1)
        else:
            view = buf.reshape((channels, nb) + self.q)
            view[(slice(None), slice(None)) + crop] = y.swapaxes(0, 1)
        return buf
