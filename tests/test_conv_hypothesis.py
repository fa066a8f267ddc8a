"""Property tests: random valid convolution configurations against PyTorch.

Hypothesis draws rank 1 or 2, sizes, kernel, stride, dilation, every padding
form (int, per-axis tuple, asymmetric pairs, "valid", TF "same" at any stride),
groups with the divisibility PyTorch requires, bias, batch (or unbatched) and
dtype; ``derandomize=True`` keeps CI deterministic.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnkit
import cnnkit.functional as F
from helpers import compare_with_torch
from test_conv import ConvCase, TCase, _inputs, _ours_conv, _ours_conv_transpose, _torch_conv, _torch_conv_transpose

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

SETTINGS = dict(max_examples=60, deadline=None, derandomize=True, database=None)


@st.composite
def _groups(draw):
    """(in_channels, out_channels, groups) with in % groups == out % groups == 0."""
    groups = draw(st.integers(1, 3))
    per_in = draw(st.integers(1, 3))
    per_out = draw(st.integers(1, 3))
    return groups * per_in, groups * per_out, groups


@st.composite
def conv_cases(draw) -> ConvCase:
    rank = draw(st.sampled_from([1, 2]))
    cin, cout, groups = draw(_groups())
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    form = draw(st.sampled_from(["int", "tuple", "pairs", "valid", "same"]))
    if form == "int":
        padding = draw(st.integers(0, 3))
        pairs = [(padding, padding)] * rank
    elif form == "tuple":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(rank))
        pairs = [(p, p) for p in padding]
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(rank))
        pairs = list(padding)
    else:
        padding = form
        pairs = [(0, 0)] * rank
    spatial = []
    for k, d, (lo, hi) in zip(kernel, dilation, pairs):
        span = (k - 1) * d + 1
        least = 1 if form == "same" else max(1, span - lo - hi)  # the kernel must fit the padded input
        spatial.append(least + draw(st.integers(0, 6)))
    return ConvCase(rank=rank, batch=draw(st.integers(0, 3)), cin=cin, cout=cout, groups=groups,
                    spatial=tuple(spatial), kernel=kernel, stride=stride if rank == 2 else stride[0],
                    padding=padding, dilation=dilation if rank == 2 else dilation[0], bias=draw(st.booleans()),
                    dtype=draw(st.sampled_from(["float32", "float64"])))


@settings(**SETTINGS)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv_matches_torch(case, seed):
    rng = np.random.default_rng(seed)
    compare_with_torch(_ours_conv(case), _torch_conv(case), _inputs(case, rng), config=str(case))


@st.composite
def transposed_cases(draw) -> TCase:
    rank = draw(st.sampled_from([1, 2]))
    cin, cout, groups = draw(_groups())
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    form = draw(st.sampled_from(["sym", "pairs", "valid", "same"]))
    if form == "sym":  # torch needs padding <= the dilated kernel's reach for a positive output
        padding = tuple(draw(st.integers(0, (k - 1) * d // 2)) for k, d in zip(kernel, dilation))
    elif form == "pairs":
        padding = tuple((draw(st.integers(0, (k - 1) * d)), draw(st.integers(0, (k - 1) * d)))
                        for k, d in zip(kernel, dilation))
    else:
        padding = form
    if form == "same":
        output_padding = (0,) * rank
    else:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    spatial = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    if form == "pairs":  # keep the cropped output positive
        spatial = tuple(max(n, (lo + hi) // max(s, 1) + 1) for n, (lo, hi), s in zip(spatial, padding, stride))
    one = (lambda v: v[0]) if rank == 1 else (lambda v: v)
    return TCase(rank=rank, batch=draw(st.integers(0, 3)), cin=cin, cout=cout, groups=groups, spatial=spatial,
                 kernel=kernel, stride=one(stride), padding=one(padding) if form == "sym" else padding,
                 output_padding=one(output_padding), dilation=one(dilation), bias=draw(st.booleans()),
                 dtype=draw(st.sampled_from(["float32", "float64"])))


@settings(**SETTINGS)
@given(case=transposed_cases(), seed=st.integers(0, 2**16))
def test_conv_transpose_matches_torch(case, seed):
    rng = np.random.default_rng(seed)
    out = compare_with_torch(_ours_conv_transpose(case), _torch_conv_transpose(case),
                             _inputs(case, rng, transposed=True), config=str(case))
    if case.padding == "same":
        assert out.shape[-case.rank:] == tuple(n * s for n, s in zip(case.spatial, case.per_axis(case.stride)))


@settings(**SETTINGS)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv_adjoint_of_transpose(case, seed):
    """<conv(x), y> = <x, conv_transpose(y)> for every drawn configuration, in float64."""
    rng = np.random.default_rng(seed)
    x, w = (a.astype(np.float64) for a in _inputs(case, rng)[:2])
    out = _ours_conv(case)(x, w).numpy()
    y = rng.standard_normal(out.shape)
    # the input gradient of conv (through autograd) satisfies the inner-product identity
    xt = cnnkit.Tensor(x, requires_grad=True)
    _ours_conv(case)(xt, w).backward(y)
    lhs, rhs = float(np.sum(out * y)), float(np.sum(x * xt.grad))
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(out) * np.linalg.norm(y), f"[{case}] {lhs} vs {rhs}"
    if case.padding == "same":
        return
    # ... and equals the public conv_transpose with the same pads and the output_padding
    # that restores the input size
    p = case.padding
    if p == "valid":
        pairs = [(0, 0)] * case.rank
    elif isinstance(p, tuple) and isinstance(p[0], tuple):
        pairs = list(p)
    else:
        pairs = [(q, q) for q in case.per_axis(p)]
    op = tuple(n - ((m - 1) * s - lo - hi + (k - 1) * d + 1)
               for n, m, s, (lo, hi), k, d in zip(case.spatial, out.shape[-case.rank:], case.per_axis(case.stride),
                                                  pairs, case.kernel, case.per_axis(case.dilation)))
    conv_t = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[case.rank]
    back = conv_t(y, w, None, case.stride, tuple(pairs), op, case.groups, case.dilation).numpy()
    np.testing.assert_allclose(back, xt.grad, rtol=1e-12, atol=1e-12, err_msg=str(case))
