"""functional.pad and the convolution layers' padding_mode, against torch."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from helpers import compare_with_torch, gradcheck, torch

TF = torch.nn.functional

# (input shape, pad) pairs that torch accepts for every non-constant mode: 1 to 3 padded dims,
# on batched or unbatched inputs; reflect pads stay below the sizes (4, 5, 6).
SHAPES_PADS = [
    ((2, 6), (1, 2)),
    ((2, 3, 6), (3, 0)),
    ((2, 4, 6), (2, 1, 0, 3)),
    ((2, 3, 5, 6), (1, 1, 1, 1)),
    ((2, 3, 5, 6), (0, 5, 4, 2)),
    ((1, 2, 4, 5, 6), (1, 2, 3, 0, 2, 1)),
    ((2, 4, 5, 6), (2, 2, 1, 3, 3, 0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_matches_torch_forward_backward(mode, dtype, rng):
    for shape, pad in SHAPES_PADS:
        x = rng.standard_normal(shape).astype(dtype)
        config = f"mode={mode} shape={shape} pad={pad} dtype={np.dtype(dtype).name}"
        compare_with_torch(lambda t: F.pad(t, pad, mode=mode), lambda t: TF.pad(t, pad, mode=mode), [x],
                           config=config)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_gradcheck_float64(mode, rng):
    for shape, pad in [((2, 5), (2, 3)), ((1, 4, 4), (1, 2, 3, 0)), ((1, 1, 3, 3, 4), (1, 1, 2, 0, 1, 2))]:
        gradcheck(lambda t: F.pad(t, pad, mode=mode), [rng.standard_normal(shape)],
                  config=f"mode={mode} shape={shape} pad={pad}")


def test_pad_constant_value_and_negative_pads_match_torch(rng):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    for pad, value in [((1, 1), 2.5), ((-1, 2, 0, -2), 0.0), ((-2, -3), -1.0), ((0, 0, 0, 0, 1, 1, 2, 0), 1.0)]:
        compare_with_torch(lambda t: F.pad(t, pad, value=value), lambda t: TF.pad(t, pad, value=value), [x],
                           config=f"pad={pad} value={value}")
    gradcheck(lambda t: F.pad(t, (-1, 2, 1, -2)), [rng.standard_normal((1, 2, 4, 5))], config="negative pads")


# (shape, pad) with negative entries, accepted by torch in every non-constant mode
NEGATIVE_PADS = [
    ((2, 6), (-1, 2)),
    ((2, 6), (3, -2)),
    ((1, 2, 5, 6), (-2, 1, 2, -3)),
    ((2, 5, 6), (-1, -1, -2, 1)),
    ((1, 1, 4, 5, 6), (1, -2, -1, 2, 0, -1)),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_negative_pads_crop_in_every_mode_as_torch(mode, rng):
    """Issue 10: negative pads crop in the non-constant modes too (circular crops, then wraps)."""
    for shape, pad in NEGATIVE_PADS:
        x = rng.standard_normal(shape)
        compare_with_torch(lambda t: F.pad(t, pad, mode=mode), lambda t: TF.pad(t, pad, mode=mode), [x],
                           config=f"mode={mode} shape={shape} pad={pad}")
    gradcheck(lambda t: F.pad(t, (-1, 2, 1, -1), mode=mode), [rng.standard_normal((1, 4, 5))],
              config=f"negative pads, {mode}")


def test_negative_pads_hand_computed():
    row = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(F.pad(row, (-1, 2), mode="reflect").numpy(), [[1, 2, 3, 4, 3, 2]])
    np.testing.assert_array_equal(F.pad(row, (-1, 2), mode="replicate").numpy(), [[1, 2, 3, 4, 4, 4]])
    np.testing.assert_array_equal(F.pad(row, (-1, 2), mode="circular").numpy(), [[1, 2, 3, 4, 1, 2]])
    np.testing.assert_array_equal(F.pad(row, (3, -2), mode="reflect").numpy(), [[3, 2, 1, 0, 1, 2]])


# ------------------------------------------------- the one padding function
NP_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
                "symmetric": "symmetric"}


@pytest.mark.parametrize("mode", list(NP_PAD_MODES))
def test_window_pad_equals_np_pad_at_any_width(mode, rng):
    """window.pad, for borders up to 3x wider than the axis (periodic, as np.pad), against np.pad."""
    from cnnkit._core.window import pad

    for n in (1, 2, 3, 5):
        x = rng.standard_normal((2, n, 3))
        for lo, hi in [(0, 1), (1, 0), (2, 2), (n, n + 1), (3 * n, 1), (0, 3 * n + 2)]:
            if mode == "reflect" and n == 1:
                continue  # np.pad refuses; cnnkit repeats the single pixel (tested below)
            got = pad(x, [(lo, hi), (1, 2)], mode)
            ref = np.pad(x, [(0, 0), (lo, hi), (1, 2)], mode=NP_PAD_MODES[mode])
            np.testing.assert_array_equal(got, ref, err_msg=f"{mode} n={n} pads=({lo}, {hi})")
    np.testing.assert_array_equal(pad(np.array([7.0]), [(2, 1)], "reflect"), [7, 7, 7, 7])


@pytest.mark.parametrize("mode", list(NP_PAD_MODES))
def test_window_pad_backward_is_the_adjoint(mode, rng):
    """<pad(x), y> = <x, pad_backward(y)> for wide, negative and mixed pads."""
    from cnnkit._core.window import pad, pad_backward

    x = rng.standard_normal((2, 4, 5))
    for pads in [((1, 2), (3, 0)), ((-1, 2), (1, -2)), ((9, 1), (0, 13)), ((0, 0), (-2, -1))]:
        if mode == "circular" and any(max(lo, hi, 0) > n - max(-lo, 0) - max(-hi, 0)
                                      for n, (lo, hi) in zip(x.shape[1:], pads)):
            continue
        y = rng.standard_normal(pad(x, pads, mode).shape)
        lhs = np.vdot(pad(x, pads, mode), y)
        rhs = np.vdot(x, pad_backward(y, x.shape, pads, mode))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12, err_msg=f"{mode} {pads}")


def test_window_pad_contract():
    """Zero padding through the old call, x itself when nothing is padded, clear errors."""
    from cnnkit._core.window import pad

    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(pad(x, ((1, 0), (0, 1))), [[0, 0, 0, 0], [0, 1, 2, 0], [3, 4, 5, 0]])
    assert pad(x, ((0, 0), (0, 0)), "reflect") is x
    np.testing.assert_array_equal(pad(x, [(0, 1)], value=-np.inf)[:, -1], [-np.inf, -np.inf])
    with pytest.raises(ValueError, match="pad mode must be one of"):
        pad(x, [(1, 1)], "wrap")
    with pytest.raises(TypeError, match=r"\(before, after\) int pairs"):
        pad(x, [1, 1])
    with pytest.raises(ValueError, match="negative size"):
        pad(x, [(-2, -2)])
    with pytest.raises(ValueError, match="empty"):
        pad(np.zeros((2, 0)), [(1, 1)], "replicate")


def test_pad_known_values_and_dtypes():
    row = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(F.pad(row, (2, 2), mode="reflect").numpy(), [[3, 2, 1, 2, 3, 2, 1]])
    np.testing.assert_array_equal(F.pad(row, (2, 1), mode="replicate").numpy(), [[1, 1, 1, 2, 3, 3]])
    np.testing.assert_array_equal(F.pad(row, (3, 2), mode="circular").numpy(), [[1, 2, 3, 1, 2, 3, 1, 2]])
    assert F.pad(row, (1, 1)).dtype == np.float32
    ints = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(F.pad(ints, (1, 0), value=7).numpy(), TF.pad(torch.tensor(ints), (1, 0), value=7))
    assert F.pad(ints, (1, 0)).dtype == ints.dtype
    same = F.pad(row, (0, 0), mode="reflect")
    assert same.numpy() is not row and np.array_equal(same.numpy(), row)


def test_pad_n_d_beyond_torch(rng):
    """Non-constant modes pad any number of trailing dims: equal to padding one dim at a time."""
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float64)
    pad = (1, 2, 2, 1, 1, 1, 0, 1)  # all four dims
    for mode in ("reflect", "replicate", "circular"):
        step = x
        for axis_pad in [(1, 2), (0, 0, 2, 1), (0, 0, 0, 0, 1, 1), (0, 0, 0, 0, 0, 0, 0, 1)]:
            step = F.pad(step, axis_pad, mode=mode).numpy()
        np.testing.assert_array_equal(F.pad(x, pad, mode=mode).numpy(), step, err_msg=mode)
        gradcheck(lambda t: F.pad(t, pad, mode=mode), [x], config=f"4 padded dims, {mode}")


def test_pad_errors():
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="mode must be one of 'constant', 'reflect', 'replicate', 'circular'"):
        F.pad(x, (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="even length"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(TypeError, match="tuple of ints"):
        F.pad(x, (1.5, 1))
    with pytest.raises(ValueError, match="pads 5 dimensions but the input has only 4"):
        F.pad(x, (1,) * 10)
    with pytest.raises(ValueError, match=r"reflect padding \(3, 3\) must be smaller than the size 3 of dimension 3"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(ValueError, match=r"circular padding \(4, 0\) of dimension 3 .* wraps around more than once"):
        F.pad(x, (4, 0), mode="circular")
    with pytest.raises(ValueError, match=r"circular padding \(-2, 2\) .* \(size 3, 1 after cropping\) wraps around"):
        F.pad(x, (-2, 2), mode="circular")
    with pytest.raises(ValueError, match=r"would have size 0 \(replicate padding needs at least 1\)"):
        F.pad(x, (-2, -1), mode="replicate")
    with pytest.raises(ValueError, match="replicate padding of the empty dimension 1"):
        F.pad(np.zeros((1, 0)), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match="does not take a value"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(ValueError, match="negative size"):
        F.pad(x, (-2, -2))


# ----------------------------------------------------------- conv padding_mode
CONV = {1: (nn.Conv1d, torch.nn.Conv1d), 2: (nn.Conv2d, torch.nn.Conv2d), 3: (nn.Conv3d, torch.nn.Conv3d)}


def _twin(n, kwargs, dtype):
    ck_cls, th_cls = CONV[n]
    layer = ck_cls(**kwargs, dtype=dtype)
    tlayer = th_cls(**kwargs, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    tlayer.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    return layer, tlayer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_mode_matches_torch(mode, dtype, rng):
    grid = [  # (stride, padding, dilation, groups, bias); torch takes "same" only with stride 1
        (1, 1, 1, 1, True), (2, 1, 1, 2, False), (1, (2, 1), 2, 1, True), (2, (2, 1), 1, 2, False),
        (2, (2, 1), 2, 1, True), (1, "same", 1, 2, False), (1, "same", 2, 1, True),
    ]
    for n_case, (stride, padding, dilation, groups, bias) in enumerate(grid):
        kwargs = dict(in_channels=2, out_channels=4, kernel_size=3, stride=stride, padding=padding,
                      dilation=dilation, groups=groups, bias=bias, padding_mode=mode)
        layer, tlayer = _twin(2, kwargs, dtype)
        x = rng.standard_normal((2, 2, 7, 6)).astype(dtype)
        config = f"{kwargs} dtype={np.dtype(dtype).name}"
        compare_with_torch(layer, tlayer, [x], config=config, seed=n_case)
        for name in ("weight", "bias") if bias else ("weight",):
            ref = getattr(tlayer, name).grad.numpy()
            np.testing.assert_allclose(getattr(layer, name).grad, ref, rtol=1e-4 if dtype == np.float32 else 1e-9,
                                       atol=1e-4 if dtype == np.float32 else 1e-9, err_msg=f"{name} grad {config}")


@pytest.mark.parametrize("n", [1, 3])
def test_conv1d_conv3d_padding_mode(n, rng):
    for mode in ("reflect", "replicate", "circular"):
        kwargs = dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode=mode)
        layer, tlayer = _twin(n, kwargs, np.float64)
        x = rng.standard_normal((2, 2) + (5,) * n)
        compare_with_torch(layer, tlayer, [x], config=f"conv{n}d {mode}")


def test_conv_padding_mode_beyond_torch(rng):
    """'same' with stride 2 and asymmetric pairs: explicit pad then a valid conv."""
    x = rng.standard_normal((1, 2, 7, 6))
    for padding in ("same", ((0, 2), (1, 0))):
        layer = nn.Conv2d(2, 3, 3, stride=2, padding=padding, padding_mode="reflect", dtype=np.float64)
        pads = ((1, 1), (0, 1)) if padding == "same" else padding  # TF SAME for 7 and 6 with stride 2
        flat = (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
        ref = F.conv2d(F.pad(x, flat, mode="reflect"), layer.weight, layer.bias, stride=2).numpy()
        np.testing.assert_allclose(layer(x).numpy(), ref, rtol=1e-12, atol=1e-12)
        gradcheck(lambda t: layer(t), [x], config=f"reflect padding={padding}")


def test_conv_padding_mode_errors():
    with pytest.raises(ValueError, match="padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular'"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="only padding_mode='zeros' is supported for transposed"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding must be an int, a tuple, 'same' or 'valid', got 'full'"):
        nn.Conv2d(1, 1, 3, padding="full")
    layer = nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")
    with pytest.raises(ValueError, match="reflect padding"):
        layer(np.zeros((1, 1, 3, 3), np.float32))
    assert cnnkit.nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular")(np.zeros((1, 1, 3, 3), np.float32)).shape \
        == (1, 1, 3, 3)
