"""Xception (cnnkit.models.xception) against Keras' published counts and TensorFlow's shape rules."""
from __future__ import annotations

import math

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from cnnkit.models import xception
from cnnkit.models.xception import MaxPool2dSame

#: keras.applications.Xception(weights=None).summary(): total 22,910,480 = trainable + non-trainable.
KERAS_TRAINABLE, KERAS_NON_TRAINABLE = 22_855_952, 54_528

#: (in, out) of every SeparableConv2D in Keras' Xception, in order.
SEPARABLE_LAYERS = ([(64, 128), (128, 128), (128, 256), (256, 256), (256, 728), (728, 728)]
                    + [(728, 728)] * 24 + [(728, 728), (728, 1024), (1024, 1536), (1536, 2048)])


@pytest.fixture(scope="module")
def model():
    cnnkit.manual_seed(0)
    return xception()


def test_parameter_counts_match_keras(model):
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    assert trainable == KERAS_TRAINABLE
    stats = sum(b.size for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert stats == KERAS_NON_TRAINABLE
    assert trainable + stats == 22_910_480
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.eps == 1e-3 and m.momentum == pytest.approx(0.01) for m in bns)
    seps = [m for m in model.modules() if isinstance(m, nn.SeparableConv2d)]
    assert [(m.in_channels, m.out_channels) for m in seps] == SEPARABLE_LAYERS
    assert all(m.pointwise.bias is None and m.depthwise.bias is None for m in seps)  # Keras use_bias=False


def test_plain_twin_differs_only_in_the_separable_layers(model):
    plain = xception(separable=False)
    assert not any(isinstance(m, nn.SeparableConv2d) for m in plain.modules())
    n_plain = sum(p.size for p in plain.parameters())
    # each separable i -> o 3x3 (9 i + i o weights) becomes a plain one (9 i o weights)
    expected = sum(9 * i * o - (9 * i + i * o) for i, o in SEPARABLE_LAYERS)
    assert n_plain - KERAS_TRAINABLE == expected


def _tf_sizes(size: int) -> list[int]:
    """Spatial size after the stem's two VALID 3x3 convolutions and each SAME stride-2 pool (TF rules)."""
    s1 = (size - 3) // 2 + 1
    s2 = s1 - 2
    sizes = [s1, s2]
    for _ in range(4):  # three entry blocks, one exit block
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def test_shapes_follow_tensorflow_rules_and_macs_match_the_formula(model):
    size = 71  # the smallest input Keras accepts; counts of weights do not depend on it
    s = cnnkit.summary(model, (1, 3, size, size), depth=10 ** 6)
    assert s.rows[0].output_shape == (1, 1000)
    sizes = _tf_sizes(size)
    assert s["stem.2"].output_shape[2:] == (sizes[0],) * 2 and s["stem.5"].output_shape[2:] == (sizes[1],) * 2
    for k, name in enumerate(["entry.0", "entry.1", "entry.2", "exit.0"]):
        assert s[name].output_shape[2:] == (sizes[2 + k],) * 2
    # multiply-adds of the separable layers: per output pixel 9 i (depthwise) + i o (pointwise)
    at = [sizes[1]] * 2 + [sizes[2]] * 2 + [sizes[3]] * 2 + [sizes[4]] * 24 + [sizes[4]] * 2 + [sizes[5]] * 2
    expected = sum(h * h * (9 * i + i * o) for (i, o), h in zip(SEPARABLE_LAYERS, at))
    assert sum(r.macs for r in s.rows if r.type == "SeparableConv2d") == expected


@pytest.mark.parametrize("size", [5, 6, 7, 8])
def test_max_pool_same_is_tensorflows(size, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    ours = MaxPool2dSame(3, 2)(cnnkit.tensor(x)).numpy()
    out = math.ceil(size / 2)
    total = max((out - 1) * 2 + 3 - size, 0)
    lo, hi = total // 2, total - total // 2  # TensorFlow: the odd pixel after
    padded = torch.nn.functional.pad(torch.from_numpy(x), (lo, hi, lo, hi), value=-math.inf)
    theirs = torch.nn.functional.max_pool2d(padded, 3, 2).numpy()
    assert ours.shape == (2, 3, out, out)
    np.testing.assert_array_equal(ours, theirs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        xception(num_classes=0)
    with pytest.raises(TypeError, match="separable"):
        xception(separable="yes")
    with pytest.raises(ValueError, match=r"H, W >= 71"):
        xception(num_classes=2)(cnnkit.zeros(1, 3, 64, 64))
