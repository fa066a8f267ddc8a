"""The fast convolution engine: forward and weight gradient (the transposed direction is in
:mod:`.transpose`, unpadded stride-1 tiles in :mod:`.valid`). Same results as
:mod:`cnnkit._core.conv_reference`, which explains the math; this file is about speed.

Algorithm: im2col on a *phase grid* (:mod:`.grid`) and one GEMM per band. The padded input
is rearranged once into ``prod(stride)`` channel-major phase images; kernel offset ``k``
then reads one contiguous range per channel and sample, ``G[r_k][c, n, shift_k : shift_k +
span]``, for every stride and dilation. With the samples ``n`` and grid columns ``m`` of a band:

* forward: ``col[(c, k), (n, m)] = G[r_k][c, n, m + shift_k]`` (one slice copy per offset;
  with stride 1 the shifts form a lattice and all offsets are one strided-view copy), then
  per group ``out = W (O/g, C/g*K) @ col``, a single 2-D GEMM over every position of the band;
  the grid's extra columns are cropped when the band is written out (with the bias);
* weight gradient: ``gwᵀ += col @ gyᵀ`` (``gy`` placed on the grid, in its plain layout, as a
  transposed GEMM operand).

Three levels of cutting, all from sizes alone (never from the thread count):

1. :mod:`.tiles`: the call is cut into independent tiles (samples, then rows), each a small
   convolution of an input window, run in parallel (:mod:`.threads`); the weight gradient's
   per-tile partial sums are added in tile order;
2. batch chunks: a tile's phase images stay under :data:`GRID_BUDGET_BYTES` (at least one sample);
3. bands: several samples, or grid rows of one sample, whose column matrix stays under
   :data:`COL_BUDGET_BYTES`, sized for the caches.

Scratch buffers come from :mod:`.scratch` (per thread, kept between calls). With stride 1 and
no padding the tiles skip the phase grid altogether (:mod:`.valid`: windows straight from the
input, each sample's GEMM written straight into the output).
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np

from ..window import Pads
from . import threads, tiles
from .grid import PhaseGrid, phase_grid, strided
from .scratch import Scratch

#: Upper bound on the column matrix of one band (bytes): sized for the caches.
COL_BUDGET_BYTES = 4 * 2**20
#: Upper bound on the phase images of one batch chunk (bytes); at least one sample.
GRID_BUDGET_BYTES = 64 * 2**20
#: Upper bound on the weight gradient's per-tile partial sums held at once (bytes).
PARTIALS_BUDGET_BYTES = 64 * 2**20


# ---------------------------------------------------------------- chunks and bands
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


def phase_images(scratch: Scratch, grid: PhaseGrid, x: np.ndarray) -> np.ndarray:
    """The phase images of ``x`` ``(nb, C, *S)``: a view of ``x`` when possible (stride 1, no
    padding, one sample or one channel), else built in the scratch buffer."""
    img = grid.image_view(x)
    if img is None:
        img = grid.build(x, scratch.get("grid", grid.image_shape(x.shape[1], x.shape[0])))
    return img


def _columns(scratch: Scratch, grid: PhaseGrid, img: np.ndarray, band) -> np.ndarray:
    """im2col of a band: ``col[c, k, n, m] = G[r_k][c, n, m + shift_k]``, ``(C, K, n1 - n0, m1 - m0)``."""
    n0, n1, m0, m1 = band
    col = scratch.get("col", (img.shape[1], len(grid.taps), n1 - n0, m1 - m0))
    if grid.tap_strides is not None:  # one phase: every offset in one strided-view copy
        item = img.itemsize
        view = strided(img, (n0 * img.shape[3] + m0) * item, (img.shape[1],) + grid.kernel + (n1 - n0, m1 - m0),
                       (img.strides[1],) + tuple(t * item for t in grid.tap_strides) + img.strides[2:])
        col.reshape(view.shape)[...] = view
        return col
    for k, (phase, shift) in enumerate(grid.taps):
        col[:, k] = img[phase, :, n0:n1, m0 + shift:m1 + shift]
    return col


# ---------------------------------------------------------------- tiles
class ConvTile(NamedTuple):
    """One tile of a forward convolution: where it reads ``x``, where it writes, its grid."""

    x_index: tuple
    out_index: tuple
    grid: PhaseGrid


def _ints(v) -> tuple[int, ...]:
    return tuple(int(i) for i in v)


@functools.lru_cache(maxsize=512)
def _forward_plan(x_shape, kernel, stride, pads, dilation, out_shape, itemsize, max_tiles, tile_bytes):
    """The tiles of a forward convolution (cached per geometry; ``tile_bytes`` is part of the
    key so that a changed budget gives a new plan)."""
    n_batch, channels = x_shape[:2]
    spatial = x_shape[2:]
    full = phase_grid(spatial, kernel, stride, dilation, pads, out_shape=out_shape)
    bytes_per_row = channels * math.prod(kernel) * itemsize * full.row_len
    plan = []
    for t in tiles.split(n_batch, out_shape[0], bytes_per_row, max_tiles):
        if (t.r0, t.r1) == (0, out_shape[0]):
            i0, i1, sub_pads, grid = 0, spatial[0], pads, full
        else:
            i0, i1, first = tiles.forward_window(t.r0, t.r1, spatial[0], kernel[0], stride[0], dilation[0], pads[0])
            sub_pads = tiles.with_first(pads, first)
            grid = phase_grid((i1 - i0,) + spatial[1:], kernel, stride, dilation, sub_pads,
                              out_shape=(t.r1 - t.r0,) + out_shape[1:])
        plan.append(ConvTile((slice(t.n0, t.n1), slice(None), slice(i0, i1)),
                             (slice(t.n0, t.n1), slice(None), slice(t.r0, t.r1)), grid))
    return tuple(plan)


def forward_plan(x_shape, kernel, stride, pads, dilation, out_shape, itemsize, max_tiles=None):
    """:func:`_forward_plan` with its arguments normalised to tuples of ints."""
    return _forward_plan(_ints(x_shape), _ints(kernel), _ints(stride), tuple(_ints(p) for p in pads),
                         _ints(dilation), _ints(out_shape), int(itemsize), max_tiles,
                         tiles.TILE_BYTES)


def _band_columns(scratch: Scratch, grid: PhaseGrid, x: np.ndarray, groups: int):
    """For every band of ``x`` ``(nb, C, *S)``: ``(c0, band, col)``, the band's column matrix
    ``col`` ``(g, C/g*K, n*m)`` (samples of the band counted from the batch chunk's ``c0``)."""
    nb, channels = x.shape[:2]
    kk = len(grid.taps)
    for c0, c1 in _batch_chunks(nb, grid.image_bytes(channels, x.itemsize)):
        img = phase_images(scratch, grid, x[c0:c1])
        for band in _bands(grid, c1 - c0, channels * kk * x.itemsize):
            n0, n1, m0, m1 = band
            yield c0, band, _columns(scratch, grid, img, band).reshape(groups, -1, (n1 - n0) * (m1 - m0))


# ---------------------------------------------------------------- forward
def forward_tile(x: np.ndarray, w_mat: np.ndarray, grid: PhaseGrid, out: np.ndarray,
                 bias: np.ndarray | None) -> None:
    """One tile, single-threaded: ``out`` ``(nb, O, *Out_t)`` = conv of ``x`` ``(nb, C, *S_t)``
    with ``w_mat`` ``(g, O/g, C/g*K)``, plus ``bias`` (broadcastable to ``(O, *Out_t)``)."""
    groups, og = w_mat.shape[:2]
    with Scratch(x.dtype) as scratch:
        for c0, (n0, n1, m0, m1), col in _band_columns(scratch, grid, x, groups):
            res = np.matmul(w_mat, col, out=scratch.get("res", (groups, og, col.shape[2])))
            valid = grid.outputs(res.reshape(groups * og, n1 - n0, m1 - m0), m0).swapaxes(0, 1)
            r0 = m0 // grid.row_len
            dst = out[c0 + n0:c0 + n1, :, r0:r0 + valid.shape[2]]
            if bias is not None:
                np.add(valid, bias, out=dst)
            else:
                dst[...] = valid


def forward_tasks(x: np.ndarray, w: np.ndarray, stride, pads: Pads, dilation, groups: int, out: np.ndarray,
                  bias: np.ndarray | None = None) -> list[Callable[[], None]]:
    """The tiles of ``out = conv_nd(x, w) + bias`` as argument-free tasks (``out`` preallocated,
    possibly a strided view)."""
    from . import valid  # noqa: PLC0415 (valid imports this module)

    kernel = tuple(w.shape[2:])
    plan = forward_plan(x.shape, kernel, stride, pads, dilation, out.shape[2:], x.itemsize)
    w_mat = w.reshape(groups, w.shape[0] // groups, -1)
    if valid.applies(stride, pads, out):
        return [functools.partial(valid.forward_tile, x[t.x_index], w_mat, kernel, dilation, out[t.out_index], bias)
                for t in plan]
    b = None if bias is None else bias.reshape((w.shape[0],) + (1,) * len(kernel))
    return [functools.partial(forward_tile, x[t.x_index], w_mat, t.grid, out[t.out_index], b) for t in plan]


def conv_nd(x: np.ndarray, w: np.ndarray, stride: Sequence[int], pads: Pads, dilation: Sequence[int],
            groups: int, out_shape: Sequence[int], bias: np.ndarray | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlation ``(N, C, *S)`` * ``(O, C/g, *K)`` -> ``(N, O, *out_shape)``, plus ``bias``
    (see :func:`cnnkit._core.conv_reference.conv_nd`); ``out``, when given, is written into."""
    if out is None:
        out = np.empty((x.shape[0], w.shape[0]) + tuple(out_shape), dtype=x.dtype)
    threads.run_tasks(forward_tasks(x, w, stride, pads, dilation, groups, out, bias))
    return out


# ---------------------------------------------------------------- weight gradient
def weight_grad_tile(x: np.ndarray, gy: np.ndarray, grid: PhaseGrid, groups: int) -> np.ndarray:
    """One tile's share of ``gwᵀ`` ``(g, C/g*K, O/g)``, single-threaded: per band ``col @ gyᵀ``
    with ``gy`` placed on the band's grid columns (zero between the outputs) in its plain
    ``(g, O/g, cols)`` layout, a transposed GEMM operand; bands are added in order."""
    out_ch = gy.shape[1]
    gw_t = None
    with Scratch(x.dtype) as scratch:
        for c0, (n0, n1, m0, m1), col in _band_columns(scratch, grid, x, groups):
            plain = grid.place(gy[c0 + n0:c0 + n1], scratch.get("ygrid", (out_ch, n1 - n0, m1 - m0)), m0)
            part = np.matmul(col, plain.reshape(groups, out_ch // groups, -1).transpose(0, 2, 1))
            if gw_t is None:
                gw_t = part
            else:
                gw_t += part
    return gw_t


def conv_weight_grad(x: np.ndarray, gy: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                     pads: Pads, dilation: Sequence[int], groups: int) -> np.ndarray:
    """Gradient of ``sum(conv_nd(x, w) * gy)`` in ``w``, ``(O, C/g, *kernel)`` (see
    :func:`cnnkit._core.conv_reference.conv_weight_grad`); tile partial sums added in tile order."""
    channels = x.shape[1]
    out_ch = gy.shape[1]
    kernel = tuple(kernel)
    cg = channels // groups
    partial_bytes = channels * math.prod(kernel) * (out_ch // groups) * x.itemsize
    plan = forward_plan(x.shape, kernel, stride, pads, dilation, gy.shape[2:], x.itemsize,
                        max_tiles=max(1, PARTIALS_BUDGET_BYTES // partial_bytes))
    from . import valid  # noqa: PLC0415

    if valid.geometry(stride, pads):
        tasks = [functools.partial(valid.weight_grad_tile, x[t.x_index], gy[t.out_index], kernel, dilation, groups)
                 for t in plan]
    else:
        tasks = [functools.partial(weight_grad_tile, x[t.x_index], gy[t.out_index], t.grid, groups) for t in plan]
    parts = threads.run_tasks(tasks)
    gw_t = parts[0]
    for part in parts[1:]:
        gw_t += part
    return np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape((out_ch, cg) + kernel)
