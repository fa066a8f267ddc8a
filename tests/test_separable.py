"""Depthwise, depthwise-separable and spatially separable convolutions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from helpers import compare_with_torch, gradcheck, torch

tnn, TF = torch.nn, torch.nn.functional


def _n_params(module) -> int:
    return sum(p.size for p in module.parameters())


def _tdtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _grad_tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ depthwise
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_equals_torch_grouped_conv(dtype, rng):
    grid = [(m, s, p) for m, s, p in itertools.product([1, 2], [1, 2], [0, 1, "same"]) if not (p == "same" and s > 1)]
    for i, (m, stride, padding) in enumerate(grid):
        dilation, bias = 1 + i % 2, i % 3 != 0  # alternate dilation and bias over the grid
        layer = nn.DepthwiseConv2d(3, 3, depth_multiplier=m, stride=stride, padding=padding, dilation=dilation,
                                   bias=bias, dtype=dtype)
        tlayer = tnn.Conv2d(3, 3 * m, 3, stride=stride, padding=padding, dilation=dilation, groups=3, bias=bias,
                            dtype=_tdtype(dtype))
        assert layer.weight.shape == (3 * m, 1, 3, 3) and list(layer.state_dict()) == list(tlayer.state_dict())
        tlayer.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
        config = f"m={m} stride={stride} padding={padding} dilation={dilation} bias={bias} {np.dtype(dtype).name}"
        compare_with_torch(layer, tlayer, [rng.standard_normal((2, 3, 7, 7)).astype(dtype)], config=config, seed=i)
        np.testing.assert_allclose(layer.weight.grad, tlayer.weight.grad.numpy(), **_grad_tol(dtype), err_msg=config)


def test_depthwise_keras_channel_order(rng):
    """Output channel c*m + j is input channel c filtered by Keras kernel[:, :, c, j]."""
    C, m, k = 3, 2, 3
    keras_kernel = rng.standard_normal((k, k, C, m))  # Keras DepthwiseConv2D layout (kh, kw, C, m)
    layer = nn.DepthwiseConv2d(C, k, depth_multiplier=m, bias=False, dtype=np.float64)
    layer.load_state_dict({"weight": keras_kernel.transpose(2, 3, 0, 1).reshape(C * m, 1, k, k)})
    x = rng.standard_normal((2, C, 6, 6))
    out = layer(x).numpy()
    for c, j in itertools.product(range(C), range(m)):
        ref = TF.conv2d(torch.tensor(x[:, c:c + 1]), torch.tensor(keras_kernel[:, :, c, j][None, None])).numpy()
        np.testing.assert_allclose(out[:, c * m + j], ref[:, 0], rtol=1e-12, atol=1e-12, err_msg=f"c={c} j={j}")


# ------------------------------------------------------------------ separable
def test_separable_parameter_count_matches_seed_example():
    sep = nn.SeparableConv2d(16, 32, 3, bias=False)
    full = nn.Conv2d(16, 32, 3, bias=False)
    assert _n_params(sep) == 16 * 3 * 3 + 16 * 32 == 656
    assert _n_params(full) == 16 * 32 * 3 * 3 == 4608
    assert list(sep.state_dict()) == ["depthwise.weight", "pointwise.weight"]
    with_bias = nn.SeparableConv2d(16, 32, 3, depth_multiplier=2)
    assert list(with_bias.state_dict()) == ["depthwise.weight", "pointwise.weight", "pointwise.bias"]
    assert _n_params(with_bias) == 16 * 2 * 9 + 32 * 32 + 32
    assert with_bias.depthwise.bias is None  # one bias, on the pointwise conv, as Keras


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_separable_equals_torch_sequential(dtype, rng):
    grid = [(m, s, p, b) for (m, s), (p, b) in itertools.product([(1, 1), (2, 2), (2, 1)], [(1, True), (0, False)])]
    for i, (m, stride, padding, bias) in enumerate(grid):
        layer = nn.SeparableConv2d(4, 6, 3, depth_multiplier=m, stride=stride, padding=padding, bias=bias,
                                   dtype=dtype)
        tmodel = tnn.Sequential(tnn.Conv2d(4, 4 * m, 3, stride=stride, padding=padding, groups=4, bias=False),
                                tnn.Conv2d(4 * m, 6, 1, bias=bias)).to(_tdtype(dtype))
        sd = layer.state_dict()
        tmodel.load_state_dict({k.replace("depthwise", "0").replace("pointwise", "1"): torch.tensor(v)
                                for k, v in sd.items()})
        config = f"m={m} stride={stride} padding={padding} bias={bias} {np.dtype(dtype).name}"
        compare_with_torch(layer, tmodel, [rng.standard_normal((2, 4, 6, 6)).astype(dtype)], config=config, seed=i)
        pairs = [(layer.depthwise.weight, tmodel[0].weight), (layer.pointwise.weight, tmodel[1].weight)]
        if bias:
            pairs.append((layer.pointwise.bias, tmodel[1].bias))
        for ours, theirs in pairs:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **_grad_tol(dtype), err_msg=config)


def test_separable_gradcheck(rng):
    layer = nn.SeparableConv2d(2, 3, 3, depth_multiplier=2, padding="same", dtype=np.float64)
    gradcheck(lambda t: layer(t), [rng.standard_normal((1, 2, 5, 5))], config="separable")


# --------------------------------------------------------- spatially separable
def _sobel_layer(padding, dtype=np.float64):
    layer = nn.SpatiallySeparableConv2d(1, 1, 3, padding=padding, bias=False, dtype=dtype)
    layer.load_state_dict({"vertical.weight": np.array([1.0, 2.0, 1.0]).reshape(1, 1, 3, 1),
                           "horizontal.weight": np.array([1.0, 0.0, -1.0]).reshape(1, 1, 1, 3)})
    return layer


def test_spatially_separable_sobel_on_real_image():
    ndimage = pytest.importorskip("scipy.ndimage")
    data = pytest.importorskip("skimage.data")

    image = data.camera()[::4, ::4].astype(np.float64) / 255.0  # 128 x 128 real photograph
    x = image[None, None]
    sobel = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])  # [1,2,1]^T ⊗ [1,0,-1]
    np.testing.assert_array_equal(sobel, [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    for padding in (0, 1, "same", "valid"):
        got = _sobel_layer(padding)(x).numpy()
        ref = TF.conv2d(torch.tensor(x), torch.tensor(sobel[None, None]),
                        padding=padding if isinstance(padding, str) else padding).numpy()
        assert got.shape == ref.shape, padding
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=f"padding={padding}")
    # second oracle, no torch: scipy's correlation with zero padding
    np.testing.assert_allclose(_sobel_layer(1)(x).numpy()[0, 0], ndimage.correlate(image, sobel, mode="constant"),
                               rtol=1e-12, atol=1e-12)
    layer = _sobel_layer(1)
    assert _n_params(layer) == 6 and _n_params(nn.Conv2d(1, 1, 3, bias=False)) == 9


def _full_kernel(layer):
    v = layer.vertical.weight.data[:, :, :, 0]  # (out, in, kh)
    h = layer.horizontal.weight.data[:, 0, 0, :]  # (out, kw)
    return v[:, :, :, None] * h[:, None, None, :]  # K[o, i] = v[o, i] ⊗ h[o]


def _explicit_pads(padding, k, d):
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":  # stride 1
        total = d * (k - 1)
        return (total // 2, total - total // 2), (total // 2, total - total // 2)
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], tuple):
        return padding
    return (padding[0], padding[0]), (padding[1], padding[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spatially_separable_equals_full_conv_with_outer_product_kernel(dtype, rng):
    paddings = [0, 1, (2, 1), ((0, 2), (1, 0)), "same", "valid"]
    grid = itertools.product(paddings, [1, 2], [1, 2], ["zeros", "reflect", "circular"])
    for i, (padding, stride, dilation, mode) in enumerate(grid):
        if padding == "same" and stride != 1:
            continue
        layer = nn.SpatiallySeparableConv2d(2, 3, 3, stride=stride, padding=padding, dilation=dilation,
                                            padding_mode=mode, dtype=dtype)
        x = rng.standard_normal((2, 2, 8, 7)).astype(dtype)
        (top, bottom), (left, right) = _explicit_pads(padding, 3, dilation)
        tmode = "constant" if mode == "zeros" else mode
        xt = TF.pad(torch.tensor(x), (left, right, top, bottom), mode=tmode)
        ref = TF.conv2d(xt, torch.tensor(_full_kernel(layer)), torch.tensor(layer.horizontal.bias.data),
                        stride=stride, dilation=dilation).numpy()
        got = layer(x).numpy()
        config = f"padding={padding} stride={stride} dilation={dilation} mode={mode} {np.dtype(dtype).name}"
        assert got.shape == ref.shape, config
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, ref, **tol, err_msg=config)


def test_spatially_separable_gradients_match_torch(rng):
    """Against torch's (k x 1) then grouped (1 x k) convs, padding each axis explicitly."""
    for padding, mode in [(1, "zeros"), ("same", "reflect"), (((1, 0), (0, 2)), "replicate")]:
        layer = nn.SpatiallySeparableConv2d(2, 3, (3, 5), padding=padding, padding_mode=mode, dtype=np.float64)
        (top, bottom), (left, right) = ((1, 1), (2, 2)) if padding == "same" else _explicit_pads(padding, 3, 1)
        vertical = tnn.Conv2d(2, 3, (3, 1), bias=False).double()
        horizontal = tnn.Conv2d(3, 3, (1, 5), groups=3).double()
        vertical.weight.data = torch.tensor(layer.vertical.weight.data)
        horizontal.weight.data = torch.tensor(layer.horizontal.weight.data)
        horizontal.bias.data = torch.tensor(layer.horizontal.bias.data)
        tmode = "constant" if mode == "zeros" else mode

        def reference(x):
            h = vertical(TF.pad(x, (0, 0, top, bottom), mode=tmode))
            return horizontal(TF.pad(h, (left, right, 0, 0), mode=tmode))

        compare_with_torch(layer, reference, [rng.standard_normal((2, 2, 7, 8))], config=f"{padding} {mode}")
        for ours, theirs in [(layer.vertical.weight, vertical.weight), (layer.horizontal.weight, horizontal.weight),
                             (layer.horizontal.bias, horizontal.bias)]:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-9, err_msg=f"{padding}")
    gradcheck(lambda t: layer(t), [rng.standard_normal((1, 2, 5, 6))], config="spatially separable")


def test_separable_errors_and_repr():
    with pytest.raises(ValueError, match="depth_multiplier must be a positive int, got 0"):
        nn.DepthwiseConv2d(3, 3, depth_multiplier=0)
    with pytest.raises(ValueError, match="channels must be a positive int"):
        nn.DepthwiseConv2d(-1, 3)
    with pytest.raises(ValueError, match="out_channels must be a positive int"):
        nn.SeparableConv2d(3, 0, 3)
    with pytest.raises(ValueError, match=r"padding as pairs must be \(\(top, bottom\), \(left, right\)\)"):
        nn.SpatiallySeparableConv2d(1, 1, 3, padding=((1, 1),))
    text = repr(nn.SeparableConv2d(2, 4, 3, padding=1))
    assert "(depthwise): DepthwiseConv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2, bias=False)" \
        in text and "(pointwise): Conv2d(2, 4, kernel_size=(1, 1), stride=(1, 1))" in text
    assert isinstance(cnnkit.nn.DepthwiseConv2d(2, 3), nn.Conv2d)
