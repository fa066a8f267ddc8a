"""Dropout: determinism, scaling, statistics, train/eval, gradients."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from helpers import gradcheck


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seeded_determinism_and_inverted_scaling(dtype):
    x = np.random.default_rng(0).uniform(1, 2, (4, 5, 6)).astype(dtype)
    a = F.dropout(x, 0.3, generator=np.random.default_rng(7)).numpy()
    b = F.dropout(x, 0.3, generator=np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == dtype and a.shape == x.shape
    kept = a != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(a[kept], x[kept] / np.asarray(0.7, dtype=dtype), rtol=1e-6)
    cnnkit.manual_seed(3)
    c = F.dropout(x, 0.3).numpy()
    cnnkit.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.3).numpy(), c)  # the default generator is seedable


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mean_preserved_and_drop_rate(p):
    x = np.ones(400_000, dtype=np.float32)
    y = F.dropout(x, p, generator=np.random.default_rng(1)).numpy()
    n = x.size
    rate = float(np.mean(y == 0))
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n), rate  # 5 standard deviations
    assert abs(float(y.mean()) - 1.0) < 5 * np.sqrt(p / (1 - p) / n), float(y.mean())


def test_eval_identity_and_edge_probabilities():
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x)
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x)
    t = cnnkit.Tensor(x, requires_grad=True)
    out = F.dropout(t, 1.0)
    np.testing.assert_array_equal(out.numpy(), np.zeros_like(x))
    out.backward(np.ones_like(x))
    np.testing.assert_array_equal(t.grad, np.zeros_like(x))
    m = nn.Dropout(0.5)
    assert m.training
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x)
    m.train()
    assert (m(np.ones((100, 100), np.float32)).numpy() == 0).any()
    assert repr(m) == "Dropout(p=0.5, inplace=False)"


def test_gradient_is_the_same_mask():
    x = np.random.default_rng(3).standard_normal((5, 6))
    t = cnnkit.Tensor(x, requires_grad=True)
    out = F.dropout(t, 0.4, generator=np.random.default_rng(4))
    g = np.random.default_rng(5).standard_normal(x.shape)
    out.backward(g)
    mask = out.numpy() / x
    np.testing.assert_allclose(t.grad, g * mask)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}
    gradcheck(lambda t: F.dropout(t, 0.4, generator=np.random.default_rng(4)), [x], config="dropout")


def test_channel_dropout_drops_whole_maps():
    x = np.ones((8, 16, 3, 3), dtype=np.float32)
    y = F.dropout2d(x, 0.5, generator=np.random.default_rng(6)).numpy()
    per_map = y.reshape(8, 16, -1)
    assert np.all((per_map == 0).all(axis=2) | (per_map == 2.0).all(axis=2))
    assert 0 < (per_map[:, :, 0] == 0).sum() < 8 * 16
    y1 = F.dropout1d(np.ones((4, 6, 5)), 0.5, generator=np.random.default_rng(7)).numpy()
    assert np.all((y1 == 0).all(axis=2) | (y1 == 2.0).all(axis=2))
    yu = F.dropout2d(np.ones((6, 3, 3)), 0.5, generator=np.random.default_rng(8)).numpy()  # unbatched (C, H, W)
    assert np.all((yu.reshape(6, -1) == 0).all(axis=1) | (yu.reshape(6, -1) == 2.0).all(axis=1))
    m = nn.Dropout2d(0.5, generator=np.random.default_rng(9)).eval()
    np.testing.assert_array_equal(m(x).numpy(), x)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: F.dropout(x, 1.5), ValueError, r"p \(the dropout probability\) must be a finite number in \[0, 1\], got 1.5"),
    (lambda x: F.dropout(x, -0.1), ValueError, r"must be a finite number in \[0, 1\], got -0.1"),
    (lambda x: F.dropout(x, float("nan")), ValueError, r"must be a finite number in \[0, 1\], got nan"),
    (lambda x: F.dropout(x, "0.5"), TypeError, r"dropout: p \(the dropout probability\) must be a finite number"),
    (lambda x: F.dropout(x, 0.5, training="yes"), TypeError, "training must be a bool"),
    (lambda x: F.dropout(x, 0.5, generator=3), TypeError, "dropout: generator must be a numpy.random.Generator or None, got 3"),
    (lambda x: nn.Dropout(2), ValueError, r"Dropout: p \(the dropout probability\) must be a finite number in \[0, 1\]"),
    (lambda x: F.dropout2d(x[0, 0], 0.5), ValueError, "dropout2d: input must have 4 dimensions"),
])
def test_bad_arguments(call, exc, match):
    x = np.ones((2, 3, 4, 4), dtype=np.float32)
    with pytest.raises(exc, match=match):
        call(x)
