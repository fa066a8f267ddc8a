"""N-d convolution on NumPy arrays: the forward / transposed pair and the
weight gradient. No autograd here; :mod:`cnnkit.functional.conv` wraps these.

Shapes (``n`` spatial axes, ``g`` groups, ``K`` the kernel shape):

* ``conv_nd``:            x ``(N, C, *S)``, w ``(O, C/g, *K)`` -> ``(N, O, *Out)``
* ``conv_transpose_nd``:  y ``(N, O, *Out)``, w ``(O, C/g, *K)`` -> ``(N, C, *S)``
  (the adjoint of ``conv_nd`` in ``x``: ``<conv_nd(x), y> = <x, conv_transpose_nd(y)>``;
  it is the input gradient of ``conv_nd`` *and* the forward of ``ConvTranspose``,
  whose PyTorch weight layout ``(in, out/g, *K)`` is exactly this ``w``)
* ``conv_weight_grad``:   x ``(N, C, *S)``, gy ``(N, O, *Out)`` -> ``(O, C/g, *K)``

Algorithm: im2col on a *phase grid* + one GEMM per chunk (see
:mod:`cnnkit._core.grid`). The padded input is rearranged once (one copy) into
``prod(stride)`` channel-major phase images ``G[r][c, n, *q] =
xpad[n, c, *(q * stride + r)]``; kernel offset ``k`` reads phase
``r_k = k*dilation mod stride`` at the flat shift ``shift_k`` of
``k*dilation div stride``, so for *every* stride and dilation an offset is one
contiguous range per channel and sample, ``G[r_k][c, n, shift_k : shift_k + span]``.
Outputs are computed on the grid (rows of length ``Q[-1]``) and cropped. With
the samples ``n`` and grid columns ``m`` of a chunk:

* forward: ``col[(c, k), (n, m)] = G[r_k][c, n, m + shift_k]`` (one slice copy
  per offset; with stride 1 the shifts form a lattice and all offsets are one
  strided-view copy), then per group ``out = W (O/g, C/g*K) @ col``: a single 2-D GEMM
  over every position of the chunk (not one small GEMM per sample);
* transposed (the adjoint), two exact algorithms picked by an estimate of the
  memory traffic: *scatter* (``gcol = Wᵀ @ y_grid``, then one contiguous ``+=``
  per kernel offset into the phase images: col2im without ``np.add.at``) or
  *phases* (``x[..., r::stride]`` is a stride-1 convolution of ``y`` with the
  taps of phase ``r``: sub-pixel decomposition, each element written once);
* weight gradient: ``gwᵀ += col @ gyᵀ`` (``(C/g*K, n*m) @ (n*m, O/g)``), one GEMM
  whose reduction runs over every position of the chunk (``gy`` in its plain layout,
  a transposed operand).

Chunks: the batch is cut so that the phase images stay under
:data:`GRID_BUDGET_BYTES` (at least one sample), and each batch chunk into
bands (several samples, or rows of one sample) so that the column matrix stays
under :data:`COL_BUDGET_BYTES`, sized for the caches. A 1x64x1024x1024 3x3
convolution thus allocates about one padded input copy (the phase image) plus
small scratch, never a 9x column matrix. All scratch is in the input's dtype
(float32 stays float32) and reused across the chunks of a call; buffers up to
:data:`SCRATCH_KEEP_BYTES` are also kept (per thread) for the next call, since a
network calls the core with the same shapes at every step. The grid geometry is
cached per shape (:func:`cnnkit._core.grid.phase_grid`), and with stride 1, no
padding and one sample or one channel the phase image is the input itself (a
view, no copy). Depthwise layers are the same path with ``g = C`` (a stack of
matrix-vector products; a direct multiply-add per kernel offset on cache-sized
blocks was measured only 3-14% faster for multiplier 1 and slower for stride 2 or
multiplier 2, so it was not added).
"""
from __future__ import annotations

import functools
import itertools
import math
import threading
from typing import Iterator, Sequence

import numpy as np

from .grid import PhaseGrid, phase_grid
from .window import Pads

#: Upper bound on the column matrix of one chunk (bytes): sized for the caches,
#: measured fastest around 2-4 MiB on a 2 MiB-L2 CPU (benchmarks/bench_conv.py).
COL_BUDGET_BYTES = 4 * 2**20
#: Upper bound on the phase images of one batch chunk (bytes); at least one sample.
GRID_BUDGET_BYTES = 64 * 2**20


def _batch_chunks(n_batch: int, bytes_per_sample: int) -> Iterator[tuple[int, int]]:
    """Sample ranges ``[n0, n1)`` whose phase images fit :data:`GRID_BUDGET_BYTES`."""
    step = max(1, GRID_BUDGET_BYTES // max(bytes_per_sample, 1))
    for n0 in range(0, n_batch, step):
        yield n0, min(n0 + step, n_batch)


def _bands(grid: PhaseGrid, nb: int, bytes_per_column: int) -> Iterator[tuple[int, int, int, int]]:
    """Bands ``(n0, n1, m0, m1)`` of a chunk of ``nb`` samples: samples ``[n0, n1)``,
    grid columns ``[m0, m1)`` of each. Either several whole samples (``m0, m1 = 0, span``)
    or whole grid rows of one sample, each under :data:`COL_BUDGET_BYTES`."""
    cols = max(1, COL_BUDGET_BYTES // max(bytes_per_column, 1))
    if grid.span <= cols:
        step = cols // grid.span
        for n0 in range(0, nb, step):
            yield n0, min(n0 + step, nb), 0, grid.span
        return
    step = max(1, cols // grid.row_len) * grid.row_len
    for n0 in range(nb):
        for m0 in range(0, grid.span, step):
            yield n0, n0 + 1, m0, min(m0 + step, grid.span)


#: Scratch buffers up to this size are kept between calls (per thread, role and dtype) and
#: reused: a network calls the core with the same shapes at every step, and a fresh multi-MiB
#: buffer pays one page fault per 4 KiB page on first touch (LeNet-5 step without PyTorch in
#: the process, 2 threads: ~8.5 -> ~6.1 ms; BENCHMARKS.md, Layers).
SCRATCH_KEEP_BYTES = 8 * 2**20
_kept = threading.local()


class _Scratch:
    """Reusable flat buffers (one per role) for all chunks of a call, used as a context
    manager: buffers up to :data:`SCRATCH_KEEP_BYTES` are leased from a per-thread pool
    on entry (so a nested call never shares one) and handed back on exit."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.bufs: dict[str, np.ndarray] = {}

    def __enter__(self) -> "_Scratch":
        return self

    def __exit__(self, *exc) -> None:
        pool = self._pool()
        for role, buf in self.bufs.items():
            if buf.nbytes <= SCRATCH_KEEP_BYTES:
                pool[(role, self.dtype)] = buf
        self.bufs.clear()

    @staticmethod
    def _pool() -> dict:
        pool = getattr(_kept, "bufs", None)
        if pool is None:
            pool = _kept.bufs = {}
        return pool

    def get(self, role: str, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        buf = self.bufs.get(role)
        if buf is None or buf.size < size:
            buf = self._pool().pop((role, self.dtype), None)
            if buf is None or buf.size < size:
                buf = np.empty(size, dtype=self.dtype)
            self.bufs[role] = buf
        return buf[:size].reshape(shape)


def _group_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``(g, i, j) @ (g, j, l) -> (g, i, l)``; a contraction of length 1 (the
    transposed depthwise case) is an outer product, done elementwise."""
    if a.shape[2] == 1:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


def _phase_images(scratch: _Scratch, grid: PhaseGrid, x: np.ndarray) -> np.ndarray:
    """The phase images of ``x`` ``(nb, C, *S)``: a view of ``x`` when possible (stride 1, no
    padding, one sample or one channel: e.g. a large unpadded image costs no copy), else built
    in the scratch buffer."""
    img = grid.image_view(x)
    if img is None:
        img = grid.build(x, scratch.get("grid", grid.image_shape(x.shape[1], x.shape[0])))
    return img


def _columns(scratch: _Scratch, grid: PhaseGrid, img: np.ndarray, band) -> np.ndarray:
    """im2col of a band: ``col[c, k, n, m] = G[r_k][c, n, m + shift_k]``, ``(C, K, n1 - n0, m1 - m0)``."""
    n0, n1, m0, m1 = band
    col = scratch.get("col", (img.shape[1], len(grid.taps), n1 - n0, m1 - m0))
    if grid.tap_strides is not None:  # one phase: every offset in one strided-view copy
        src = img[0, :, n0:n1, m0:]
        view = np.lib.stride_tricks.as_strided(
            src, shape=(src.shape[0],) + grid.kernel + (n1 - n0, m1 - m0),
            strides=(src.strides[0],) + tuple(t * src.itemsize for t in grid.tap_strides) + src.strides[1:],
            writeable=False)
        col.reshape(view.shape)[...] = view
        return col
    for k, (phase, shift) in enumerate(grid.taps):
        col[:, k] = img[phase, :, n0:n1, m0 + shift:m1 + shift]
    return col


# ---------------------------------------------------------------- forward
def conv_nd(x: np.ndarray, w: np.ndarray, stride: Sequence[int], pads: Pads, dilation: Sequence[int],
            groups: int, out_shape: Sequence[int], bias: np.ndarray | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlation ``(N, C, *S)`` * ``(O, C/g, *K)`` -> ``(N, O, *out_shape)``, plus ``bias`` ``(O,)``.

    ``out[n, o, *p] = bias[o] + sum_{c in group(o), k} w[o, c, *k] * xpad[n, c, *(p * stride + k * dilation)]``.
    ``out``, when given, is the ``(N, O, *out_shape)`` array or view written into.
    """
    n_batch, channels = x.shape[:2]
    out_ch, cg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    og = out_ch // groups
    kk = math.prod(kernel)
    grid = phase_grid(x.shape[2:], kernel, stride, dilation, pads, out_shape=out_shape)
    if out is None:
        out = np.empty((n_batch, out_ch) + grid.out_shape, dtype=x.dtype)
    b = None if bias is None else bias.reshape((out_ch,) + (1,) * len(kernel))
    w_mat = w.reshape(groups, og, cg * kk)
    with _Scratch(x.dtype) as scratch:
        for c0, c1 in _batch_chunks(n_batch, grid.image_bytes(channels, x.itemsize)):
            img = _phase_images(scratch, grid, x[c0:c1])
            for band in _bands(grid, c1 - c0, channels * kk * x.itemsize):
                n0, n1, m0, m1 = band
                col = _columns(scratch, grid, img, band).reshape(groups, cg * kk, -1)
                res = np.matmul(w_mat, col, out=scratch.get("res", (groups, og, col.shape[2])))
                valid = grid.outputs(res.reshape(out_ch, n1 - n0, m1 - m0), m0).swapaxes(0, 1)
                r0 = m0 // grid.row_len
                dst = out[c0 + n0:c0 + n1, :, r0:r0 + valid.shape[2]]
                if b is not None:
                    np.add(valid, b, out=dst)
                else:
                    dst[...] = valid
    return out


# ---------------------------------------------------------------- transposed
def conv_transpose_nd(y: np.ndarray, w: np.ndarray, in_shape: Sequence[int], stride: Sequence[int],
                      pads: Pads, dilation: Sequence[int], groups: int,
                      bias: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of :func:`conv_nd` in ``x``: ``(N, O, *Out)`` -> ``(N, C, *in_shape)``, plus ``bias`` ``(C,)``.

    ``in_shape`` is the unpadded spatial shape of ``x`` (it is not determined by
    ``Out`` alone when ``stride > 1``; that freedom is ``output_padding``).
    ``gx[n, c, *u] = sum_{o, k, p : u + pad = p*stride + k*dilation} w[o, c, *k] * y[n, o, *p]``.

    Two exact algorithms, picked by an estimate of the memory traffic:
    :func:`_transpose_by_scatter` (the adjoint of the forward's gather) and
    :func:`_transpose_by_phases` (one stride-1 convolution per stride phase).
    """
    grid = phase_grid(in_shape, w.shape[2:], stride, dilation, pads, out_shape=y.shape[2:])
    phases = _phase_convs(tuple(in_shape), tuple(y.shape[2:]), tuple(w.shape[2:]), tuple(stride),
                          tuple(dilation), tuple(tuple(p) for p in pads))
    if _phases_cost(phases, y.shape[1], w.shape[1] * groups, groups) < _scatter_cost(grid, y.shape[1], w.shape[1] * groups, groups):
        return _transpose_by_phases(y, w, in_shape, stride, groups, phases, bias)
    return _transpose_by_scatter(y, w, in_shape, grid, groups, bias)


#: Relative cost of one multiply-add inside a GEMM and of one array element
#: moved by a NumPy copy/ufunc pass (BLAS is about 30x faster per element).
_MAC_COST, _ELEMENT_COST = 1 / 30, 1.0


def _scatter_cost(grid: PhaseGrid, out_ch: int, channels: int, groups: int) -> float:
    """Per-sample cost of :func:`_transpose_by_scatter`: GEMM ``(C*K, M)``, one
    ``+=`` (three element accesses) per offset, placing ``y`` and un-phasing."""
    kk, m = len(grid.taps), grid.span
    og = out_ch // groups
    product = channels * kk * m * (og * _MAC_COST if og > 1 else 2 * _ELEMENT_COST)
    return product + _ELEMENT_COST * (3 * channels * kk * m + out_ch * m + 2 * channels * grid.positions * len(grid.phases))


def _phases_cost(phases, out_ch: int, channels: int, groups: int) -> float:
    """Per-sample cost of :func:`_transpose_by_phases`: per phase, an im2col copy of
    ``O * K_r`` rows and a GEMM ``(C/g, O/g*K_r) @ (O/g*K_r, M_r)``."""
    cost = 0.0
    cg = channels // groups
    for phase in phases:
        if phase is None:
            continue
        taps = math.prod(len(a[1]) for a in phase)
        m = math.prod(a[3] - a[2] for a in phase)  # grid of the padded y slice
        product = out_ch * taps * m * (cg * _MAC_COST if cg > 1 else _ELEMENT_COST)
        cost += product + _ELEMENT_COST * (2 * out_ch * taps * m + 2 * out_ch * m + channels * m)
    return cost


def _transpose_by_scatter(y, w, in_shape, grid: PhaseGrid, groups, bias):
    """col2im: ``gcol = wᵀ @ y_grid`` (per group ``(C/g*K, O/g) @ (O/g, m)``), then one
    contiguous ``+=`` per kernel offset into the phase images, un-phased at the end."""
    n_batch, out_ch = y.shape[:2]
    cg = w.shape[1]
    kernel = tuple(w.shape[2:])
    channels = cg * groups
    og = out_ch // groups
    kk = math.prod(kernel)
    gx = np.empty((n_batch, channels) + tuple(in_shape), dtype=y.dtype)
    b = None if bias is None else bias.reshape((channels,) + (1,) * len(kernel))
    w_t = np.ascontiguousarray(w.reshape(groups, og, cg * kk).transpose(0, 2, 1))  # (g, C/g*K, O/g)
    with _Scratch(y.dtype) as scratch:
        for c0, c1 in _batch_chunks(n_batch, grid.image_bytes(channels, y.itemsize)):
            nb = c1 - c0
            img = scratch.get("grid", grid.image_shape(channels, nb))
            img[...] = 0
            for n0, n1, m0, m1 in _bands(grid, nb, channels * kk * y.itemsize):
                ys = grid.place(y[c0 + n0:c0 + n1], scratch.get("ygrid", (out_ch, n1 - n0, m1 - m0)), m0)
                ys = ys.reshape(groups, og, -1)
                gcol = _group_matmul(w_t, ys, out=scratch.get("col", (groups, cg * kk, ys.shape[2])))
                gcol = gcol.reshape(channels, kk, n1 - n0, m1 - m0)
                for k, (phase, shift) in enumerate(grid.taps):
                    img[phase, :, n0:n1, m0 + shift:m1 + shift] += gcol[:, k]
            grid.unbuild(img, gx[c0:c1], b)
    return gx


def _phase_taps(size_in: int, size_out: int, k: int, s: int, d: int, lo: int, r: int):
    """The stride-1 convolution that gives phase ``r`` along one axis of a transposed convolution.

    Positions ``u = r + t*s`` (``0 <= t < count``) of the unpadded input receive
    ``y[t - b_k]`` through tap ``k`` whenever ``k*d - r - lo = b_k*s``. Returns
    ``(count, taps, y_start, y_stop, sub_dilation)``: ``taps`` in *reversed* order
    read ``y`` at ``t + y_start + j*sub_dilation`` (``y`` is zero outside
    ``[0, size_out)``; ``[y_start, y_stop)`` is the range read), or ``None`` when
    the phase receives nothing.
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
def _phase_convs(in_shape, out_shape, kernel, stride, dilation, pads):
    """Per stride phase (row-major), the per-axis :func:`_phase_taps`, or ``None`` if the phase is zero
    (cached per geometry; all arguments are tuples)."""
    result = []
    for phase in itertools.product(*(range(s) for s in stride)):
        axes = [_phase_taps(i, o, k, s, d, lo, r)
                for i, o, k, s, d, (lo, _), r in zip(in_shape, out_shape, kernel, stride, dilation, pads, phase)]
        result.append(None if any(a is None for a in axes) else tuple(axes))
    return tuple(result)


def _transpose_by_phases(y, w, in_shape, stride, groups, phases, bias):
    """``gx[..., r::stride]`` is a stride-1 convolution of ``y`` with the taps of
    phase ``r``, flipped, in/out channels swapped (sub-pixel decomposition)."""
    n_batch, out_ch = y.shape[:2]
    cg = w.shape[1]
    kernel = tuple(w.shape[2:])
    channels = cg * groups
    og = out_ch // groups
    n_sp = len(kernel)
    gx = np.empty((n_batch, channels) + tuple(in_shape), dtype=y.dtype)
    # weight of the phase convolutions: input channels O (of y), output channels C
    w_swapped = w.reshape((groups, og, cg) + kernel).swapaxes(1, 2).reshape((channels, og) + kernel)
    for phase, axes in zip(itertools.product(*(range(s) for s in stride)), phases):
        dst = gx[(slice(None), slice(None)) + tuple(slice(r, None, s) for r, s in zip(phase, stride))]
        if dst.size == 0:
            continue
        if axes is None:
            dst[...] = 0 if bias is None else bias.reshape((channels,) + (1,) * n_sp)
            continue
        w_phase = w_swapped[np.ix_(range(channels), range(og), *(a[1] for a in axes))]
        crop = tuple(slice(max(a[2], 0), min(a[3], o)) for a, o in zip(axes, y.shape[2:]))
        phase_pads = tuple((max(-a[2], 0), max(a[3] - o, 0)) for a, o in zip(axes, y.shape[2:]))
        conv_nd(y[(slice(None), slice(None)) + crop], w_phase, (1,) * n_sp, phase_pads,
                tuple(a[4] for a in axes), groups, tuple(a[0] for a in axes), bias=bias, out=dst)
    return gx


# ---------------------------------------------------------------- weight gradient
def _weight_grad_band(scratch: _Scratch, grid: PhaseGrid, col: np.ndarray, gy: np.ndarray,
                      m0: int, m1: int, groups: int) -> np.ndarray:
    """One band's share of ``gwᵀ`` ``(g, C/g*K, O/g)``: ``col @ gyᵀ`` with ``col`` ``(g, C/g*K, cols)``
    and ``gy`` placed on the band's grid columns (zero between the outputs) in its plain
    ``(g, O/g, cols)`` layout, passed to the GEMM as a transposed operand: as fast as a
    contiguous transposed copy of ``gy`` (measured for O/g from 1 to 128), without the copy."""
    out_ch = gy.shape[1]
    plain = grid.place(gy, scratch.get("ygrid", (out_ch, gy.shape[0], m1 - m0)), m0)
    return np.matmul(col, plain.reshape(groups, out_ch // groups, -1).transpose(0, 2, 1))


def conv_weight_grad(x: np.ndarray, gy: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                     pads: Pads, dilation: Sequence[int], groups: int) -> np.ndarray:
    """Gradient of ``sum(conv_nd(x, w) * gy)`` in ``w``: the correlation of the
    input with the output gradient, ``(O, C/g, *kernel)``:
    ``gw[o, c, *k] = sum_{n, p} gy[n, o, *p] * xpad[n, g(o)*C/g + c, *(p * stride + k * dilation)]``.
    """
    n_batch, channels = x.shape[:2]
    out_ch = gy.shape[1]
    kernel = tuple(kernel)
    out_shape = tuple(gy.shape[2:])
    cg = channels // groups
    og = out_ch // groups
    kk = math.prod(kernel)
    grid = phase_grid(x.shape[2:], kernel, stride, dilation, pads, out_shape=out_shape)
    gw_t = np.zeros((groups, cg * kk, og), dtype=x.dtype)  # gwᵀ per group
    with _Scratch(x.dtype) as scratch:
        for c0, c1 in _batch_chunks(n_batch, grid.image_bytes(channels, x.itemsize)):
            nb = c1 - c0
            img = _phase_images(scratch, grid, x[c0:c1])
            for band in _bands(grid, nb, channels * kk * x.itemsize):
                n0, n1, m0, m1 = band
                col = _columns(scratch, grid, img, band).reshape(groups, cg * kk, -1)
                gw_t += _weight_grad_band(scratch, grid, col, gy[c0 + n0:c0 + n1], m0, m1, groups)
    return np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape((out_ch, cg) + kernel)
