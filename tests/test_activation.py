"""Activations and maxout against PyTorch and finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from helpers import compare_with_torch, gradcheck, torch

TF = torch.nn.functional
DTYPES = [np.float32, np.float64]

ELEMENTWISE = [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu),
    ("leaky_relu(0.2)", lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
    ("leaky_relu(-1.5)", lambda t: F.leaky_relu(t, -1.5), lambda t: TF.leaky_relu(t, -1.5)),
    ("tanh", F.tanh, torch.tanh),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("elu", F.elu, TF.elu),
    ("elu(0.5)", lambda t: F.elu(t, 0.5), lambda t: TF.elu(t, 0.5)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, ours, ref", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_match_torch(name, ours, ref, dtype):
    rng = np.random.default_rng(0)
    for shape in [(7,), (3, 4), (2, 3, 4, 5)]:
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        x.flat[0] = 0.0  # the kink: subgradient conventions must match PyTorch (relu'(0) = 0)
        compare_with_torch(ours, ref, [x], config=f"{name} shape={shape} {np.dtype(dtype).name}")
    extreme = np.array([-1000., -80., -20., 0., 20., 80., 1000.], dtype=dtype)  # no overflow, no nan
    compare_with_torch(ours, ref, [extreme], config=f"{name} extreme {np.dtype(dtype).name}")


@pytest.mark.parametrize("name, ours, ref", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_gradcheck(name, ours, ref):
    x = np.random.default_rng(1).standard_normal((3, 5)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # finite differences need distance from the kink
    gradcheck(ours, [x], config=name)


def test_relu_subgradient_at_zero_is_zero():
    t = cnnkit.Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.relu(t).backward(np.ones(3))
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 1.0])
    t = cnnkit.Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.leaky_relu(t, 0.1).backward(np.ones(3))
    np.testing.assert_allclose(t.grad, [0.1, 0.1, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_log_softmax_match_torch(dtype):
    rng = np.random.default_rng(2)
    for shape, dim in [((5,), 0), ((4, 6), 1), ((4, 6), 0), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1), ((2, 3, 4), -2)]:
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        config = f"shape={shape} dim={dim} {np.dtype(dtype).name}"
        compare_with_torch(lambda t: F.softmax(t, dim), lambda t: TF.softmax(t, dim), [x], config="softmax " + config)
        compare_with_torch(lambda t: F.log_softmax(t, dim), lambda t: TF.log_softmax(t, dim), [x],
                           config="log_softmax " + config)
    big = np.array([[1000., 0., -1000.], [1e4, 1e4, 1e4]], dtype=dtype)  # stable: no overflow
    for ours, ref in [(F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)]:
        compare_with_torch(lambda t: ours(t, 1), lambda t: ref(t, 1), [big], config=f"large {ours.__name__}")
        assert np.isfinite(ours(big, 1).numpy()).all()


def test_softmax_gradcheck_and_implicit_dim():
    x = np.random.default_rng(3).standard_normal((3, 4, 2))
    gradcheck(lambda t: F.softmax(t, 1), [x], config="softmax")
    gradcheck(lambda t: F.log_softmax(t, -1), [x], config="log_softmax")
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(x.astype(np.float32))  # PyTorch's legacy choice: dim 0 for 3-D input
    np.testing.assert_allclose(y.numpy(), TF.softmax(torch.tensor(x.astype(np.float32)), 0).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxout_matches_torch_reshape_max(dtype):
    rng = np.random.default_rng(4)
    for shape, pieces, dim in [((2, 6), 2, 1), ((2, 6, 5), 3, 1), ((2, 8, 3, 3), 4, 1), ((2, 3, 4), 2, -1),
                               ((2, 6, 3, 3), 1, 1), ((2, 6, 3, 3), 6, 1)]:
        d = dim % len(shape)

        def ref(t):
            grouped = t.reshape(shape[:d] + (shape[d] // pieces, pieces) + shape[d + 1:])
            return grouped.max(dim=d + 1).values  # gradient to the first maximum

        config = f"maxout shape={shape} pieces={pieces} dim={dim} {np.dtype(dtype).name}"
        x = rng.standard_normal(shape).astype(dtype)
        compare_with_torch(lambda t: F.maxout(t, pieces, dim), ref, [x], config=config)
        ties = rng.integers(0, 2, shape).astype(dtype)
        compare_with_torch(lambda t: F.maxout(t, pieces, dim), ref, [ties], config="ties " + config)


def test_maxout_hand_computed_and_gradcheck():
    x = np.array([[1., 4., 3., 3., -2., -5.]])
    t = cnnkit.Tensor(x, requires_grad=True)
    out = F.maxout(t, pieces=2)
    np.testing.assert_array_equal(out.numpy(), [[4., 3., -2.]])
    out.backward(np.array([[10., 20., 30.]]))
    np.testing.assert_array_equal(t.grad, [[0., 10., 20., 0., 30., 0.]])  # tie (3, 3): the first one
    x = np.random.default_rng(5).permutation(24).reshape(2, 6, 2) * 0.1
    gradcheck(lambda t: F.maxout(t, 3), [x], config="maxout")


def test_modules():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    for ours, ref in [(nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
                      (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.ELU(0.7), torch.nn.ELU(0.7)),
                      (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1))]:
        compare_with_torch(ours, ref, [x], config=type(ours).__name__)
        assert repr(ours) == repr(ref)
    m = nn.Maxout(3)
    assert m(x).shape == (2, 2, 3) and repr(m) == "Maxout(pieces=3, dim=1)"
    t = cnnkit.Tensor(x, requires_grad=True)
    assert t.tanh().shape == x.shape and t.sigmoid().shape == x.shape  # Tensor methods use these ops


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: F.maxout(x, 4), ValueError, r"number of channels 6 .* not divisible by pieces=4"),
    (lambda x: F.maxout(x, 0), ValueError, "pieces must be a positive int"),
    (lambda x: F.maxout(x, 2.0), TypeError, "pieces must be a positive int"),
    (lambda x: F.maxout(x, 2, dim=3), IndexError, r"maxout: Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)"),
    (lambda x: nn.Maxout(-1), ValueError, "pieces must be a positive int"),
    (lambda x: F.softmax(x, dim=5), IndexError, r"Dimension out of range .* but got 5"),
    (lambda x: F.log_softmax(x, dim=1.5), TypeError, "dim must be an int"),
    (lambda x: F.leaky_relu(x, "0.1"), TypeError, "negative_slope must be a finite number"),
    (lambda x: F.leaky_relu(x, float("nan")), ValueError, "negative_slope must be a finite number, got nan"),
    (lambda x: F.softmax(x, 1, dtype=np.int32), TypeError, "dtype must be a floating dtype"),
    (lambda x: F.relu(x.astype(np.int32)), TypeError, "input must have a floating dtype"),
])
def test_bad_arguments(call, exc, match):
    x = np.zeros((2, 6, 3), dtype=np.float32)
    with pytest.raises(exc, match=match):
        call(x)
