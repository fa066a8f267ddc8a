"""Batch and layer normalization against PyTorch (outputs, gradients, running
statistics, state_dict keys) and finite differences."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import nn
from helpers import compare_with_torch, gradcheck, torch

TF = torch.nn.functional
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_functional_matches_torch(dtype):
    rng = np.random.default_rng(0)
    shapes = [(6, 3), (4, 3, 5), (3, 3, 4, 5), (2, 3, 2, 3, 2)]
    for shape, training, affine, momentum, eps in itertools.product(shapes, [True, False], [True, False],
                                                                    [0.1, 0.5], [1e-5, 1e-2]):
        config = f"batch_norm shape={shape} training={training} affine={affine} momentum={momentum} eps={eps} " \
                 f"{np.dtype(dtype).name}"
        c = shape[1]
        x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
        rm0 = rng.standard_normal(c).astype(dtype)
        rv0 = rng.uniform(0.5, 2.0, c).astype(dtype)
        rm_ck, rv_ck = rm0.copy(), rv0.copy()
        rm_th, rv_th = torch.tensor(rm0), torch.tensor(rv0)
        inputs = [x]
        if affine:
            inputs += [rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)]

        def ours(t, w=None, b=None):
            return F.batch_norm(t, rm_ck, rv_ck, w, b, training, momentum, eps)

        def ref(t, w=None, b=None):
            return TF.batch_norm(t, rm_th, rv_th, w, b, training, momentum, eps)

        compare_with_torch(ours, ref, inputs, config=config)
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rm_ck, rm_th.numpy(), **tol, err_msg="running_mean " + config)
        np.testing.assert_allclose(rv_ck, rv_th.numpy(), **tol, err_msg="running_var " + config)
        if not training:
            np.testing.assert_array_equal(rm_ck, rm0)


def test_batch_norm_running_stats_use_unbiased_variance():
    x = np.array([[1.0], [2.0], [6.0]])  # mean 3, biased var 14/3, unbiased var 7
    rm, rv = np.zeros(1), np.ones(1)
    y = F.batch_norm(x, rm, rv, training=True, momentum=0.5, eps=0.0)
    np.testing.assert_allclose(y.numpy()[:, 0], (x[:, 0] - 3) / np.sqrt(14 / 3))  # batch stats, biased
    np.testing.assert_allclose(rm, [1.5])
    np.testing.assert_allclose(rv, [0.5 * 1 + 0.5 * 7])
    y = F.batch_norm(x, rm, rv, training=False, eps=0.0)  # eval: running statistics
    np.testing.assert_allclose(y.numpy()[:, 0], (x[:, 0] - 1.5) / 2.0)


def test_batch_norm_gradcheck():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2, 3))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    gradcheck(lambda t, tw, tb: F.batch_norm(t, None, None, tw, tb, training=True), [x, w, b], config="training")
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    gradcheck(lambda t, tw, tb: F.batch_norm(t, rm, rv, tw, tb, training=False), [x, w, b], config="eval")
    gradcheck(lambda t: F.batch_norm(t, None, None, training=True), [rng.standard_normal((5, 2))], config="no affine")


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batch_norm_module_tracks_like_torch(momentum):
    rng = np.random.default_rng(2)
    ours, ref = nn.BatchNorm2d(4, momentum=momentum), torch.nn.BatchNorm2d(4, momentum=momentum)
    ours.weight.data[...] = rng.standard_normal(4)
    ours.bias.data[...] = rng.standard_normal(4)
    ref.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    for step in range(4):  # several training steps: running stats equal torch's (unbiased variance)
        x = (rng.standard_normal((3, 4, 5, 6)) * (step + 1) + step).astype(np.float32)
        compare_with_torch(ours, ref, [x], config=f"train step {step} momentum={momentum}")
        for key, value in ref.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{key} after step {step}")
    assert int(ours.num_batches_tracked) == 4 and ours.num_batches_tracked.dtype == np.int64
    ours.eval(), ref.eval()
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    before = ours.running_mean.copy()
    compare_with_torch(ours, ref, [x], config="eval")  # eval: running stats, unchanged
    np.testing.assert_array_equal(ours.running_mean, before)
    assert int(ours.num_batches_tracked) == 4


def test_batch_norm_module_variants_and_state_dict_keys():
    rng = np.random.default_rng(3)
    for kwargs in [{}, {"affine": False}, {"track_running_stats": False}, {"affine": False, "track_running_stats": False},
                   {"bias": False}]:
        for ours, ref, shape in [(nn.BatchNorm1d(3, **kwargs), torch.nn.BatchNorm1d(3, **kwargs), (5, 3)),
                                 (nn.BatchNorm1d(3, **kwargs), torch.nn.BatchNorm1d(3, **kwargs), (5, 3, 4)),
                                 (nn.BatchNorm2d(3, **kwargs), torch.nn.BatchNorm2d(3, **kwargs), (2, 3, 4, 4))]:
            config = f"{type(ours).__name__} {kwargs} {shape}"
            assert list(ours.state_dict()) == list(ref.state_dict()), config
            assert repr(ours) == repr(ref), config
            x = rng.standard_normal(shape).astype(np.float32)
            compare_with_torch(ours, ref, [x], config="train " + config)
            ours.eval(), ref.eval()
            compare_with_torch(ours, ref, [x], config="eval " + config)
    # torch weights load into ours; eval outputs agree
    ref = torch.nn.BatchNorm2d(3)
    ref.train()
    with torch.no_grad():
        ref(torch.randn(4, 3, 5, 5) * 3 + 1)
        ref.weight.uniform_(0.5, 1.5)
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    compare_with_torch(ours, ref, [rng.standard_normal((2, 3, 4, 4)).astype(np.float32)], config="loaded")


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_matches_torch(dtype):
    rng = np.random.default_rng(4)
    for shape, norm_shape, affine in [((4, 6), 6, True), ((4, 6), (6,), False), ((2, 3, 4, 5), (4, 5), True),
                                      ((2, 3, 4, 5), (3, 4, 5), True), ((2, 3, 4, 5), [5], False), ((7,), 7, True)]:
        config = f"layer_norm shape={shape} normalized_shape={norm_shape} affine={affine} {np.dtype(dtype).name}"
        ns = (norm_shape,) if isinstance(norm_shape, int) else tuple(norm_shape)
        x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
        inputs = [x] + ([rng.standard_normal(ns).astype(dtype), rng.standard_normal(ns).astype(dtype)] if affine else [])
        compare_with_torch(lambda t, w=None, b=None: F.layer_norm(t, norm_shape, w, b),
                           lambda t, w=None, b=None: TF.layer_norm(t, ns, w, b), inputs, config=config)


def test_layer_norm_gradcheck_and_module():
    rng = np.random.default_rng(5)
    gradcheck(lambda t, w, b: F.layer_norm(t, (3, 4), w, b, eps=1e-3),
              [rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))],
              config="layer_norm")
    ours, ref = nn.LayerNorm((4, 5)), torch.nn.LayerNorm((4, 5))
    assert list(ours.state_dict()) == list(ref.state_dict()) and repr(ours) == repr(ref)
    compare_with_torch(ours, ref, [rng.standard_normal((2, 3, 4, 5)).astype(np.float32)], config="LayerNorm")
    ours, ref = nn.LayerNorm(5, elementwise_affine=False), torch.nn.LayerNorm(5, elementwise_affine=False)
    assert list(ours.state_dict()) == list(ref.state_dict()) == [] and repr(ours) == repr(ref)
    compare_with_torch(ours, ref, [rng.standard_normal((3, 5)).astype(np.float32)], config="LayerNorm no affine")
    ours, ref = nn.LayerNorm(5, bias=False), torch.nn.LayerNorm(5, bias=False)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"] and repr(ours) == repr(ref)
    compare_with_torch(ours, ref, [rng.standard_normal((3, 5)).astype(np.float32)], config="LayerNorm no bias")


def _x(shape=(4, 3, 2, 2)):
    return np.ones(shape, dtype=np.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.batch_norm(_x(), np.zeros(4, np.float32), np.ones(3, np.float32)), ValueError,
     r"running_mean must have shape \(3,\).*got \(4,\)"),
    (lambda: F.batch_norm(_x(), np.zeros(3, np.float32), np.ones((3, 1), np.float32)), ValueError,
     r"running_var must have shape \(3,\)"),
    (lambda: F.batch_norm(_x(), [0, 0, 0], np.ones(3, np.float32)), TypeError, "running_mean must be a NumPy array"),
    (lambda: F.batch_norm(_x(), None, None, np.ones(5, np.float32), training=True), ValueError,
     r"weight must have shape \(3,\)"),
    (lambda: F.batch_norm(_x(), None, None, training=False), ValueError, "running_mean and running_var are required"),
    (lambda: F.batch_norm(_x((1, 3)), None, None, training=True), ValueError, "more than 1 value per channel"),
    (lambda: F.batch_norm(_x((3,)), None, None, training=True), ValueError, "at least 2 dimensions"),
    (lambda: F.batch_norm(_x(), None, None, np.ones(3), training=True), TypeError, "dtypes must match"),
    (lambda: F.batch_norm(_x(), None, None, training=True, momentum=None), TypeError, "momentum"),
    (lambda: nn.BatchNorm2d(4)(_x()), ValueError,
     r"running_mean must have shape \(3,\), one entry per channel .* got \(4,\)"),
    (lambda: nn.BatchNorm2d(3)(_x((4, 3))), ValueError, "BatchNorm2d: expected 4D input, got 2D input"),
    (lambda: nn.BatchNorm1d(3)(_x()), ValueError, "BatchNorm1d: expected 2D or 3D input, got 4D input"),
    (lambda: nn.BatchNorm2d(0), ValueError, "num_features must be a positive int"),
    (lambda: F.layer_norm(_x(), (3, 2)), ValueError, r"normalized_shape=\(3, 2\) must equal the trailing dimensions"),
    (lambda: F.layer_norm(_x(), 5), ValueError, "normalized_shape=.5,. must equal"),
    (lambda: F.layer_norm(_x(), (2, 2), np.ones(4, np.float32)), ValueError, r"weight must have shape \(2, 2\)"),
    (lambda: F.layer_norm(_x(), "2"), TypeError, "normalized_shape must be an int or a tuple"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
