"""Guard for the fast paths of the convolution core (cnnkit/_core/conv.py).

Every branch the core takes is compared with PyTorch (forward and the
gradients of input, weight and bias), float32 and float64:

* dense (``groups=1``), grouped (``groups=2``), depthwise (``groups=C``) and
  depthwise with multiplier 2 (``out = 2 C``);
* stride 1-3, dilation 1-2, padding 0 / 1 / asymmetric ``(before, after)``;
* conv1d, conv2d, conv3d and the transposed 1-D / 2-D ones with ``output_padding``;
* the chunking of the im2col scratch buffer: the whole batch in one chunk,
  several samples per chunk, one sample per chunk, and one sample split into
  bands of output rows (forced by shrinking ``COL_BUDGET_BYTES``).

Shapes are small so the whole file runs in a few seconds; the exhaustive
grid lives in the main convolution tests.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit._core import conv as core
from tests.helpers import compare_with_torch, torch

TF = torch.nn.functional if torch is not None else None
pytestmark = pytest.mark.skipif(torch is None, reason="PyTorch is required")

DTYPES = (np.float32, np.float64)
# (name, groups(C), out_channels(C)) for C input channels
GROUPINGS = {
    "dense": (lambda c: 1, lambda c: 3),
    "groups2": (lambda c: 2, lambda c: 6),
    "depthwise": (lambda c: c, lambda c: c),
    "depthwise_x2": (lambda c: c, lambda c: 2 * c),
}
# bytes: whole batch in one chunk / some samples per chunk / row bands of one sample
BUDGETS = {"default": None, "per_samples": 6000, "row_bands": 300}


def _torch_pad(x, pads):
    """Apply ``((before, after), ...)`` padding on a torch tensor (last axis first for F.pad)."""
    flat = [v for pair in reversed(pads) for v in pair]
    return TF.pad(x, flat)


def _pads(kind: str, n: int):
    if kind == "0":
        return 0, ((0, 0),) * n
    if kind == "1":
        return 1, ((1, 1),) * n
    pairs = ((1, 0), (2, 1), (0, 2))[:n]
    return pairs, pairs


def _conv_case(n, grouping, stride, dilation, pad_kind, dtype, bias, budget, monkeypatch, seed):
    if BUDGETS[budget] is not None:
        monkeypatch.setattr(core, "COL_BUDGET_BYTES", BUDGETS[budget])
    channels = 4
    groups = GROUPINGS[grouping][0](channels)
    out_ch = GROUPINGS[grouping][1](channels)
    spatial = (9, 8, 7)[:n]
    kernel = (3, 2, 3)[:n]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, channels) + spatial).astype(dtype)
    w = rng.standard_normal((out_ch, channels // groups) + kernel).astype(dtype)
    b = rng.standard_normal(out_ch).astype(dtype)
    padding, pairs = _pads(pad_kind, n)
    ck = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    th = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}[n]
    inputs = [x, w, b] if bias else [x, w]
    config = (f"conv{n}d {grouping} stride={stride} dilation={dilation} padding={padding} "
              f"{np.dtype(dtype).name} bias={bias} budget={budget}")
    compare_with_torch(
        lambda x, w, b=None: ck(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups),
        lambda x, w, b=None: th(_torch_pad(x, pairs), w, b, stride=stride, dilation=dilation, groups=groups),
        inputs, config=config, seed=seed)


CONV2D_GRID = list(itertools.product(GROUPINGS, (1, 2, 3), (1, 2), ("0", "1", "asym"), DTYPES))


@pytest.mark.parametrize("grouping,stride,dilation,pad_kind,dtype", CONV2D_GRID)
def test_conv2d_fast_paths(grouping, stride, dilation, pad_kind, dtype, monkeypatch):
    seed = CONV2D_GRID.index((grouping, stride, dilation, pad_kind, dtype))
    budget = tuple(BUDGETS)[seed % 3]
    _conv_case(2, grouping, stride, dilation, pad_kind, dtype, seed % 2 == 0, budget, monkeypatch, seed)


CONV1D_GRID = list(itertools.product(GROUPINGS, (1, 2, 3), (1, 2), ("0", "1", "asym"), DTYPES))


@pytest.mark.parametrize("grouping,stride,dilation,pad_kind,dtype", CONV1D_GRID)
def test_conv1d_fast_paths(grouping, stride, dilation, pad_kind, dtype, monkeypatch):
    seed = CONV1D_GRID.index((grouping, stride, dilation, pad_kind, dtype))
    budget = tuple(BUDGETS)[(seed + 1) % 3]
    _conv_case(1, grouping, stride, dilation, pad_kind, dtype, seed % 2 == 1, budget, monkeypatch, seed)


@pytest.mark.parametrize("budget", tuple(BUDGETS))
@pytest.mark.parametrize("grouping", tuple(GROUPINGS))
def test_conv_chunking_branches(grouping, budget, monkeypatch):
    """Every grouping under every chunking of the scratch buffer (2-D, stride 2, dilation 2)."""
    for dtype in DTYPES:
        _conv_case(2, grouping, 2, 2, "asym", dtype, True, budget, monkeypatch, seed=7)
        _conv_case(2, grouping, 1, 1, "1", dtype, True, budget, monkeypatch, seed=8)


@pytest.mark.parametrize("grouping", tuple(GROUPINGS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv3d_same_core(grouping, dtype, monkeypatch):
    _conv_case(3, grouping, 2, 1, "asym", dtype, True, "default", monkeypatch, seed=3)
    _conv_case(3, grouping, 1, 2, "1", dtype, False, "row_bands", monkeypatch, seed=4)


TRANSPOSE_GRID = [
    (n, grouping, stride, dilation, padding, output_padding, dtype)
    for n, grouping, stride, dilation, padding, output_padding, dtype in itertools.product(
        (1, 2), GROUPINGS, (1, 2, 3), (1, 2), (0, 1), (0, 1), DTYPES)
    if output_padding < max(stride, dilation)
]


@pytest.mark.parametrize("n,grouping,stride,dilation,padding,output_padding,dtype", TRANSPOSE_GRID)
def test_conv_transpose_fast_paths(n, grouping, stride, dilation, padding, output_padding, dtype, monkeypatch):
    seed = TRANSPOSE_GRID.index((n, grouping, stride, dilation, padding, output_padding, dtype))
    budget = tuple(BUDGETS)[seed % 3]
    if BUDGETS[budget] is not None:
        monkeypatch.setattr(core, "COL_BUDGET_BYTES", BUDGETS[budget])
    channels = 4
    groups = GROUPINGS[grouping][0](channels)
    # transposed weight layout (in, out/groups, *K)
    out_per_group = GROUPINGS[grouping][1](channels) // groups
    spatial = (6, 5)[:n]
    kernel = (3, 4)[:n]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, channels) + spatial).astype(dtype)
    w = rng.standard_normal((channels, out_per_group) + kernel).astype(dtype)
    b = rng.standard_normal(out_per_group * groups).astype(dtype)
    ck = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[n]
    th = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d}[n]
    config = (f"conv_transpose{n}d {grouping} stride={stride} dilation={dilation} padding={padding} "
              f"output_padding={output_padding} {np.dtype(dtype).name} budget={budget}")
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    compare_with_torch(lambda x, w, b: ck(x, w, b, **kw), lambda x, w, b: th(x, w, b, **kw),
                       [x, w, b], config=config, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose_asymmetric_padding(dtype):
    """Asymmetric padding of a transposed convolution crops the full output (PyTorch lacks the form)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 5, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 4)).astype(dtype)
    pads = ((1, 0), (0, 2))

    def ref(x, w):
        full = TF.conv_transpose2d(x, w, stride=2)
        return full[:, :, 1:full.shape[2], 0:full.shape[3] - 2]

    compare_with_torch(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=pads), ref, [x, w],
                       config=f"conv_transpose2d asymmetric {pads} {np.dtype(dtype).name}")


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
