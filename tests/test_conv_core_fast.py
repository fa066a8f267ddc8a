"""Guard for the fast paths of the convolution engine (cnnkit/_core/fast/).

Every branch the core takes is compared with PyTorch (forward and the
gradients of input, weight and bias), float32 and float64:

* dense (``groups=1``), grouped (``groups=2``), depthwise (``groups=C``) and
  depthwise with multiplier 2 (``out = 2 C``);
* stride 1-3, dilation 1-2, padding 0 / 1 / asymmetric ``(before, after)``;
* conv1d, conv2d, conv3d and the transposed 1-D / 2-D ones with ``output_padding``;
* the chunking: the whole batch in one chunk, one sample per batch chunk
  (``GRID_BUDGET_BYTES``), several samples per band, one grid row per band
  (``COL_BUDGET_BYTES``), and tiles of samples or of rows (``tiles.TILE_BYTES``),
  forced by shrinking the budgets;
* both algorithms of the transposed direction (scatter / phase convolutions),
  forced, besides the automatic choice.

:func:`test_every_branch_is_exercised` records which branches the grid below
actually reaches and fails if one is never taken, so a change of a branch
condition cannot silently leave a fast path untested. Shapes are small: the
file runs in a few seconds; the exhaustive grid lives in the main conv tests.
"""
from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit._core.fast import conv as core
from cnnkit._core.fast import tiles
from cnnkit._core.fast import transpose as tr
from cnnkit._core.fast import valid
from tests.helpers import available, compare_with_torch, torch

TF = torch.nn.functional
pytestmark = pytest.mark.skipif(not available(torch), reason="torch is not installed (the oracle of every test here)")

DTYPES = (np.float32, np.float64)
# name -> (groups, out_channels) as functions of the input channels C
GROUPINGS = {
    "dense": (lambda c: 1, lambda c: 3),
    "groups2": (lambda c: 2, lambda c: 6),
    "depthwise": (lambda c: c, lambda c: c),
    "depthwise_x2": (lambda c: c, lambda c: 2 * c),
}
# chunking modes: monkeypatched budgets (bytes) of the engine (core) and of the tiling
MODES = {
    "default": {},
    "sample_chunks": {"GRID_BUDGET_BYTES": 1},  # one sample per batch chunk
    "sample_bands": {"COL_BUDGET_BYTES": 3000},  # a few samples per band (small shapes)
    "row_bands": {"COL_BUDGET_BYTES": 1, "GRID_BUDGET_BYTES": 1},  # one grid row per band
    "sample_tiles": {"tiles.TILE_BYTES": 12000},  # tiles of a few samples
    "row_tiles": {"tiles.TILE_BYTES": 1},  # tiles of one row
}
TRANSPOSE = ("auto", "scatter", "phases")


@pytest.fixture(autouse=True)
def _torch_single_thread():
    """The oracle's tiny ops are fastest single-threaded (and do not spin on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _set_mode(monkeypatch, mode: str, algorithm: str = "auto") -> None:
    for name, value in MODES[mode].items():
        module, attr = (tiles, name[6:]) if name.startswith("tiles.") else (core, name)
        monkeypatch.setattr(module, attr, value)
    if algorithm != "auto":
        monkeypatch.setattr(tr, "choose", lambda *a: algorithm)


def _torch_pad(x, pads):
    """Apply ``((before, after), ...)`` padding on a torch tensor (last axis first for F.pad)."""
    return TF.pad(x, [v for pair in reversed(pads) for v in pair])


def _pads(kind: str, n: int):
    if kind == "0":
        return 0, ((0, 0),) * n
    if kind == "1":
        return 1, ((1, 1),) * n
    pairs = ((1, 0), (2, 1), (0, 2))[:n]
    return pairs, pairs


def _conv_case(n, grouping, stride, dilation, pad_kind, dtype, bias, seed, batch=3):
    channels = 4
    groups = GROUPINGS[grouping][0](channels)
    out_ch = GROUPINGS[grouping][1](channels)
    spatial = (9, 8, 7)[:n]
    kernel = (3, 2, 3)[:n]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels) + spatial).astype(dtype)
    w = rng.standard_normal((out_ch, channels // groups) + kernel).astype(dtype)
    b = rng.standard_normal(out_ch).astype(dtype)
    padding, pairs = _pads(pad_kind, n)
    ck = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    th = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}[n]
    config = (f"conv{n}d {grouping} stride={stride} dilation={dilation} padding={padding} "
              f"{np.dtype(dtype).name} bias={bias} seed={seed}")
    compare_with_torch(
        lambda x, w, b=None: ck(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups),
        lambda x, w, b=None: th(_torch_pad(x, pairs), w, b, stride=stride, dilation=dilation, groups=groups),
        [x, w, b] if bias else [x, w], config=config, seed=seed)


def _transpose_case(n, grouping, stride, dilation, padding, output_padding, dtype, seed, batch=2):
    channels = 4
    groups = GROUPINGS[grouping][0](channels)
    out_per_group = GROUPINGS[grouping][1](channels) // groups  # weight layout (in, out/groups, *K)
    spatial = (6, 5)[:n]
    kernel = (3, 4)[:n]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels) + spatial).astype(dtype)
    w = rng.standard_normal((channels, out_per_group) + kernel).astype(dtype)
    b = rng.standard_normal(out_per_group * groups).astype(dtype)
    ck = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[n]
    th = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d}[n]
    config = (f"conv_transpose{n}d {grouping} stride={stride} dilation={dilation} padding={padding} "
              f"output_padding={output_padding} {np.dtype(dtype).name} seed={seed}")
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    compare_with_torch(lambda x, w, b: ck(x, w, b, **kw), lambda x, w, b: th(x, w, b, **kw),
                       [x, w, b], config=config, seed=seed)


# ------------------------------------------------------------------ grids
CONV_GRID = list(itertools.product((1, 2), GROUPINGS, (1, 2, 3), (1, 2), ("0", "1", "asym"), DTYPES))


@pytest.mark.parametrize("n,grouping,stride,dilation,pad_kind,dtype", CONV_GRID)
def test_conv_fast_paths(n, grouping, stride, dilation, pad_kind, dtype, monkeypatch):
    seed = CONV_GRID.index((n, grouping, stride, dilation, pad_kind, dtype))
    mode = tuple(MODES)[seed % len(MODES)]
    # the convolution's input gradient runs through the transposed algorithms too
    transpose = TRANSPOSE[(seed // len(MODES)) % len(TRANSPOSE)]
    _set_mode(monkeypatch, mode, transpose)
    _conv_case(n, grouping, stride, dilation, pad_kind, dtype, seed % 2 == 0, seed)


TRANSPOSE_GRID = [
    case for case in itertools.product((1, 2), GROUPINGS, (1, 2, 3), (1, 2), (0, 1), (0, 1), DTYPES)
    if case[5] < max(case[2], case[3])  # output_padding < max(stride, dilation)
]


@pytest.mark.parametrize("n,grouping,stride,dilation,padding,output_padding,dtype", TRANSPOSE_GRID)
def test_conv_transpose_fast_paths(n, grouping, stride, dilation, padding, output_padding, dtype, monkeypatch):
    seed = TRANSPOSE_GRID.index((n, grouping, stride, dilation, padding, output_padding, dtype))
    _set_mode(monkeypatch, tuple(MODES)[seed % len(MODES)], TRANSPOSE[seed % len(TRANSPOSE)])
    _transpose_case(n, grouping, stride, dilation, padding, output_padding, dtype, seed)


@pytest.mark.parametrize("transpose", TRANSPOSE)
@pytest.mark.parametrize("mode", tuple(MODES))
@pytest.mark.parametrize("grouping", tuple(GROUPINGS))
def test_every_mode_every_grouping(grouping, mode, transpose, monkeypatch):
    """Each grouping under each chunking mode and transposed algorithm (2-D, both dtypes)."""
    _set_mode(monkeypatch, mode, transpose)
    for dtype in DTYPES:
        _conv_case(2, grouping, 2, 2, "asym", dtype, True, seed=7, batch=5)
        _conv_case(2, grouping, 1, 1, "1", dtype, True, seed=8, batch=5)
        _transpose_case(2, grouping, 3, 1, 1, 2, dtype, seed=9, batch=3)


@pytest.mark.parametrize("transpose", TRANSPOSE)
@pytest.mark.parametrize("grouping", tuple(GROUPINGS))
def test_conv3d_same_core(grouping, transpose, monkeypatch):
    _set_mode(monkeypatch, "default", transpose)
    _conv_case(3, grouping, 2, 1, "asym", np.float64, True, seed=3)
    _set_mode(monkeypatch, "row_bands", transpose)
    _conv_case(3, grouping, (1, 2, 1), 2, "1", np.float32, False, seed=4)
    _set_mode(monkeypatch, "sample_bands", transpose)  # stride 1: the lattice scatter over three kernel axes
    _conv_case(3, grouping, 1, 1, "asym", np.float64, True, seed=5)


@pytest.mark.parametrize("transpose", TRANSPOSE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose_asymmetric_padding(dtype, transpose, monkeypatch):
    """Asymmetric padding of a transposed convolution crops the full output (PyTorch lacks the form)."""
    _set_mode(monkeypatch, "default", transpose)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 5, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 4)).astype(dtype)
    pads = ((1, 0), (0, 2))

    def ref(x, w):
        full = TF.conv_transpose2d(x, w, stride=2)
        return full[:, :, 1:full.shape[2], 0:full.shape[3] - 2]

    compare_with_torch(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=pads), ref, [x, w],
                       config=f"conv_transpose2d asymmetric {pads} {np.dtype(dtype).name} {transpose}")


def _stride_larger_than_kernel_and_input(config: str) -> None:
    rng = np.random.default_rng(12)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
        w = rng.standard_normal((3, 2, 2, 1)).astype(dtype)
        b = rng.standard_normal(2).astype(dtype)
        kw = dict(stride=(3, 4), padding=(1, 0), output_padding=(2, 1))
        compare_with_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                           lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw), [x, w, b],
                           config=f"conv_transpose2d stride>kernel {np.dtype(dtype).name} {config}")
        x = rng.standard_normal((2, 3, 2)).astype(dtype)
        w = rng.standard_normal((5, 3, 2)).astype(dtype)
        compare_with_torch(lambda x, w: F.conv1d(x, w, stride=5), lambda x, w: TF.conv1d(x, w, stride=5),
                           [x, w], config=f"conv1d stride>input {np.dtype(dtype).name} {config}")
        # output_padding 2 < dilation 3: the last outputs lie beyond every window of x
        x = rng.standard_normal((2, 3, 4)).astype(dtype)
        w = rng.standard_normal((3, 2, 2)).astype(dtype)
        kw = dict(dilation=3, output_padding=2)
        compare_with_torch(lambda x, w: F.conv_transpose1d(x, w, **kw), lambda x, w: TF.conv_transpose1d(x, w, **kw),
                           [x, w], config=f"conv_transpose1d output_padding>stride {np.dtype(dtype).name} {config}")


@pytest.mark.parametrize("mode", ("default", "row_tiles"))
@pytest.mark.parametrize("transpose", TRANSPOSE)
def test_stride_larger_than_kernel_and_input(transpose, mode, monkeypatch):
    """Phases that receive no tap (stride > kernel), phases with no position (stride > input),
    and tiles of ``gx`` that no row of ``y`` reaches."""
    _set_mode(monkeypatch, mode, transpose)
    _stride_larger_than_kernel_and_input(f"{transpose} {mode}")


def test_fast_paths_keep_float32():
    """No silent float64 upcast anywhere in the core (forward and every gradient)."""
    import cnnkit

    rng = np.random.default_rng(0)
    for groups, out_ch in ((1, 6), (4, 4), (4, 8)):
        x = cnnkit.Tensor(rng.standard_normal((2, 4, 7, 7)).astype(np.float32), requires_grad=True)
        w = cnnkit.Tensor(rng.standard_normal((out_ch, 4 // groups, 3, 3)).astype(np.float32), requires_grad=True)
        b = cnnkit.Tensor(rng.standard_normal(out_ch).astype(np.float32), requires_grad=True)
        y = F.conv2d(x, w, b, stride=2, padding=1, groups=groups)
        y.backward(np.ones(y.shape, np.float32))
        assert y.dtype == np.float32
        assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_scratch_memory_is_bounded():
    """A large single image: the core's extra memory is about one input copy per
    direction plus the cache-sized column buffer, never a K-times column matrix."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 8, 256, 256)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    pads = ((1, 1), (1, 1))
    gy = rng.standard_normal((1, 8, 256, 256)).astype(np.float32)
    limit = 3 * x.nbytes + 3 * core.COL_BUDGET_BYTES  # the 9x column matrix would be 9 * x.nbytes
    for run in (lambda: core.conv_nd(x, w, (1, 1), pads, (1, 1), 1, (256, 256)),
                lambda: tr.conv_transpose_nd(gy, w, (256, 256), (1, 1), pads, (1, 1), 1),
                lambda: core.conv_weight_grad(x, gy, (3, 3), (1, 1), pads, (1, 1), 1)):
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= limit, f"peak {peak / 2**20:.1f} MiB > {limit / 2**20:.1f} MiB"


# ------------------------------------------------------------------ branch coverage
def _record(monkeypatch, seen):
    """Wrap the engine's branch points so that the branches taken are counted in ``seen``."""
    bands, chunks, split = core._bands, core._batch_chunks, tiles.split
    scatter_tile, phases = tr._scatter_tile, tr._by_phases

    def rec_bands(grid, nb, bytes_per_column):
        for band in bands(grid, nb, bytes_per_column):
            n0, n1, m0, m1 = band
            seen["row band" if (m0, m1) != (0, grid.span) else
                 "several samples per band" if n1 - n0 > 1 else "one sample per band"] += 1
            yield band

    def rec_chunks(n_batch, bytes_per_sample):
        out = list(chunks(n_batch, bytes_per_sample))
        seen["several batch chunks" if len(out) > 1 else "one batch chunk"] += 1
        return iter(out)

    def rec_split(n_batch, rows, bytes_per_row, max_tiles=None):
        out = split(n_batch, rows, bytes_per_row, max_tiles)
        seen["one tile" if len(out) == 1 else
             "row tiles" if any((t.r0, t.r1) != (0, rows) for t in out) else "sample tiles"] += 1
        return out

    def rec_phases(y, w, in_shape, stride, pads, dilation, groups, bias):
        seen["transpose by phases"] += 1
        phase_list = tr.phase_convs(tuple(in_shape), tuple(y.shape[2:]), tuple(w.shape[2:]), tuple(stride),
                                    tuple(dilation), tuple(tuple(p) for p in pads))
        if any(p is None for p in phase_list):
            seen["phase without taps"] += 1
        return phases(y, w, in_shape, stride, pads, dilation, groups, bias)

    def rec_scatter_tile(y, w_t, grid, gx, bias):
        seen["transpose by scatter"] += 1
        if grid is None:
            seen["scatter tile without y"] += 1
        else:
            seen["outer product" if w_t.shape[2] == 1 else "group matmul"] += 1
        return scatter_tile(y, w_t, grid, gx, bias)

    lattice = tr._scatter_lattice

    def rec_lattice(scratch, grid, gcol, img, m0):
        seen["scatter over a tap lattice"] += 1
        return lattice(scratch, grid, gcol, img, m0)

    valid_bands = valid._bands

    def rec_valid_bands(nb, rows, bytes_per_row):
        for band in valid_bands(nb, rows, bytes_per_row):
            seen["unpadded stride 1: " + ("row band" if (band[2], band[3]) != (0, rows) else "sample band")] += 1
            yield band

    columns = core._columns

    def rec_columns(scratch, grid, img, band):
        seen["im2col one strided view" if grid.tap_strides is not None else "im2col per offset"] += 1
        return columns(scratch, grid, img, band)

    core._forward_plan.cache_clear()
    tr._scatter_plan.cache_clear()
    monkeypatch.setattr(core, "_columns", rec_columns)
    monkeypatch.setattr(valid, "_bands", rec_valid_bands)
    monkeypatch.setattr(tr, "_scatter_lattice", rec_lattice)
    monkeypatch.setattr(core, "_bands", rec_bands)
    monkeypatch.setattr(core, "_batch_chunks", rec_chunks)
    monkeypatch.setattr(tiles, "split", rec_split)
    monkeypatch.setattr(tr, "_by_phases", rec_phases)
    monkeypatch.setattr(tr, "_scatter_tile", rec_scatter_tile)
    monkeypatch.setattr(tr, "_bands", rec_bands)
    monkeypatch.setattr(tr, "_batch_chunks", rec_chunks)


def test_every_branch_is_exercised(monkeypatch):
    """The cases above reach every branch of the engine (re-run a representative subset here)."""
    seen = collections.Counter()
    _record(monkeypatch, seen)
    for mode, transpose, grouping in itertools.product(tuple(MODES), ("auto", "scatter", "phases"), GROUPINGS):
        with monkeypatch.context() as m:
            _set_mode(m, mode, transpose)
            _conv_case(2, grouping, 2, 2, "asym", np.float32, True, seed=7, batch=5)
            _transpose_case(2, grouping, 3, 1, 1, 2, np.float64, seed=9, batch=3)
            _conv_case(2, grouping, 1, 2, "0", np.float32, True, seed=10, batch=3)  # unpadded stride 1
    with monkeypatch.context() as m:
        _set_mode(m, "row_tiles", "scatter")
        _stride_larger_than_kernel_and_input("branches")
    core._forward_plan.cache_clear()
    tr._scatter_plan.cache_clear()
    expected = {"row band", "several samples per band", "one sample per band", "several batch chunks",
                "one batch chunk", "transpose by phases", "transpose by scatter", "phase without taps",
                "outer product", "group matmul", "im2col one strided view", "im2col per offset",
                "one tile", "sample tiles", "row tiles", "scatter tile without y",
                "unpadded stride 1: row band", "unpadded stride 1: sample band", "scatter over a tap lattice"}
    assert expected <= set(seen), f"branches never taken: {expected - set(seen)} (seen {dict(seen)})"
    # the automatic choice picks each algorithm somewhere in the benchmark shapes
    def choice(x_shape, w_shape, stride, pad):
        n = len(x_shape) - 2
        out = tuple((s + 2 * pad - k) // st + 1 for s, k, st in zip(x_shape[2:], w_shape[2:], stride))
        return tr.choose(x_shape[2:], out, w_shape[2:], stride, (1,) * n, ((pad, pad),) * n,
                         w_shape[0], w_shape[1], 1)

    assert choice((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), 1) == "phases"  # dense 3x3: gather beats +=
    assert choice((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), 0) == "scatter"  # LeNet conv2: C < O, small image


# ------------------------------------------------------------------ phase images as a view
# (channels, batch): one sample or one channel; groups 1 or depthwise
VIEW_GRID = list(itertools.product((1, 2), ((1, 3), (1, 1), (4, 1)), (1, 2), ("dense", "depthwise"), DTYPES))


@pytest.mark.parametrize("n,shape,dilation,grouping,dtype", VIEW_GRID)
def test_unpadded_stride1_uses_a_view(n, shape, dilation, grouping, dtype):
    """Stride 1, no padding, one channel or one sample: the phase image is the input itself
    (no copy); forward and every gradient still match PyTorch (the weight gradient reads the view)."""
    from cnnkit._core.fast.grid import phase_grid

    channels, batch = shape
    groups = channels if grouping == "depthwise" else 1
    rng = np.random.default_rng(channels * 10 + batch + dilation)
    spatial, kernel = (9, 8)[:n], (3, 2)[:n]
    x = rng.standard_normal((batch, channels) + spatial).astype(dtype)
    w = rng.standard_normal((3 * groups if groups > 1 else 3, channels // groups) + kernel).astype(dtype)
    b = rng.standard_normal(w.shape[0]).astype(dtype)
    grid = phase_grid(spatial, kernel, (1,) * n, (dilation,) * n, ((0, 0),) * n)
    view = grid.image_view(x)
    assert view is not None and np.shares_memory(view, x)
    ck = {1: F.conv1d, 2: F.conv2d}[n]
    th = {1: TF.conv1d, 2: TF.conv2d}[n]
    compare_with_torch(lambda x, w, b: ck(x, w, b, dilation=dilation, groups=groups),
                       lambda x, w, b: th(x, w, b, dilation=dilation, groups=groups), [x, w, b],
                       config=f"conv{n}d view C={channels} N={batch} dilation={dilation} groups={groups} "
                              f"{np.dtype(dtype).name}")


def test_image_view_refused_when_it_would_not_be_the_layout():
    """Padding, stride > 1, or several samples *and* channels: no view (the images are built)."""
    from cnnkit._core.fast.grid import phase_grid

    x = np.zeros((2, 3, 6, 6), np.float32)
    assert phase_grid((6, 6), (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))).image_view(x) is None
    assert phase_grid((6, 6), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))).image_view(x[:1]) is None
    assert phase_grid((6, 6), (3, 3), (2, 2), (1, 1), ((0, 0), (0, 0))).image_view(x[:, :1]) is None
    assert phase_grid((6, 6), (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))).image_view(x[:, :1, :, ::-1]) is None


@pytest.mark.parametrize("transpose", TRANSPOSE)
def test_tiles_reading_only_padding(transpose, monkeypatch):
    """Padding wider than the kernel: tiles of one output row whose window holds no input row."""
    _set_mode(monkeypatch, "row_tiles", transpose)
    rng = np.random.default_rng(13)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
        w = rng.standard_normal((4, 3, 2, 2)).astype(dtype)
        b = rng.standard_normal(4).astype(dtype)
        compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, padding=(4, 3)),
                           lambda x, w, b: TF.conv2d(x, w, b, padding=(4, 3)), [x, w, b],
                           config=f"conv2d padding > kernel {np.dtype(dtype).name} {transpose}")
