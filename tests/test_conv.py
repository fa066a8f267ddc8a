"""The convolution family against PyTorch and float64 finite differences.

* a seeded, balanced grid of conv1d/conv2d cases (every factor's values appear
  about equally often, paired at random): kernel 1-7 (even, non-square), stride
  1-3, every padding form, dilation 1-3, groups (1, 2, depthwise, depth
  multiplier 2), bias, batch 1-4 and unbatched, float32 and float64;
* the same for conv_transpose1d/2d (stride, padding, output_padding, dilation,
  groups, and the Keras ``padding="same"``);
* finite-difference gradchecks without torch, adjointness, the seed's example,
  bad-input errors and a memory bound.

Forms PyTorch lacks are compared with PyTorch on an equivalent input:
asymmetric padding on an input pre-padded with ``torch.nn.functional.pad``,
TF "same" with stride > 1 on an input pre-padded by TF's rule
(``out = ceil(in/s)``, ``total = max((out-1)*s + (k-1)*d + 1 - in, 0)``, odd
pixel at the end), written out here independently of the library.
"""
from __future__ import annotations

import dataclasses
import math
import tracemalloc
import zlib

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit._core.fast import conv as core_conv
from helpers import compare_with_torch, gradcheck, torch

TF = torch.nn.functional
# torch warns that its padding="same" with even kernels copies the input: not our concern here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


# ---------------------------------------------------------------- reference padding
def tf_same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow SAME padding of one axis (the test's own copy of the rule)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def torch_pad_arg(pairs) -> tuple[int, ...]:
    """((top, bottom), (left, right)) -> torch.nn.functional.pad's (left, right, top, bottom)."""
    out: list[int] = []
    for lo, hi in reversed(pairs):
        out += [lo, hi]
    return tuple(out)


# -------------------------------------------------------------------- the grid
GROUP_MODES = ("g1", "g2", "depthwise", "mult2")


@dataclasses.dataclass(frozen=True)
class ConvCase:
    rank: int
    batch: int  # 0 = unbatched input (C, *spatial)
    cin: int
    cout: int
    groups: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: object
    padding: object
    dilation: object
    bias: bool
    dtype: str

    def __str__(self) -> str:
        n = "unbatched" if self.batch == 0 else f"N{self.batch}"
        return (f"conv{self.rank}d-{n}-C{self.cin}-O{self.cout}-in{self.spatial}-k{self.kernel}-s{self.stride}"
                f"-p{self.padding}-d{self.dilation}-g{self.groups}-{'bias' if self.bias else 'nobias'}-{self.dtype}")

    def per_axis(self, value) -> tuple[int, ...]:
        return tuple(value) if isinstance(value, tuple) else (value,) * self.rank


def _balanced(rng, values, count):
    """``count`` draws in which every value appears equally often (up to one), in random order."""
    seq = [values[i % len(values)] for i in range(count)]
    order = rng.permutation(count)
    return [seq[i] for i in order]


def _channels(rng, mode):
    if mode == "g1":
        return int(rng.integers(1, 4)), int(rng.integers(1, 5)), 1
    if mode == "g2":
        cin = int(rng.choice([2, 4]))
        return cin, int(rng.choice([2, 4, 6])), 2
    c = int(rng.integers(2, 5))
    return c, (c if mode == "depthwise" else 2 * c), c


KERNELS = {1: [(k,) for k in range(1, 8)],
           2: [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (1, 3), (3, 1), (2, 5), (5, 2), (4, 3),
               (3, 6), (7, 2)]}
STRIDES = {1: [1, 2, 3], 2: [1, 2, 3, (1, 2), (3, 1), (2, 3)]}
DILATIONS = {1: [1, 2, 3], 2: [1, 2, 3, (1, 2), (2, 3)]}
PAD_FORMS = ["int", "tuple", "pairs", "valid", "same"]


def _padding(rng, form, rank):
    if form == "int":
        return int(rng.integers(0, 4))
    if form == "tuple":
        return tuple(int(p) for p in rng.integers(0, 4, size=rank))
    if form == "pairs":
        pairs = [tuple(int(p) for p in rng.integers(0, 4, size=2)) for _ in range(rank)]
        if all(lo == hi for lo, hi in pairs):  # make sure it really is asymmetric
            pairs[0] = (pairs[0][0], pairs[0][0] + 1)
        return tuple(pairs)
    return form


def _fit_spatial(rng, case_spatial, kernel, stride, dilation, padding):
    """Grow the input where the dilated kernel would not fit the padded input."""
    out = []
    for axis, (size, k, d) in enumerate(zip(case_spatial, kernel, dilation)):
        span = (k - 1) * d + 1
        if isinstance(padding, tuple) and isinstance(padding[0], tuple):
            lo_hi = sum(padding[axis])
        elif isinstance(padding, tuple):
            lo_hi = 2 * padding[axis]
        elif isinstance(padding, int):
            lo_hi = 2 * padding
        else:
            lo_hi = 0  # "valid" (and "same", which never needs it)
        if padding != "same" and size + lo_hi < span:
            size = span - lo_hi + int(rng.integers(0, 3))
        out.append(max(size, 1))
    return tuple(out)


def make_conv_cases(count: int = 240, seed: int = 20240607) -> list[ConvCase]:
    rng = np.random.default_rng(seed)
    ranks = _balanced(rng, [1, 2, 2], count)  # two thirds 2-D
    cols = {name: _balanced(rng, vals, count) for name, vals in {
        "kernel_i": list(range(14)), "stride_i": list(range(6)), "dil_i": list(range(5)),
        "pad": PAD_FORMS, "groups": list(GROUP_MODES), "bias": [True, False], "batch": [0, 1, 2, 3, 4, 1],
        "dtype": ["float32", "float64"]}.items()}
    cases = []
    for i in range(count):
        rank = ranks[i]
        kernel = KERNELS[rank][cols["kernel_i"][i] % len(KERNELS[rank])]
        stride = STRIDES[rank][cols["stride_i"][i] % len(STRIDES[rank])]
        dilation = DILATIONS[rank][cols["dil_i"][i] % len(DILATIONS[rank])]
        padding = _padding(rng, cols["pad"][i], rank)
        cin, cout, groups = _channels(rng, cols["groups"][i])
        base = tuple(int(v) for v in rng.integers(4, 12, size=rank))
        case = ConvCase(rank, cols["batch"][i], cin, cout, groups, base, kernel, stride, padding, dilation,
                        cols["bias"][i], cols["dtype"][i])
        spatial = _fit_spatial(rng, base, kernel, case.per_axis(stride), case.per_axis(dilation), padding)
        cases.append(dataclasses.replace(case, spatial=spatial))
    return cases


CONV_CASES = make_conv_cases()


def _inputs(case: ConvCase, rng, transposed: bool = False):
    dt = np.dtype(case.dtype)
    lead = () if case.batch == 0 else (case.batch,)
    if transposed:  # weight (in, out/groups, *k)
        x = rng.standard_normal(lead + (case.cin,) + case.spatial).astype(dt)
        w = rng.standard_normal((case.cin, case.cout // case.groups) + case.kernel).astype(dt)
    else:  # weight (out, in/groups, *k)
        x = rng.standard_normal(lead + (case.cin,) + case.spatial).astype(dt)
        w = rng.standard_normal((case.cout, case.cin // case.groups) + case.kernel).astype(dt)
    w /= math.sqrt(w[0].size)
    arrays = [x, w]
    if case.bias:
        arrays.append(rng.standard_normal(case.cout).astype(dt))
    return arrays


def _torch_conv(case: ConvCase):
    """The torch function computing the same convolution as ``case``."""
    conv = {1: TF.conv1d, 2: TF.conv2d}[case.rank]
    stride, dilation = case.stride, case.dilation
    padding = case.padding

    def fn(x, w, b=None):
        if isinstance(padding, tuple) and isinstance(padding[0], tuple):  # asymmetric pairs: pre-pad
            return conv(TF.pad(x, torch_pad_arg(padding)), w, b, stride, 0, dilation, case.groups)
        if padding == "same" and any(s != 1 for s in case.per_axis(stride)):  # TF rule: pre-pad
            pairs = [tf_same_pads(n, k, s, d) for n, k, s, d in
                     zip(case.spatial, case.kernel, case.per_axis(stride), case.per_axis(dilation))]
            return conv(TF.pad(x, torch_pad_arg(pairs)), w, b, stride, 0, dilation, case.groups)
        return conv(x, w, b, stride, padding, dilation, case.groups)  # int, tuple, "valid", "same" (s=1)

    return fn


def _ours_conv(case: ConvCase):
    conv = {1: F.conv1d, 2: F.conv2d}[case.rank]
    return lambda x, w, b=None: conv(x, w, b, case.stride, case.padding, case.dilation, case.groups)


def test_grid_covers_every_factor():
    """The generated grid really contains every value the suite promises."""
    seen = {name: set() for name in ("k", "stride", "dil", "pad", "groups", "batch", "dtype", "bias", "nonsq")}
    for c in CONV_CASES:
        seen["k"].update(c.kernel)
        seen["stride"].update(c.per_axis(c.stride))
        seen["dil"].update(c.per_axis(c.dilation))
        seen["pad"].add(c.padding if isinstance(c.padding, str) else
                        "pairs" if isinstance(c.padding, tuple) and isinstance(c.padding[0], tuple) else
                        "tuple" if isinstance(c.padding, tuple) else "int")
        mode = ("g1" if c.groups == 1 else "g2" if c.groups == 2 and c.cin != 2 else
                "depthwise" if c.cout == c.cin else "mult2" if c.cout == 2 * c.cin else "g2")
        seen["groups"].add(mode)
        seen["batch"].add(c.batch)
        seen["dtype"].add(c.dtype)
        seen["bias"].add(c.bias)
        if c.rank == 2:
            seen["nonsq"].add(("kernel", c.kernel[0] != c.kernel[1]))
            seen["nonsq"].add(("input", c.spatial[0] != c.spatial[1]))
    assert seen["k"] == set(range(1, 8))
    assert seen["stride"] == {1, 2, 3} and seen["dil"] == {1, 2, 3}
    assert seen["pad"] == set(PAD_FORMS)
    assert seen["groups"] == set(GROUP_MODES)
    assert seen["batch"] == {0, 1, 2, 3, 4}
    assert seen["dtype"] == {"float32", "float64"} and seen["bias"] == {True, False}
    assert {("kernel", True), ("input", True)} <= seen["nonsq"]
    same_strided = [c for c in CONV_CASES if c.padding == "same" and max(c.per_axis(c.stride)) > 1]
    assert len(same_strided) >= 10


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_grid_against_torch(case):
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    compare_with_torch(_ours_conv(case), _torch_conv(case), _inputs(case, rng), config=str(case))


# --------------------------------------------------------------- chunked paths
@pytest.mark.parametrize("case", [
    ConvCase(2, 3, 4, 6, 1, (9, 8), (3, 3), 1, 1, 1, True, "float64"),
    ConvCase(2, 2, 4, 4, 2, (11, 7), (3, 2), 2, ((1, 2), (0, 1)), (2, 1), False, "float64"),
    ConvCase(1, 3, 3, 2, 1, (17,), (4,), 3, "same", 2, True, "float32"),
    ConvCase(2, 2, 3, 6, 3, (8, 9), (3, 3), 1, "same", 1, True, "float64"),
], ids=str)
@pytest.mark.parametrize("budget", [256, 3000, 50000])
def test_conv_with_tiny_column_budget(case, budget, monkeypatch):
    """Force the sample and row chunking of the core (normally only for big inputs):
    budgets below one output row, a few rows, and a few samples."""
    if not hasattr(core_conv, "COL_BUDGET_BYTES"):
        pytest.skip("the core no longer chunks by COL_BUDGET_BYTES")
    monkeypatch.setattr(core_conv, "COL_BUDGET_BYTES", budget)
    rng = np.random.default_rng(7)
    compare_with_torch(_ours_conv(case), _torch_conv(case), _inputs(case, rng), config=f"chunked {case}")
    tcase = dataclasses.replace(case, padding=1, cout=case.cin, groups=1)
    compare_with_torch(lambda x, w, b=None: {1: F.conv_transpose1d, 2: F.conv_transpose2d}[case.rank](
                           x, w, b, case.stride, 1, 0, 1, case.dilation),
                       lambda x, w, b=None: {1: TF.conv_transpose1d, 2: TF.conv_transpose2d}[case.rank](
                           x, w, b, case.stride, 1, 0, 1, case.dilation),
                       _inputs(tcase, rng, transposed=True), config=f"chunked transposed {tcase}")


@pytest.mark.parametrize("which", ["input", "weight", "bias", "input+bias"])
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_only_requested_gradients(which, transposed, rng):
    """needs_input_grad: each gradient alone (the others skipped) still matches torch."""
    grads = [w in which.split("+") for w in ("input", "weight", "bias")]
    if transposed:
        case = TCase(2, 2, 4, 6, 2, (4, 5), (3, 2), 2, 1, 1, (1, 2), True, "float64")
        ours, theirs = _ours_conv_transpose(case), _torch_conv_transpose(case)
    else:
        case = ConvCase(2, 2, 4, 6, 2, (7, 6), (3, 2), 2, ((1, 0), (2, 1)), (1, 2), True, "float64")
        ours, theirs = _ours_conv(case), _torch_conv(case)
    compare_with_torch(ours, theirs, _inputs(case, rng, transposed=transposed), grad_inputs=grads,
                       config=f"{which} only, {case}")


# ------------------------------------------------------------ transposed grid
@dataclasses.dataclass(frozen=True)
class TCase:
    rank: int
    batch: int
    cin: int
    cout: int
    groups: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: object
    padding: object
    output_padding: object
    dilation: object
    bias: bool
    dtype: str

    def __str__(self) -> str:
        n = "unbatched" if self.batch == 0 else f"N{self.batch}"
        return (f"conv_transpose{self.rank}d-{n}-C{self.cin}-O{self.cout}-in{self.spatial}-k{self.kernel}"
                f"-s{self.stride}-p{self.padding}-op{self.output_padding}-d{self.dilation}-g{self.groups}"
                f"-{'bias' if self.bias else 'nobias'}-{self.dtype}")

    def per_axis(self, value) -> tuple[int, ...]:
        return tuple(value) if isinstance(value, tuple) else (value,) * self.rank


T_KERNELS = {1: [(k,) for k in range(1, 6)], 2: [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 3), (3, 1), (4, 2)]}
T_PAD_FORMS = ["int", "tuple", "pairs", "valid", "same"]


def make_transposed_cases(count: int = 110, seed: int = 7) -> list[TCase]:
    rng = np.random.default_rng(seed)
    ranks = _balanced(rng, [1, 2, 2], count)
    cols = {name: _balanced(rng, vals, count) for name, vals in {
        "kernel_i": list(range(8)), "stride_i": list(range(6)), "dil_i": list(range(5)), "pad": T_PAD_FORMS,
        "groups": list(GROUP_MODES), "bias": [True, False], "batch": [0, 1, 2, 3, 4, 2],
        "dtype": ["float32", "float64"], "op": [False, True]}.items()}
    cases = []
    for i in range(count):
        rank = ranks[i]
        kernel = T_KERNELS[rank][cols["kernel_i"][i] % len(T_KERNELS[rank])]
        stride = STRIDES[rank][cols["stride_i"][i] % len(STRIDES[rank])]
        dilation = DILATIONS[rank][cols["dil_i"][i] % len(DILATIONS[rank])]
        s_ax = (stride,) * rank if isinstance(stride, int) else stride
        d_ax = (dilation,) * rank if isinstance(dilation, int) else dilation
        form = cols["pad"][i]
        padding = _padding(rng, form, rank)
        if form in ("int", "tuple"):  # keep torch's output positive: pad < span on each side
            padding = (min(padding, min((k - 1) * d for k, d in zip(kernel, d_ax)) // 2) if form == "int" else
                       tuple(min(p, (k - 1) * d // 2) for p, k, d in zip(padding, kernel, d_ax)))
        if form == "pairs":
            padding = tuple((min(lo, (k - 1) * d), min(hi, (k - 1) * d)) for (lo, hi), k, d in
                            zip(padding, kernel, d_ax))
        output_padding = 0
        if cols["op"][i] and form != "same":
            output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(s_ax, d_ax))
            if rank == 1:
                output_padding = output_padding[0]
        cin, cout, groups = _channels(rng, cols["groups"][i])
        spatial = tuple(int(v) for v in rng.integers(2, 7, size=rank))
        cases.append(TCase(rank, cols["batch"][i], cin, cout, groups, spatial, kernel, stride, padding,
                           output_padding, dilation, cols["bias"][i], cols["dtype"][i]))
    return cases


T_CASES = make_transposed_cases()


def _torch_conv_transpose(case: TCase):
    convT = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d}[case.rank]
    conv = {1: TF.conv1d, 2: TF.conv2d}[case.rank]
    s, d, g = case.stride, case.dilation, case.groups

    def fn(x, w, b=None):
        if case.padding == "same":
            # Keras semantics: the adjoint (input gradient) of the TF-SAME convolution
            # of an input of size in * stride, computed by torch's autograd
            big = tuple(n * st for n, st in zip(case.spatial, case.per_axis(s)))
            pairs = [tf_same_pads(n, k, st, dd) for n, k, st, dd in
                     zip(big, case.kernel, case.per_axis(s), case.per_axis(d))]
            lead = x.shape[:-case.rank - 1]
            x0 = torch.zeros(tuple(lead) + (case.cout,) + big, dtype=x.dtype, requires_grad=True)
            y = conv(TF.pad(x0, torch_pad_arg(pairs)), w, None, s, 0, d, g)
            assert tuple(y.shape) == tuple(x.shape), (y.shape, x.shape)
            (gx,) = torch.autograd.grad(y, x0, grad_outputs=x, create_graph=True)
            return gx if b is None else gx + b.reshape((-1,) + (1,) * case.rank)
        if isinstance(case.padding, tuple) and isinstance(case.padding[0], tuple):
            full = convT(x, w, b, s, 0, case.output_padding, g, d)  # then crop (before, after)
            index = tuple(slice(lo, full.shape[-case.rank + a] - hi) for a, (lo, hi) in enumerate(case.padding))
            return full[(Ellipsis,) + index]
        padding = 0 if case.padding == "valid" else case.padding
        return convT(x, w, b, s, padding, case.output_padding, g, d)

    return fn


def _ours_conv_transpose(case: TCase):
    convT = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[case.rank]
    return lambda x, w, b=None: convT(x, w, b, case.stride, case.padding, case.output_padding, case.groups,
                                      case.dilation)


@pytest.mark.parametrize("case", T_CASES, ids=str)
def test_conv_transpose_grid_against_torch(case):
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    out = compare_with_torch(_ours_conv_transpose(case), _torch_conv_transpose(case),
                             _inputs(case, rng, transposed=True), config=str(case))
    if case.padding == "same":  # Keras Conv2DTranspose: out = in * stride
        assert out.shape[-case.rank:] == tuple(n * s for n, s in zip(case.spatial, case.per_axis(case.stride)))


def test_transposed_grid_covers_every_factor():
    forms = {c.padding if isinstance(c.padding, str) else "pairs" if isinstance(c.padding[0] if
             isinstance(c.padding, tuple) else 0, tuple) else "tuple" if isinstance(c.padding, tuple) else "int"
             for c in T_CASES}
    assert forms == set(T_PAD_FORMS)
    assert {s for c in T_CASES for s in c.per_axis(c.stride)} == {1, 2, 3}
    assert {d for c in T_CASES for d in c.per_axis(c.dilation)} == {1, 2, 3}
    assert any(max(c.per_axis(c.output_padding)) > 0 for c in T_CASES)
    assert {c.groups > 1 and c.cout == 2 * c.cin for c in T_CASES} == {True, False}
    assert {c.batch for c in T_CASES} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("stride,kernel,dilation", [(1, 3, 1), (2, 3, 1), (2, 4, 1), (3, 2, 1), (2, 3, 2),
                                                    (3, 5, 1), (2, 1, 1), ((2, 3), (3, 2), (1, 2))])
def test_conv_transpose2d_same_is_adjoint_of_same_conv(stride, kernel, dilation, rng):
    """padding="same": out = in * stride, and <conv2d(x, SAME), y> = <x, conv_transpose2d(y, SAME)>
    for x of size in * stride."""
    s = (stride,) * 2 if isinstance(stride, int) else stride
    k = (kernel,) * 2 if isinstance(kernel, int) else kernel
    in_sp = (3, 4)
    y = rng.standard_normal((2, 4) + in_sp)
    w = rng.standard_normal((4, 3) + k)  # transposed layout (in=4, out=3); as a conv: (out=4, in=3)
    up = F.conv_transpose2d(y, w, stride=stride, padding="same", dilation=dilation).numpy()
    assert up.shape == (2, 3, in_sp[0] * s[0], in_sp[1] * s[1])
    x = rng.standard_normal(up.shape)
    down = F.conv2d(x, w, stride=stride, padding="same", dilation=dilation).numpy()
    assert down.shape == y.shape
    lhs, rhs = float(np.sum(down * y)), float(np.sum(x * up))
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(down) * np.linalg.norm(y), (lhs, rhs)


# ------------------------------------------------------------------ adjointness
ADJOINT_CONFIGS = [
    # rank, channels (C, O), groups, spatial, kernel, stride, padding, dilation
    (1, (3, 4), 1, (11,), (3,), 2, 1, 1),
    (1, (4, 4), 4, (13,), (5,), 3, ((2, 0),), 2),
    (2, (3, 6), 1, (9, 8), (3, 3), 2, 0, 1),
    (2, (4, 6), 2, (10, 7), (3, 2), (2, 3), ((1, 2), (0, 1)), (2, 1)),
    (2, (3, 6), 3, (8, 9), (4, 4), 2, "same", 1),
    (2, (4, 4), 4, (7, 7), (3, 3), 1, "same", 3),
    (2, (2, 4), 1, (12, 12), (7, 5), 3, 2, 1),
    (2, (4, 2), 2, (6, 10), (2, 2), 1, "valid", 2),
]


@pytest.mark.parametrize("cfg", ADJOINT_CONFIGS, ids=str)
def test_adjointness(cfg, rng):
    """<conv(x), y> = <x, conv_transpose(y)> with the same weight, in float64."""
    rank, (c, o), groups, spatial, kernel, stride, padding, dilation = cfg
    conv = {1: F.conv1d, 2: F.conv2d}[rank]
    convT = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[rank]
    x = rng.standard_normal((2, c) + spatial)
    w = rng.standard_normal((o, c // groups) + kernel)
    out = conv(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups).numpy()
    y = rng.standard_normal(out.shape)
    s = (stride,) * rank if isinstance(stride, int) else stride
    d = (dilation,) * rank if isinstance(dilation, int) else dilation
    if padding == "same":
        pairs = [tf_same_pads(n, k, st, dd) for n, k, st, dd in zip(spatial, kernel, s, d)]
    elif padding == "valid":
        pairs = [(0, 0)] * rank
    elif isinstance(padding, tuple):
        pairs = list(padding)
    else:
        pairs = [(padding, padding)] * rank
    # output_padding recovers the input size the stride left undetermined
    op = tuple(n - ((m - 1) * st - lo - hi + (k - 1) * dd + 1)
               for n, m, st, (lo, hi), k, dd in zip(spatial, out.shape[2:], s, pairs, kernel, d))
    back = convT(y, w, stride=stride, padding=tuple(pairs), output_padding=op, groups=groups,
                 dilation=dilation).numpy()
    assert back.shape == x.shape
    lhs, rhs = float(np.sum(out * y)), float(np.sum(x * back))
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(out) * np.linalg.norm(y), f"{cfg}: {lhs} vs {rhs}"


# ------------------------------------------------------------- finite differences
GRADCHECK_CONFIGS = [
    ("conv1d", (2, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
    ("conv1d", (1, 4, 10), (4, 2, 4), dict(padding=((2, 1),), dilation=2, groups=2)),
    ("conv1d", (3, 8), (6, 1, 3), dict(stride=3, padding="same", groups=3)),
    ("conv2d", (2, 2, 5, 6), (3, 2, 3, 2), dict(stride=(2, 1), padding=((0, 1), (1, 2)))),
    ("conv2d", (1, 4, 6, 6), (4, 1, 3, 3), dict(padding="same", dilation=2, groups=4)),
    ("conv2d", (1, 2, 7, 5), (4, 1, 2, 2), dict(stride=2, padding="same", groups=2)),
    ("conv_transpose1d", (2, 3, 5), (3, 2, 3), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose1d", (1, 4, 4), (4, 1, 4), dict(stride=3, groups=2, dilation=2)),
    ("conv_transpose1d", (2, 2, 3), (2, 2, 3), dict(stride=2, padding="same")),
    ("conv_transpose2d", (1, 2, 3, 4), (2, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    ("conv_transpose2d", (2, 4, 3, 3), (4, 2, 3, 3), dict(stride=2, padding="same", groups=2)),
    ("conv_transpose2d", (1, 3, 3, 3), (3, 2, 2, 2), dict(padding=((1, 0), (0, 1)), dilation=2, groups=3)),
]


@pytest.mark.parametrize("cfg", GRADCHECK_CONFIGS, ids=lambda c: f"{c[0]}-x{c[1]}-w{c[2]}-{c[3]}")
def test_gradcheck_finite_differences(cfg, rng):
    name, x_shape, w_shape, kwargs = cfg
    fn = getattr(F, name)
    out_ch = w_shape[1] * kwargs.get("groups", 1) if "transpose" in name else w_shape[0]
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(out_ch)]
    gradcheck(lambda x, w, b: fn(x, w, b, **kwargs), arrays, config=str(cfg))


# ------------------------------------------------------------ worked examples
def test_seed_example_5x5_stride2_and_back(rng):
    """A 5x5 input, 3x3 kernel, stride 2, no padding -> 2x2; conv_transpose2d with the
    same parameters maps 2x2 back to 5x5."""
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    w = np.arange(9.0).reshape(1, 1, 3, 3) - 4
    out = F.conv2d(x, w, stride=2)
    assert out.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(out.numpy(), TF.conv2d(torch.tensor(x), torch.tensor(w), stride=2).numpy())
    # by hand: out[0, 0] = sum(w * x[:3, :3]) = sum((k - 4) * x) over the top-left window
    np.testing.assert_allclose(out.numpy()[0, 0, 0, 0], np.sum(w[0, 0] * x[0, 0, :3, :3]))
    back = F.conv_transpose2d(out, w, stride=2)
    assert back.shape == (1, 1, 5, 5)
    np.testing.assert_allclose(back.numpy(), TF.conv_transpose2d(torch.tensor(out.numpy()), torch.tensor(w),
                                                                 stride=2).numpy())
    compare_with_torch(lambda a, b: F.conv_transpose2d(F.conv2d(a, b, stride=2), b, stride=2),
                       lambda a, b: TF.conv_transpose2d(TF.conv2d(a, b, stride=2), b, stride=2),
                       [x, w], config="seed example round trip")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv3d_smoke_against_torch(dtype, rng):
    x = rng.standard_normal((2, 4, 5, 6, 4)).astype(dtype)
    w = (rng.standard_normal((6, 2, 3, 2, 3)) / 6).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    compare_with_torch(lambda a, c, e: F.conv3d(a, c, e, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2),
                                                groups=2),
                       lambda a, c, e: TF.conv3d(a, c, e, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2),
                                                 groups=2),
                       [x, w, b], config=f"conv3d {dtype}")
    wt = (rng.standard_normal((4, 3, 2, 3, 2)) / 6).astype(dtype)
    compare_with_torch(lambda a, c: F.conv_transpose3d(a, c, stride=2, padding=(0, 1, 0), output_padding=1),
                       lambda a, c: TF.conv_transpose3d(a, c, stride=2, padding=(0, 1, 0), output_padding=1),
                       [x, wt], config=f"conv_transpose3d {dtype}")


def test_inputs_as_arrays_and_tensor_dtypes(rng):
    """Plain ndarrays work, results keep the dtype, and float32 never becomes float64."""
    x32 = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w32 = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    assert F.conv2d(x32, w32, padding="same").dtype == np.float32
    assert F.conv_transpose2d(x32, w32.transpose(1, 0, 2, 3), stride=2).dtype == np.float32
    assert F.conv2d(x32.astype(np.float64), w32.astype(np.float64)).dtype == np.float64
    x = cnnkit.Tensor(x32, requires_grad=True)
    w = cnnkit.Tensor(w32, requires_grad=True)
    F.conv2d(x, w, stride=2, padding="same").sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_non_contiguous_inputs(rng):
    x = rng.standard_normal((2, 7, 3, 6)).transpose(0, 2, 1, 3)  # (2, 3, 7, 6), not contiguous
    w = rng.standard_normal((3, 4, 3, 3)).transpose(1, 0, 2, 3)[:, :, ::-1]  # negative strides
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    compare_with_torch(lambda a, b: F.conv2d(a, b, stride=2, padding=1),
                       lambda a, b: TF.conv2d(a, b, stride=2, padding=1),
                       [np.ascontiguousarray(x), np.ascontiguousarray(w)], config="reference")
    got = F.conv2d(x, w, stride=2, padding=1).numpy()
    ref = TF.conv2d(torch.tensor(np.ascontiguousarray(x)), torch.tensor(np.ascontiguousarray(w)), stride=2,
                    padding=1).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ bad input
def _x(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


BAD_INPUTS = [
    # (function, args, kwargs, exception, message pattern)
    ("conv2d", (_x(5, 5), _x(1, 1, 3, 3)), {}, ValueError,
     r"conv2d: input must have 4 dimensions .* or 3 .*got shape \(5, 5\)"),
    ("conv1d", (_x(1, 1, 2, 5, 5), _x(1, 1, 3)), {}, ValueError, r"conv1d: input must have 3 dimensions.*\(1, 1, 2, 5, 5\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 3, 3)), {}, ValueError, r"conv2d: weight must have 4 dimensions.*\(1, 3, 3\)"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), _x(1, 1, 3)), {}, ValueError,
     r"conv_transpose2d: weight must have 4 dimensions \(in, out/groups, \*kernel\).*\(1, 1, 3\)"),
    ("conv2d", (_x(1, 3, 5, 5), _x(4, 2, 3, 3)), {}, ValueError,
     r"conv2d: input has in_channels=3 but weight of shape \(4, 2, 3, 3\) with groups=1 expects 2"),
    ("conv2d", (_x(1, 4, 5, 5), _x(4, 1, 3, 3)), dict(groups=2), ValueError,
     r"in_channels=4 .*weight of shape \(4, 1, 3, 3\) with groups=2 expects 2 \(weight.shape\[1\] \* groups\)"),
    ("conv2d", (_x(1, 3, 5, 5), _x(4, 1, 3, 3)), dict(groups=2), ValueError,
     r"conv2d: in_channels=3 is not divisible by groups=2"),
    ("conv2d", (_x(1, 4, 5, 5), _x(3, 2, 3, 3)), dict(groups=2), ValueError,
     r"conv2d: out_channels=3 is not divisible by groups=2"),
    ("conv_transpose2d", (_x(1, 3, 5, 5), _x(2, 1, 3, 3)), {}, ValueError,
     r"conv_transpose2d: input has 3 channels but weight of shape \(2, 1, 3, 3\) expects in_channels=2"),
    ("conv_transpose2d", (_x(1, 3, 5, 5), _x(3, 1, 3, 3)), dict(groups=2), ValueError,
     r"conv_transpose2d: in_channels=3 is not divisible by groups=2"),
    ("conv2d", (_x(1, 1, 4, 4), _x(1, 1, 5, 5)), {}, ValueError,
     r"conv2d: kernel size \(5, 5\).* spans 5 on spatial axis 0, larger than the padded input size 4"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(dilation=3), ValueError,
     r"conv2d: kernel size \(3, 3\) \(dilation \(3, 3\)\) spans 7 .*padded input size 5"),
    ("conv1d", (_x(1, 1, 4), _x(1, 1, 7)), dict(padding=1), ValueError, r"conv1d: kernel size \(7,\).*size 6"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(stride=0), ValueError, r"conv2d: stride must be positive, got 0"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(stride=(1, -2)), ValueError,
     r"conv2d: stride must be positive, got \(1, -2\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(stride=(1, 2, 3)), ValueError,
     r"conv2d: stride must be an int or a tuple of 2 ints, got \(1, 2, 3\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(stride=1.5), TypeError,
     r"conv2d: stride must be an int or a tuple of 2 ints, got 1.5"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(dilation=0), ValueError,
     r"conv2d: dilation must be positive, got 0"),
    ("conv_transpose1d", (_x(1, 1, 5), _x(1, 1, 3)), dict(dilation=0), ValueError,
     r"conv_transpose1d: dilation must be positive, got 0"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=-1), ValueError,
     r"conv2d: padding must be non-negative, got -1"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=((1, -1), (0, 0))), ValueError,
     r"conv2d: padding must be non-negative, got \(\(1, -1\), \(0, 0\)\)"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=-2), ValueError,
     r"conv_transpose2d: padding must be non-negative, got -2"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding="full"), ValueError,
     r"conv2d: padding must be an int, a tuple, 'same' or 'valid', got 'full'"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding="circular"), ValueError,
     r"conv_transpose2d: padding must be .*'same' or 'valid', got 'circular'"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=((1, 2), (3,))), ValueError,
     r"conv2d: padding as pairs must have 2 \(before, after\) pairs, got \(\(1, 2\), \(3,\)\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=((1, 2),)), ValueError,
     r"conv2d: padding as pairs must have 2 \(before, after\) pairs, got \(\(1, 2\),\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=((1, 2), 3)), TypeError,
     r"conv2d: padding must be .*pairs.*got \(\(1, 2\), 3\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=((1.5, 2), (0, 0))), TypeError,
     r"conv2d: padding pairs must hold ints, got \(\(1.5, 2\), \(0, 0\)\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(padding=(1, 2, 3)), ValueError,
     r"conv2d: padding must be an int or a tuple of 2 ints, got \(1, 2, 3\)"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(stride=2, output_padding=2), ValueError,
     r"conv_transpose2d: output_padding must be smaller than either stride or dilation, got output_padding=\(2, 2\)"),
    ("conv_transpose1d", (_x(1, 1, 5), _x(1, 1, 3)), dict(output_padding=1), ValueError,
     r"output_padding must be smaller than either stride or dilation, got output_padding=\(1,\), stride=\(1,\)"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(output_padding=-1), ValueError,
     r"conv_transpose2d: output_padding must be >= 0, got -1"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(stride=2, padding="same", output_padding=1),
     ValueError, r"conv_transpose2d: output_padding must be 0 with padding='same'.*got output_padding=1"),
    ("conv2d", (np.zeros((1, 1, 5, 5), dtype=np.int64), _x(1, 1, 3, 3)), {}, TypeError,
     r"conv2d: input must have a floating dtype \(float32 or float64\), got int64"),
    ("conv_transpose2d", (_x(1, 1, 5, 5), np.ones((1, 1, 3, 3), dtype=np.int32)), {}, TypeError,
     r"conv_transpose2d: weight must have a floating dtype .*got int32"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3, dtype=np.float64)), {}, TypeError,
     r"conv2d: dtypes must match \(input is float32, weight is float64\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(2, 1, 3, 3), _x(2, dtype=np.float64)), {}, TypeError,
     r"conv2d: dtypes must match \(input is float32, bias is float64\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(2, 1, 3, 3), _x(3)), {}, ValueError,
     r"conv2d: bias must have shape \(2,\) \(out_channels\), got \(3,\)"),
    ("conv_transpose2d", (_x(1, 2, 5, 5), _x(2, 3, 3, 3), _x(2, 3)), {}, ValueError,
     r"conv_transpose2d: bias must have shape \(3,\) \(out_channels\), got \(2, 3\)"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(groups=0), ValueError, r"conv2d: groups must be a positive int, got 0"),
    ("conv2d", (_x(1, 2, 5, 5), _x(2, 1, 3, 3)), dict(groups=2.0), TypeError,
     r"conv2d: groups must be a positive int, got 2.0"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 3, 3)), dict(groups=True), TypeError, r"groups must be a positive int, got True"),
    ("conv2d", ("abc", _x(1, 1, 3, 3)), {}, TypeError, r"conv2d: input must have a floating dtype .*got <U3"),
    ("conv2d", (_x(1, 1, 5, 5), _x(1, 1, 0, 3)), {}, ValueError, r"conv2d: kernel size must be positive, got weight shape"),
]


@pytest.mark.parametrize("fn_name,args,kwargs,exc,match", BAD_INPUTS,
                         ids=[f"{b[0]}-{i}-{b[4][:40]}" for i, b in enumerate(BAD_INPUTS)])
def test_bad_input(fn_name, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        getattr(F, fn_name)(*args, **kwargs)


# ----------------------------------------------------------------- memory
def test_conv2d_memory_bound_large_input():
    """A 1x64x1024x1024 float32 3x3 conv2d with padding=1 (forward only) allocates
    under 1 GiB beyond its input and output (NumPy reports its buffers to
    tracemalloc; BLAS-internal scratch is not seen)."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 64, 3, 3), dtype=np.float32) * 0.05)
    tracemalloc.start()
    try:
        x = rng.standard_normal((1, 64, 1024, 1024), dtype=np.float32)
        with cnnkit.no_grad():
            y = F.conv2d(x, w, padding=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (1, 64, 1024, 1024) and y.dtype == np.float32
    extra = peak - x.nbytes - y.numpy().nbytes
    assert extra < 2**30, f"conv2d used {extra / 2**20:.0f} MiB beyond input and output"
    # spot-check a few output values against a direct sum (the full result is too big for torch here)
    xp = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
    for c, i, j in [(0, 0, 0), (5, 1023, 17), (63, 512, 1023)]:
        ref = float(np.sum(xp[:, i:i + 3, j:j + 3].astype(np.float64) * w[c]))
        assert abs(float(y.numpy()[0, c, i, j]) - ref) <= 1e-4 * max(1.0, abs(ref))
