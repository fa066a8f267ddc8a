"""Pooling: against PyTorch over seeded grids, float64 finite differences, and
the gradient routing on small hand-computed inputs."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from helpers import compare_with_torch, gradcheck, torch

TF = torch.nn.functional
DTYPES = [np.float32, np.float64]


def distinct(rng, shape, dtype=np.float64):
    """Values that are all different (at least 0.1 apart), so the maximum of every
    window is unique and finite differences of max ops are valid."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 3.0).astype(dtype)


def max_configs(n):
    """(kernel, stride, padding, dilation, ceil_mode) grid with PyTorch-valid padding."""
    out = []
    for k, s, d, cm in itertools.product([1, 2, 3], [None, 1, 2, 3], [1, 2], [False, True]):
        for p in range(k // 2 + 1):
            out.append((k, s, p, d, cm))
    if n >= 2:  # anisotropic
        out += [((2, 3), (1, 2), (1, 0), (1, 2), False), ((3, 2), (2, 1), (1, 1), (2, 1), True)]
    return out


def ref_max(n):
    return {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}[n]


def ck_max(n):
    return {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]


# --------------------------------------------------------------- max pooling vs torch
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_matches_torch(n, dtype):
    rng = np.random.default_rng(10 + n)
    shape = (2, 3) + (7,) * n if n == 1 else (2, 3, 7, 6)
    checked = 0
    for k, s, p, d, cm in max_configs(n):
        config = f"max_pool{n}d k={k} s={s} p={p} d={d} ceil={cm} {np.dtype(dtype).name}"
        x = distinct(rng, shape, dtype)
        compare_with_torch(lambda t: ck_max(n)(t, k, s, p, d, cm), lambda t: ref_max(n)(t, k, s, p, d, cm),
                           [x], config=config)
        out, idx = ck_max(n)(x, k, s, p, d, cm, return_indices=True)
        ref_out, ref_idx = ref_max(n)(torch.tensor(x), k, s, p, d, cm, return_indices=True)
        assert idx.dtype == np.int64, config
        np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy(), err_msg=config)
        np.testing.assert_array_equal(out.numpy(), ref_out.numpy(), err_msg=config)
        checked += 1
    assert checked >= 40


def test_max_pool3d_and_unbatched_match_torch():
    rng = np.random.default_rng(3)
    for k, s, p, d, cm in [(2, None, 0, 1, False), (3, 2, 1, 1, True), ((1, 2, 3), (1, 2, 1), (0, 1, 1), (1, 1, 2), False)]:
        x = distinct(rng, (2, 2, 5, 6, 7))
        compare_with_torch(lambda t: F.max_pool3d(t, k, s, p, d, cm), lambda t: TF.max_pool3d(t, k, s, p, d, cm), [x],
                           config=f"max_pool3d k={k} s={s} p={p} d={d} ceil={cm}")
    x = distinct(rng, (3, 6, 5), np.float32)  # unbatched (C, H, W)
    compare_with_torch(lambda t: F.max_pool2d(t, 2, 1, 1), lambda t: TF.max_pool2d(t, 2, 1, 1), [x], config="unbatched")
    out, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    _, ref_idx = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_ties_match_torch(dtype):
    """Many equal values: the gradient goes to the first maximum, as PyTorch."""
    rng = np.random.default_rng(4)
    for k, s, p in [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)]:
        x = rng.integers(0, 3, (2, 2, 6, 7)).astype(dtype)
        compare_with_torch(lambda t: F.max_pool2d(t, k, s, p), lambda t: TF.max_pool2d(t, k, s, p), [x],
                           config=f"ties k={k} s={s} p={p}")
        _, idx = F.max_pool2d(x, k, s, p, return_indices=True)
        _, ref_idx = TF.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy(), err_msg=f"ties k={k} s={s} p={p}")


def test_max_pool_large_kernel_matches_torch():
    """More than 256 kernel positions: the stored argmax no longer fits uint8."""
    x = np.round(np.random.default_rng(11).standard_normal((1, 2, 40, 40)) * 2)
    compare_with_torch(lambda t: F.max_pool2d(t, 17, 3), lambda t: TF.max_pool2d(t, 17, 3), [x], config="k=17")
    _, idx = F.max_pool2d(x, 17, 3, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), TF.max_pool2d(torch.tensor(x), 17, 3, return_indices=True)[1].numpy())


def test_max_pool_nan_matches_torch():
    x = np.array([[[np.nan, 1.0, np.nan, 2.0, 3.0, 1.0, np.nan, 5.0]]])
    out, idx = F.max_pool1d(x, 4, 2, return_indices=True)
    ref_out, ref_idx = TF.max_pool1d(torch.tensor(x), 4, 2, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref_out.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_pool_all_minus_inf_windows_route_into_the_input(n):
    """Issue 10: a padded window whose input cells are all -inf has its maximum in the
    padding too; the index and the gradient must still go to an input cell, as PyTorch."""
    rng = np.random.default_rng(12)
    fn, ref = ck_max(n), ref_max(n)
    for k, s, p, d, cm in [(2, 1, 1, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), (2, 3, 1, 1, True)]:
        x = np.full((2, 2) + (4,) * n, -np.inf)
        x[0, 1] = distinct(rng, (4,) * n)  # one channel finite, the others all -inf
        x[1, 0].flat[::3] = 1.0  # partly -inf
        config = f"max_pool{n}d k={k} s={s} p={p} d={d} ceil={cm}"
        xt = cnnkit.tensor(x, requires_grad=True)
        out, idx = fn(xt, k, s, p, d, cm, return_indices=True)
        tt = torch.tensor(x, requires_grad=True)
        ref_out, ref_idx = ref(tt, k, s, p, d, cm, return_indices=True)
        np.testing.assert_array_equal(out.numpy(), ref_out.detach().numpy(), err_msg=config)
        np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy(), err_msg=config)
        assert idx.numpy().min() >= 0, config
        g = rng.standard_normal(out.shape)
        out.backward(g)
        ref_out.backward(torch.tensor(g))
        np.testing.assert_allclose(xt.grad, tt.grad.numpy(), err_msg=config)
        np.testing.assert_allclose(xt.grad.sum(), g.sum(), err_msg=f"gradient mass lost: {config}")


def test_max_pool_gradcheck():
    rng = np.random.default_rng(5)
    for k, s, p, d, cm in [(2, 2, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 2, True), ((2, 3), (2, 1), (1, 1), 1, True)]:
        gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, cm), [distinct(rng, (1, 2, 6, 7))],
                  config=f"max_pool2d k={k} s={s} p={p} d={d} ceil={cm}")
    gradcheck(lambda t: F.max_pool1d(t, 3, 2, 1, ceil_mode=True), [distinct(rng, (2, 2, 9))], config="max_pool1d")


# ----------------------------------------------------------- hand-computed routing
def _grad(fn, x, g):
    t = cnnkit.Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out = fn(t)
    out.backward(np.asarray(g, dtype=np.float64))
    return out.numpy(), t.grad


def test_max_pool_2x2_routes_gradient_to_each_window_max():
    x = np.array([[1., 2., 5., 0.],
                  [3., 4., 1., 6.],
                  [0., 9., 2., 2.5],
                  [8., 0., 7., 3.]])[None, None]
    g = np.array([[10., 20.], [30., 40.]])[None, None]
    out, gx = _grad(lambda t: F.max_pool2d(t, 2), x, g)
    np.testing.assert_array_equal(out[0, 0], [[4., 6.], [9., 7.]])
    np.testing.assert_array_equal(gx[0, 0], [[0., 0., 0., 0.],
                                             [0., 10., 0., 20.],
                                             [0., 30., 0., 0.],
                                             [0., 0., 40., 0.]])


def test_max_pool_overlapping_windows_accumulate():
    # 3x3 windows, stride 1, on 4x4: the centre value 100 at (1, 1) is the maximum of all four windows
    x = np.arange(16.).reshape(4, 4)
    x[1, 1] = 100.
    g = np.array([[1., 2.], [3., 4.]])
    out, gx = _grad(lambda t: F.max_pool2d(t, 3, stride=1), x[None, None], g[None, None])
    np.testing.assert_array_equal(out[0, 0], [[100., 100.], [100., 100.]])
    expected = np.zeros((4, 4))
    expected[1, 1] = 1 + 2 + 3 + 4
    np.testing.assert_array_equal(gx[0, 0], expected)
    # and with distinct maxima each window sends its gradient to its own bottom-right corner
    out, gx = _grad(lambda t: F.max_pool2d(t, 3, stride=1), np.arange(16.).reshape(1, 1, 4, 4), g[None, None])
    np.testing.assert_array_equal(out[0, 0], [[10., 11.], [14., 15.]])
    expected = np.zeros((4, 4))
    expected[2, 2], expected[2, 3], expected[3, 2], expected[3, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(gx[0, 0], expected)


def test_max_pool_ties_go_to_first_maximum():
    x = np.array([[7., 7., 1., 5.],
                  [7., 7., 5., 1.]])[None, None]
    out, gx = _grad(lambda t: F.max_pool2d(t, 2), x, np.array([[[[2., 3.]]]]))
    np.testing.assert_array_equal(out[0, 0], [[7., 5.]])
    np.testing.assert_array_equal(gx[0, 0], [[2., 0., 0., 3.],
                                             [0., 0., 0., 0.]])
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 3]])


def test_max_pool_with_padding_routes_to_real_positions():
    # 3x3 input, kernel 2, stride 2, padding 1 -> 2x2 windows over rows/cols {-1,0} and {1,2}
    x = np.array([[-1., -7., -3.],
                  [-4., -2., -6.],
                  [-8., -5., -9.]])[None, None]  # all negative: the -inf padding must never win
    g = np.array([[1., 2.], [3., 4.]])[None, None]
    out, gx = _grad(lambda t: F.max_pool2d(t, 2, stride=2, padding=1), x, g)
    # windows: {x00}, {x01, x02}, {x10, x20}, {x11, x12, x21, x22}
    np.testing.assert_array_equal(out[0, 0], [[-1., -3.], [-4., -2.]])
    np.testing.assert_array_equal(gx[0, 0], [[1., 0., 2.],
                                             [3., 4., 0.],
                                             [0., 0., 0.]])
    _, idx = F.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 2], [3, 4]])  # flat h * 3 + w in the unpadded input


def test_avg_pool_spreads_gradient_evenly():
    x = np.arange(16.).reshape(1, 1, 4, 4)
    g = np.array([[4., 8.], [12., 16.]])[None, None]
    out, gx = _grad(lambda t: F.avg_pool2d(t, 2), x, g)
    np.testing.assert_array_equal(out[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(gx[0, 0], [[1., 1., 2., 2.],
                                             [1., 1., 2., 2.],
                                             [3., 3., 4., 4.],
                                             [3., 3., 4., 4.]])


def test_avg_pool_count_include_pad_on_padded_corner():
    x = (np.arange(9.) + 1).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    g = np.array([[4., 4.], [4., 4.]])[None, None]
    # windows (kernel 2, stride 2, padding 1): {1}, {2, 3}, {4, 7}, {5, 6, 8, 9}
    out, gx = _grad(lambda t: F.avg_pool2d(t, 2, 2, 1, count_include_pad=True), x, g)
    np.testing.assert_allclose(out[0, 0], [[1 / 4, 5 / 4], [11 / 4, 28 / 4]])
    np.testing.assert_array_equal(gx[0, 0], np.ones((3, 3)))  # every position: 4 / 4
    out, gx = _grad(lambda t: F.avg_pool2d(t, 2, 2, 1, count_include_pad=False), x, g)
    np.testing.assert_allclose(out[0, 0], [[1., 5 / 2], [11 / 2, 28 / 4]])
    np.testing.assert_array_equal(gx[0, 0], [[4., 2., 2.],
                                             [2., 1., 1.],
                                             [2., 1., 1.]])


# ----------------------------------------------------------------- mean pooling
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_matches_torch(n, dtype):
    rng = np.random.default_rng(20 + n)
    shape = (2, 3, 8) if n == 1 else (2, 3, 7, 6)
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d}[n]
    ref = {1: TF.avg_pool1d, 2: TF.avg_pool2d}[n]
    checked = 0
    for k, s, cm, cip in itertools.product([1, 2, 3], [None, 1, 2], [False, True], [True, False]):
        for p in range(k // 2 + 1):
            config = f"avg_pool{n}d k={k} s={s} p={p} ceil={cm} count_include_pad={cip} {np.dtype(dtype).name}"
            x = rng.standard_normal(shape).astype(dtype)
            compare_with_torch(lambda t: fn(t, k, s, p, cm, cip), lambda t: ref(t, k, s, p, cm, cip), [x], config=config)
            checked += 1
    assert checked >= 50
    if n == 2:
        for div in (1, 3, -2):
            x = rng.standard_normal(shape).astype(dtype)
            compare_with_torch(lambda t: F.avg_pool2d(t, 3, 2, 1, True, False, div),
                               lambda t: TF.avg_pool2d(t, 3, 2, 1, True, False, div), [x], config=f"divisor={div}")
        x = rng.standard_normal(shape).astype(dtype)
        compare_with_torch(lambda t: F.avg_pool2d(t, (2, 3), (1, 2), (1, 0), True),
                           lambda t: TF.avg_pool2d(t, (2, 3), (1, 2), (1, 0), True), [x], config="anisotropic")


def test_avg_pool3d_matches_torch_and_gradcheck():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 5, 4, 6))
    for k, s, p, cm, cip in [(2, None, 0, False, True), (3, 2, 1, True, False),
                             ((1, 2, 3), (1, 1, 2), (0, 1, 1), True, True)]:
        compare_with_torch(lambda t: F.avg_pool3d(t, k, s, p, cm, cip), lambda t: TF.avg_pool3d(t, k, s, p, cm, cip),
                           [x], config=f"avg_pool3d k={k} s={s} p={p} ceil={cm} cip={cip}")
    for k, s, p, cm, cip in [(2, 1, 1, False, True), (3, 2, 1, True, False)]:
        gradcheck(lambda t: F.avg_pool2d(t, k, s, p, cm, cip), [rng.standard_normal((1, 2, 5, 6))],
                  config=f"avg_pool2d k={k} s={s} p={p} ceil={cm} cip={cip}")


# --------------------------------------------------------------------- adaptive
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_pools_match_torch(dtype):
    rng = np.random.default_rng(7)
    cases = [(1, (10,), 3), (1, (7,), 7), (1, (5,), 8), (1, (9,), 4),
             (2, (7, 9), (3, 4)), (2, (6, 6), 1), (2, (5, 7), (None, 3)), (2, (4, 5), (6, 7)), (2, (8, 8), 2),
             (3, (4, 5, 6), (2, None, 4))]
    for n, spatial, size in cases:
        config = f"{n}d in={spatial} output_size={size} {np.dtype(dtype).name}"
        ck_avg = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[n]
        th_avg = {1: TF.adaptive_avg_pool1d, 2: TF.adaptive_avg_pool2d, 3: TF.adaptive_avg_pool3d}[n]
        ck_max_ = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[n]
        th_max = {1: TF.adaptive_max_pool1d, 2: TF.adaptive_max_pool2d, 3: TF.adaptive_max_pool3d}[n]
        x = rng.standard_normal((2, 3) + spatial).astype(dtype)
        compare_with_torch(lambda t: ck_avg(t, size), lambda t: th_avg(t, size), [x], config="avg " + config)
        x = distinct(rng, (2, 3) + spatial, dtype)
        compare_with_torch(lambda t: ck_max_(t, size), lambda t: th_max(t, size), [x], config="max " + config)
        _, idx = ck_max_(x, size, return_indices=True)
        _, ref_idx = th_max(torch.tensor(x), size, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy(), err_msg="indices " + config)
        ties = rng.integers(0, 2, (2, 3) + spatial).astype(dtype)
        compare_with_torch(lambda t: ck_max_(t, size), lambda t: th_max(t, size), [ties], config="max ties " + config)


def test_adaptive_pools_gradcheck_and_unbatched():
    rng = np.random.default_rng(8)
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 2)), [rng.standard_normal((1, 2, 7, 5))], config="adaptive avg")
    gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), [distinct(rng, (1, 2, 7, 5))], config="adaptive max")
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    compare_with_torch(lambda t: F.adaptive_max_pool2d(t, 2), lambda t: TF.adaptive_max_pool2d(t, 2), [x],
                       config="unbatched adaptive max")
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, (2, 3)), lambda t: TF.adaptive_avg_pool2d(t, (2, 3)), [x],
                       config="unbatched adaptive avg")


# --------------------------------------------------------------------- modules
def test_modules_match_torch_attributes_and_outputs():
    rng = np.random.default_rng(9)
    pairs = [
        (nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
        (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (nn.MaxPool1d(3, ceil_mode=True), torch.nn.MaxPool1d(3, ceil_mode=True)),
        (nn.AvgPool1d(3), torch.nn.AvgPool1d(3)),
        (nn.AvgPool2d((2, 3), padding=1, count_include_pad=False),
         torch.nn.AvgPool2d((2, 3), padding=1, count_include_pad=False)),
        (nn.AdaptiveAvgPool2d((None, 3)), torch.nn.AdaptiveAvgPool2d((None, 3))),
        (nn.AdaptiveMaxPool2d(2), torch.nn.AdaptiveMaxPool2d(2)),
        (nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4)),
        (nn.AdaptiveMaxPool1d(4), torch.nn.AdaptiveMaxPool1d(4)),
    ]
    for ours, ref in pairs:
        attrs = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad", "output_size",
                 "return_indices", "divisor_override")
        for a in attrs:
            if hasattr(ref, a):
                assert getattr(ours, a) == getattr(ref, a), (type(ours).__name__, a)
        assert repr(ours) == repr(ref)
        one_d = "1d" in type(ref).__name__
        x = rng.standard_normal((2, 3, 9) if one_d else (2, 3, 9, 8)).astype(np.float32)
        compare_with_torch(ours, ref, [x], config=type(ours).__name__)


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, exc, match", [
    (lambda x: F.max_pool2d(x, 0), ValueError, "kernel_size must be positive"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), ValueError, "kernel_size must be an int or a tuple of 2"),
    (lambda x: F.max_pool2d(x, 2.5), TypeError, "kernel_size"),
    (lambda x: F.max_pool2d(x, 2, stride=0), ValueError, "stride must be positive"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), ValueError, "padding must be >= 0"),
    (lambda x: F.max_pool2d(x, 2, padding=2), ValueError, r"padding must be at most half of kernel_size.*padding=\(2, 2\)"),
    (lambda x: F.avg_pool2d(x, 3, padding=2), ValueError, "padding must be at most half of kernel_size"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "dilation must be positive"),
    (lambda x: F.max_pool2d(x, 9), ValueError, "output size .* too small"),
    (lambda x: F.max_pool2d(x, 2, ceil_mode="yes"), TypeError, "ceil_mode must be a bool"),
    (lambda x: F.max_pool2d(x[0, 0], 2), ValueError, r"input must have 4 dimensions .* got shape \(6, 6\)"),
    (lambda x: F.max_pool1d(x, 2), ValueError, "input must have 3 dimensions"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), ValueError, "output_size"),
    (lambda x: F.adaptive_max_pool2d(x, (2, 2, 2)), ValueError, "output_size"),
    (lambda x: F.max_pool2d(x.astype(np.int64), 2), TypeError, "input must have a floating dtype"),
    (lambda x: nn.MaxPool2d(0), ValueError, "MaxPool2d: kernel_size must be positive"),
])
def test_bad_arguments(call, exc, match):
    x = np.zeros((1, 1, 6, 6), dtype=np.float32)
    with pytest.raises(exc, match=match):
        call(x)
