"""Receptive fields: the seed's claims, and the analytic fields against the empirical
footprint of one output unit (the input pixels with a non-zero gradient), computed
with cnnkit's own autograd, for a sweep of 1-D and 2-D networks.

With every weight positive and no ReLU, an input pixel reaches an output unit
through some path iff its gradient is non-zero (no cancellations), so the
gradient footprint is exactly the set of pixels the unit sees. Average pooling
is positive too. Max pooling sends the gradient to one pixel per window only,
so for max pooling the footprint is the union over many random inputs
(every position of a window wins for some input).
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from cnnkit.analysis import receptive_field, zoo
from cnnkit.analysis.receptive_field import (conv_field, global_field, input_field, transposed_field,
                                             transposed_max_span)

F1 = Fraction(1)


# ----------------------------------------------------------------- helpers
def _pool_layers():
    """The project's pooling layers when they have landed, else a test-only stand-in."""
    return getattr(nn, "AvgPool2d", None), getattr(nn, "MaxPool2d", None), getattr(nn, "AvgPool1d", None), \
        getattr(nn, "MaxPool1d", None)


class AvgPoolStandIn(nn.Module):
    """Average pooling as a depthwise convolution with weights 1/prod(k), attributes named as
    torch's pooling layers (``kernel_size`` an int, ``stride=None`` meaning the kernel)."""

    def __init__(self, n, channels, kernel_size, stride=None, padding=0):
        super().__init__()
        self.n, self.kernel_size, self.stride, self.padding = n, kernel_size, stride, padding
        k = (kernel_size,) * n if isinstance(kernel_size, int) else tuple(kernel_size)
        self.register_buffer("w", np.full((channels, 1) + k, 1.0 / math.prod(k)))
        self.channels = channels

    def forward(self, x):
        fn = cnnkit.functional.conv1d if self.n == 1 else cnnkit.functional.conv2d
        stride = self.kernel_size if self.stride is None else self.stride
        return fn(x, self.w.astype(x.dtype), None, stride, self.padding, 1, self.channels)


def avg_pool(n, channels, kernel_size, stride=None, padding=0, ceil_mode=False):
    cls = _pool_layers()[2 if n == 1 else 0]
    if cls is None:
        assert not ceil_mode, "ceil_mode needs the real pooling layers"
        return AvgPoolStandIn(n, channels, kernel_size, stride, padding)
    return cls(kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)


def positive_weights(model, rng):
    for name, p in model.named_parameters():
        p.data = (rng.uniform(0.5, 1.5, p.shape) if name.endswith("weight") else np.zeros(p.shape)).astype(p.dtype)
    return model


def gradient_footprints(model, in_shape, units, rng, trials=1):
    """For each output unit ``(channel, *index)``: boolean mask over the input's spatial
    axes of the pixels with a non-zero gradient (OR over ``trials`` random inputs)."""
    batch = len(units) * trials
    x = cnnkit.Tensor(rng.uniform(0.5, 1.5, (batch,) + tuple(in_shape)), requires_grad=True)
    y = model(x)
    g = np.zeros(y.shape)
    for u, unit in enumerate(units):
        for t in range(trials):
            g[(u * trials + t,) + tuple(unit)] = 1.0
    y.backward(g)
    mask = (x.grad != 0).any(axis=1)  # over input channels
    return mask.reshape((len(units), trials) + mask.shape[1:]).any(axis=1)


def expected_mask(fields, index, spatial):
    """The box of pixels the analytic fields give for output ``index``."""
    mask = np.zeros(spatial, dtype=bool)
    mask[np.ix_(*(f.pixels(o) for f, o in zip(fields, index)))] = True
    return mask


def all_units(out_shape, channel=0, limit=None, rng=None):
    units = [(channel,) + idx for idx in itertools.product(*(range(n) for n in out_shape[2:]))]
    if limit is not None and len(units) > limit:
        pick = rng.choice(len(units), size=limit, replace=False)
        units = [units[i] for i in sorted(pick)]
    return units


# ------------------------------------------------------------ the seed's claims
def test_dilated_3x3_sees_5x5_with_9_weights():
    """'一个扩张率为2的3×3卷积核，感受野与5×5的卷积核相同，而且仅需要9个参数。'"""
    conv = nn.Conv2d(1, 1, 3, dilation=2, bias=False)
    (field,) = receptive_field(conv, (1, 1, 9, 9))
    assert [f.size for f in field.field] == [5, 5]
    assert conv.weight.size == 9
    # the seed's picture "#-#-#": the 5x5 extent has holes, a unit reads 3 x 3 = 9 pixels, one per weight
    assert [f.pixels(0) for f in field.field] == [[0, 2, 4], [0, 2, 4]]
    assert [f.n_read for f in field.field] == [3, 3] and not any(f.dense for f in field.field)
    assert [f.size for f in receptive_field(nn.Conv2d(1, 1, 5, bias=False), (1, 1, 9, 9))[0].field] == [5, 5]


def test_two_stacked_3x3_see_what_one_5x5_sees_with_fewer_weights():
    """'堆叠2个 3×3 卷积核可以获得与 5×5卷积核 相同的感受视野，同时参数量会更少（3×3×2+1<5×5×1+1）'.

    Per channel pair and without bias: 3*3*2 = 18 < 25 = 5*5. With one bias per
    layer it is 2*(9+1) = 20 < 26 = 25+1; the seed's "3×3×2+1" counts a single bias
    for the two layers (19), and the inequality holds either way.
    """
    stacked = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.Conv2d(1, 1, 3, bias=False))
    single = nn.Conv2d(1, 1, 5, bias=False)
    f_stacked = receptive_field(stacked, (1, 1, 9, 9))[-1]
    f_single = receptive_field(single, (1, 1, 9, 9))[-1]
    assert [(f.size, f.jump, f.start) for f in f_stacked.field] == [(f.size, f.jump, f.start) for f in f_single.field]
    assert f_stacked.output_shape == f_single.output_shape == (1, 1, 5, 5)
    assert cnnkit.summary(stacked, (1, 1, 9, 9)).total_params == 3 * 3 * 2 == 18
    assert cnnkit.summary(single, (1, 1, 9, 9)).total_params == 5 * 5 * 1 == 25
    with_bias = cnnkit.summary(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)), (1, 1, 9, 9)).total_params
    assert with_bias == 2 * (3 * 3 + 1) == 20 < 5 * 5 * 1 + 1
    assert 3 * 3 * 2 + 1 < 5 * 5 * 1 + 1  # the seed's own arithmetic
    # C channels in and out: 2 * 9 C^2 vs 25 C^2
    c = 4
    two = cnnkit.summary(nn.Sequential(nn.Conv2d(c, c, 3, bias=False), nn.Conv2d(c, c, 3, bias=False)), (1, c, 9, 9))
    one = cnnkit.summary(nn.Conv2d(c, c, 5, bias=False), (1, c, 9, 9))
    assert (two.total_params, one.total_params) == (18 * c * c, 25 * c * c)


def test_seed_transposed_example_fields():
    """5x5 -(3x3, s2)-> 2x2 -(transposed 3x3, s2)-> 5x5; output unit o is centred on input pixel o."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.ConvTranspose2d(1, 1, 3, stride=2))
    down, up = receptive_field(model, (1, 1, 5, 5))
    assert down.output_shape == (1, 1, 2, 2) and up.output_shape == (1, 1, 5, 5)
    assert [(f.size, f.jump, f.start) for f in down.field] == [(3, 2, 1)] * 2
    assert [(f.size, f.jump, f.start, f.phased) for f in up.field] == [(5, 1, 0, True)] * 2


def test_closed_forms():
    f = input_field(0, 100)
    for k, s, d, p in [(3, 1, 1, 0), (5, 2, 1, 2), (3, 2, 3, 1), (2, 2, 1, 0), (4, 3, 2, 5)]:
        g = conv_field(f, k, s, d, p)
        k_eff = (k - 1) * d + 1
        assert (g.size, g.jump, g.start) == (k_eff, s, Fraction(k_eff - 1, 2) - p)
        t = transposed_field(f, k, s, d, p)
        assert (t.size, t.jump, t.start) == (1 + Fraction(k_eff - 1, s), Fraction(1, s),
                                             Fraction(p, s) - Fraction(k_eff - 1, 2 * s))
    # Distill's closed form for a stack: r = 1 + sum (k_l - 1) prod_{i<l} s_i
    layers = [(3, 1), (3, 2), (5, 2), (2, 2), (3, 1)]
    for k, s in layers:
        f = conv_field(f, k, s)
    expected = 1 + sum((k - 1) * math.prod(s for _, s in layers[:i]) for i, (k, _) in enumerate(layers))
    assert f.size == expected and f.jump == math.prod(s for _, s in layers)
    g = global_field(f)
    assert g.is_global and g.size == 100 and list(g.pixels(7)) == list(range(100))


@pytest.mark.parametrize("k,s,d", list(itertools.product(range(1, 7), range(1, 5), range(1, 4))))
def test_transposed_max_span_against_enumeration(k, s, d):
    """The widest set of inputs reaching one output of a transposed conv, by brute force."""
    best = 0
    for o in range(2 * s * d * k + 5):  # every phase
        inputs = [(o - t * d) // s for t in range(k) if (o - t * d) % s == 0]
        if inputs:
            best = max(best, max(inputs) - min(inputs))
    assert transposed_max_span(k, s, d) == best, f"k={k} s={s} d={d}"


# ------------------------------------------------------- the empirical sweep
def _conv(n, cin, cout, k, **kw):
    return (nn.Conv1d if n == 1 else nn.Conv2d)(cin, cout, k, bias=False, **kw)


def _convt(n, cin, cout, k, **kw):
    return (nn.ConvTranspose1d if n == 1 else nn.ConvTranspose2d)(cin, cout, k, bias=False, **kw)


def sweep_networks():
    """(id, n_spatial, input (C, *S), builder) — every padding form, stride, dilation, pooling."""
    nets = [
        ("2d-stride-pad-dilation-same", 2, (2, 17, 19), lambda: nn.Sequential(
            _conv(2, 2, 2, 3), _conv(2, 2, 2, 3, stride=2, padding=1), _conv(2, 2, 2, 3, dilation=2, padding="same"))),
        ("2d-asymmetric-then-same-stride2", 2, (1, 18, 15), lambda: nn.Sequential(
            _conv(2, 1, 2, 5, padding=((2, 0), (1, 3))), _conv(2, 2, 2, 3, stride=2, padding="same"),
            _conv(2, 2, 1, (2, 4), stride=(1, 2), padding="valid"))),
        ("2d-same-even-kernel-stride3", 2, (1, 16, 17), lambda: nn.Sequential(
            _conv(2, 1, 2, 4, stride=3, padding="same"), _conv(2, 2, 1, 2, dilation=(1, 2)))),
        ("2d-avgpool", 2, (2, 40, 38), lambda: nn.Sequential(
            _conv(2, 2, 3, 3, stride=2), avg_pool(2, 3, 2), _conv(2, 3, 1, 3, dilation=3, padding=2))),
        ("2d-avgpool-padded-overlapping", 2, (1, 19, 19), lambda: nn.Sequential(
            _conv(2, 1, 2, 3, padding=1), avg_pool(2, 2, 3, stride=2, padding=1), _conv(2, 2, 1, 3))),
        ("2d-spatially-separable", 2, (1, 14, 14), lambda: nn.Sequential(
            _conv(2, 1, 1, (3, 1)), _conv(2, 1, 1, (1, 3)), _conv(2, 1, 1, (5, 1), dilation=2))),
        ("2d-depthwise-pointwise", 2, (3, 13, 13), lambda: nn.Sequential(
            _conv(2, 3, 3, 3, groups=3, stride=2), _conv(2, 3, 2, 1), _conv(2, 2, 2, 3, groups=2))),
        ("2d-separable-layers", 2, (2, 26, 27), lambda: nn.Sequential(
            nn.SeparableConv2d(2, 3, 3, stride=2, padding=1, bias=False),
            nn.SpatiallySeparableConv2d(3, 2, (3, 5), stride=(1, 2), padding=((2, 0), (1, 3)), dilation=(2, 1),
                                        bias=False),
            nn.DepthwiseConv2d(2, 3, depth_multiplier=2, padding="same", bias=False))),
        ("1d-stride-dilation-asymmetric", 1, (2, 60), lambda: nn.Sequential(
            _conv(1, 2, 2, 5, stride=2), _conv(1, 2, 3, 3, dilation=2, padding=((1, 2),)),
            _conv(1, 3, 1, 4, stride=3, padding="same"))),
        ("1d-avgpool", 1, (1, 50), lambda: nn.Sequential(
            _conv(1, 1, 2, 3, padding=1), avg_pool(1, 2, 4, stride=3, padding=2), _conv(1, 2, 1, 2, dilation=3))),
    ]
    if _pool_layers()[0] is not None:  # real pooling: ceil_mode windows that run off the end
        nets.append(("2d-avgpool-ceil", 2, (1, 15, 16), lambda: nn.Sequential(
            _conv(2, 1, 2, 2), avg_pool(2, 2, 3, stride=2, ceil_mode=True), _conv(2, 2, 1, 2))))
        nets.append(("1d-avgpool-ceil", 1, (1, 31), lambda: nn.Sequential(
            avg_pool(1, 1, 4, stride=3, padding=1, ceil_mode=True), _conv(1, 1, 1, 3))))
    return nets


def inside(fields, index) -> bool:
    """Whether the unit's field lies inside the input on every axis (no padding involved)."""
    return all(f.bounds(o)[0] >= 0 and f.bounds(o)[1] <= f.input_size - 1 for f, o in zip(fields, index))


@pytest.mark.parametrize("case", sweep_networks(), ids=lambda c: c[0])
def test_field_equals_gradient_footprint(case, rng):
    """Every output unit whose field lies inside the input sees exactly the box of its
    analytic field; a unit at the border sees a subset of the clipped box (padding at an
    inner layer removes the paths through the padded positions)."""
    name, n, in_shape, builder = case
    model = positive_weights(builder().double(), rng)
    fields = receptive_field(model, (1,) + in_shape, dtype=np.float64)
    last = fields[-1]
    units = all_units(last.output_shape, limit=150, rng=rng)
    masks = gradient_footprints(model, in_shape, units, rng)
    interior = 0
    for unit, mask in zip(units, masks):
        want = expected_mask(last.field, unit[1:], in_shape[1:])
        if inside(last.field, unit[1:]):
            interior += 1
            assert np.array_equal(mask, want), (
                f"[{name}] unit {unit}: gradient footprint along axis 0 {np.nonzero(mask.any(axis=tuple(range(1, n))))[0]} "
                f"vs field {[(f.size, f.jump, f.start) for f in last.field]}")
        else:
            assert not (mask & ~want).any(), f"[{name}] border unit {unit} reads outside its field"
    assert interior >= 4, f"[{name}] only {interior} interior units: make the input larger"


def _max_pool(n, kernel_size, stride=None, padding=0, dilation=1):
    cls = _pool_layers()[3 if n == 1 else 1]
    if cls is None:
        pytest.skip("max pooling has not landed on this branch yet")
    return cls(kernel_size, stride=stride, padding=padding, dilation=dilation)


@pytest.mark.parametrize("n,in_shape,layers,trials", [
    (2, (1, 16, 15), lambda: [_conv(2, 1, 2, 3), _max_pool(2, 3, stride=2, padding=1), _conv(2, 2, 1, 2)], 48),
    # two nested max pools, the second dilated over a field with holes: a pixel wins with p = 1/16
    (2, (1, 30, 30), lambda: [_max_pool(2, 2), _conv(2, 1, 1, 3, stride=2), _max_pool(2, 2, dilation=2)], 240),
    (1, (1, 40), lambda: [_conv(1, 1, 1, 3, dilation=2), _max_pool(1, 4, stride=3, padding=2), _conv(1, 1, 1, 3)], 48),
], ids=["2d-conv-maxpool-padded", "2d-maxpool-dilated-holes", "1d-maxpool"])
def test_max_pool_field_is_the_union_of_routed_gradients(n, in_shape, layers, trials, rng):
    """Max pooling routes the gradient to one pixel per window; over many random inputs
    every position wins somewhere, and the union of footprints is the field."""
    model = positive_weights(nn.Sequential(*layers()).double(), rng)
    last = receptive_field(model, (1,) + in_shape, dtype=np.float64)[-1]
    units = all_units(last.output_shape)
    units = [u for u in units if inside(last.field, u[1:])]
    assert len(units) >= 4
    masks = gradient_footprints(model, in_shape, units, rng, trials=trials)
    for unit, mask in zip(units, masks):
        assert np.array_equal(mask, expected_mask(last.field, unit[1:], in_shape[1:])), f"unit {unit}"


TRANSPOSED = [
    ("seed-2d", 2, (1, 5, 5), lambda: [_conv(2, 1, 1, 3, stride=2), _convt(2, 1, 1, 3, stride=2)]),
    ("2d-k4-s2-p1", 2, (1, 6, 7), lambda: [_convt(2, 1, 2, 4, stride=2, padding=1), _conv(2, 2, 1, 3)]),
    ("2d-same-s2-dilation", 2, (1, 5, 6), lambda: [_convt(2, 1, 1, 3, stride=2, padding="same", dilation=2)]),
    ("2d-output-padding-then-stride", 2, (1, 10, 9), lambda: [
        _conv(2, 1, 1, 3, stride=2, padding=1), _convt(2, 1, 1, 3, stride=2, padding=1, output_padding=1),
        _conv(2, 1, 1, 2)]),
    ("2d-s1", 2, (1, 6, 6), lambda: [_convt(2, 1, 1, 3, padding=1, dilation=2)]),
    ("1d-k3-s3-d2-holes", 1, (1, 9), lambda: [_convt(1, 1, 1, 3, stride=3, dilation=2)]),
    ("1d-two-transposed", 1, (1, 7), lambda: [_convt(1, 1, 1, 3, stride=2), _convt(1, 1, 1, 4, stride=2, padding=1)]),
    ("1d-conv-transposed-conv", 1, (1, 20), lambda: [
        _conv(1, 1, 1, 5, stride=2), _convt(1, 1, 1, 5, stride=3, padding=2), _conv(1, 1, 1, 3, dilation=2)]),
]


@pytest.mark.parametrize("case", TRANSPOSED, ids=lambda c: c[0])
def test_transposed_fields_equal_gradient_footprints(case, rng):
    """Below a transposed convolution (stride s > 1) a unit reads the pixels of its hull that
    its phase lets through: the exact per-phase sets equal the gradient footprints of the
    interior units, every footprint lies inside the hull (size, jump, start), and the
    hull is reached at both ends by some unit, so it is the smallest interval."""
    name, n, in_shape, layers = case
    model = positive_weights(nn.Sequential(*layers()).double(), rng)
    last = receptive_field(model, (1,) + in_shape, dtype=np.float64)[-1]
    units = all_units(last.output_shape)
    masks = gradient_footprints(model, in_shape, units, rng)
    interior = 0
    for unit, mask in zip(units, masks):
        index = unit[1:]
        want = expected_mask(last.field, index, in_shape[1:])
        hull = np.zeros(in_shape[1:], dtype=bool)
        hull[tuple(slice(max(math.ceil(f.bounds(o)[0]), 0), math.floor(f.bounds(o)[1]) + 1)
                   for f, o in zip(last.field, index))] = True
        assert not (mask & ~hull).any(), f"[{name}] unit {unit} reads pixels outside its hull"
        assert not (mask & ~want).any(), f"[{name}] unit {unit} reads pixels outside its pixel sets"
        if inside(last.field, index):
            interior += 1
            assert np.array_equal(mask, want), (
                f"[{name}] unit {unit}: footprint {[list(np.nonzero(mask.any(axis=tuple(b for b in range(n) if b != a)))[0]) for a in range(n)]}"
                f" vs {[f.pixels(o) for f, o in zip(last.field, index)]}")
    assert interior >= 1, f"[{name}] no interior unit"
    for f in last.field:  # the hull is tight: some unit's set touches each end
        lows = [min(f.unit_pixels(o)) - f.bounds(o)[0] for o in range(f.period) if f.unit_pixels(o)]
        highs = [f.bounds(o)[1] - max(f.unit_pixels(o)) for o in range(f.period) if f.unit_pixels(o)]
        assert min(lows) >= 0 and min(highs) >= 0
        assert min(lows) < 1 and min(highs) < 1, f"[{name}] hull larger than the pixel sets: {lows} {highs}"


def test_transposed_max_span_matches_the_widest_footprint(rng):
    """For one transposed layer on the input, the widest footprint spans transposed_max_span + 1 pixels."""
    for k, s, d in [(3, 2, 1), (4, 2, 1), (3, 3, 2), (5, 2, 3), (2, 3, 2)]:
        model = positive_weights(nn.Sequential(_convt(1, 1, 1, k, stride=s, dilation=d)).double(), rng)
        in_len = 8
        units = all_units((1, 1, (in_len - 1) * s + (k - 1) * d + 1))
        masks = gradient_footprints(model, (1, in_len), units, rng)
        widest = max(np.ptp(np.nonzero(m)[0]) for m in masks if m.any())
        assert widest == transposed_max_span(k, s, d), f"k={k} s={s} d={d}"


# ------------------------------------------------------------- global layers
def test_flatten_linear_and_depth_growth():
    model = nn.Sequential(_conv(2, 1, 2, 5), _conv(2, 2, 2, 3, stride=2), _conv(2, 2, 2, 3), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 3))
    fields = receptive_field(model, (1, 1, 16, 16))
    sizes = [f.field[0].size for f in fields[:3]]
    assert sizes == [5, 7, 11] and sizes == sorted(sizes)  # fields grow with depth
    flat, linear = fields[3].field, fields[4].field
    assert len(flat) == 1 and [f.size for f in flat[0].fields] == [11, 11]
    assert all(f.is_global and f.size == 16 for f in linear[0].fields)


# ------------------------------------------------- the project's other layers
def test_fields_through_pointwise_global_and_token_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Maxout(2),
                          nn.MaxPool2d(2), nn.Softmax(dim=1), nn.Conv2d(2, 2, 3))
    fields = {f.name: f for f in receptive_field(model, (2, 1, 16, 16))}
    assert [fields[n].field[0].size for n in ("0", "1", "2", "3", "4", "5", "6", "7")] == [3, 3, 3, 3, 3, 4, 4, 8]
    s = receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softmax(dim=2)), (1, 1, 9, 9))[-1].field
    assert s[0].is_global and not s[1].is_global and s[1].size == 3  # softmax along H mixes every row
    ln = receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.LayerNorm([2, 7, 7])), (1, 1, 9, 9))[-1].field
    assert all(f.is_global for f in ln)
    ad = receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1)), (1, 1, 9, 9))[-1]
    assert ad.output_shape == (1, 2, 1, 1) and all(f.is_global and f.size == 9 for f in ad.field)
    mo = receptive_field(nn.Sequential(nn.Conv1d(1, 2, 3), nn.Maxout(2, dim=2)), (1, 1, 10))[-1]
    assert mo.output_shape == (1, 2, 4) and (mo.field[0].size, mo.field[0].jump) == (4, 2)  # Maxout along L


def test_token_fields_of_a_text_cnn():
    """Embedding -> (N, L, E) -> transpose -> Conv1d over tokens: a kernel of k tokens sees k tokens."""

    class TextCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.convs = nn.ModuleList([nn.Conv1d(8, 4, k) for k in (3, 4, 5)])
            self.pool = nn.AdaptiveMaxPool1d(1)

        def forward(self, tokens):
            x = self.emb(tokens).transpose(1, 2)
            return cnnkit.cat([self.pool(conv(x)) for conv in self.convs], dim=1)

    fields = {f.name: f for f in receptive_field(TextCNN(), (2, 20), dtype=np.int64)}
    assert fields["emb"].output_shape == (2, 20, 8) and fields["emb"].field[0].size == 1
    assert [fields[f"convs.{i}"].field[0].size for i in range(3)] == [3, 4, 5]
    assert fields["pool"].field[0].is_global and fields["pool"].field[0].size == 20


def test_depth_grows_the_field_while_the_first_layer_stays_an_edge_detector():
    """The seed: shallow layers see edges (3x3), deeper ones ever larger parts of the image."""
    model, shape = zoo.build("seed-kernels")
    s = cnnkit.summary(model, shape)
    convs = [r for r in s.leaf_rows if r.type == "Conv2d"]
    sizes = [int(r.rf_size[0]) for r in convs]
    assert sizes[0] == 3 and sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert sizes[-1] >= 20 and s.leaf_rows[-1].field[0].fields[0].is_global
    assert s.non_trainable_params == 6 * 3 * 3  # the fixed classic kernels


def test_zoo_textcnn_sees_three_four_five_tokens():
    model, shape = zoo.build("textcnn")
    s = cnnkit.summary(model, shape, dtype=np.dtype(zoo.ZOO["textcnn"].dtype))
    convs = [r for r in s.leaf_rows if r.type == "Conv1d"]
    assert [r.rf_size for r in convs] == [(3,), (4,), (5,)]
    assert s.leaf_rows[0].type == "Embedding" and s.leaf_rows[0].output_shape == (1, 40, 32)
