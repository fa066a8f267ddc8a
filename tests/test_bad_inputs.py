"""Issue 10, the argument classes: out-of-range dims, wrong types found only deep
inside, NaN hyperparameters, zero-size and 0-d inputs, silent truncation and
silent reinterpretation. PyTorch is the oracle where it is installed; the
hand-checked expectations run without it."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import nn, optim
from cnnkit.data import DataLoader
from cnnkit.data.mr import pad_sequences
from helpers import compare_with_torch, torch

# ------------------------------------------------------------ dimensions
# (cnnkit call, torch call) on a tensor of shape (2, 3): every dim argument out of range
DIM_CALLS = {
    "sum": (lambda t: t.sum(dim=2), lambda t: t.sum(dim=2)),
    "sum_tuple": (lambda t: t.sum(dim=(0, -3)), lambda t: t.sum(dim=(0, -3))),
    "mean": (lambda t: t.mean(dim=-3), lambda t: t.mean(dim=-3)),
    "max": (lambda t: t.max(dim=5), lambda t: t.amax(dim=5)),
    "min": (lambda t: t.min(dim=2), lambda t: t.amin(dim=2)),
    "var": (lambda t: t.var(dim=2), lambda t: t.var(dim=2)),
    "argmax": (lambda t: t.argmax(dim=2), lambda t: t.argmax(dim=2)),
    "permute": (lambda t: t.permute(0, 2), lambda t: t.permute(0, 2)),
    "transpose": (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
    "unsqueeze": (lambda t: t.unsqueeze(3), lambda t: t.unsqueeze(3)),
    "squeeze": (lambda t: t.squeeze(2), lambda t: t.squeeze(2)),
    "flatten": (lambda t: t.flatten(0, 2), lambda t: t.flatten(0, 2)),
    "softmax": (lambda t: F.softmax(t, dim=2), lambda t: torch.softmax(t, dim=2)),
    "log_softmax": (lambda t: F.log_softmax(t, dim=-3), lambda t: torch.log_softmax(t, dim=-3)),
    "cat": (lambda t: cnnkit.cat([t, t], dim=2), lambda t: torch.cat([t, t], dim=2)),
    "stack": (lambda t: cnnkit.stack([t, t], dim=4), lambda t: torch.stack([t, t], dim=4)),
}


@pytest.mark.parametrize("name", list(DIM_CALLS))
def test_out_of_range_dims_raise_index_error(name):
    """sum(dim=3) on a 1-D tensor used to wrap around; now IndexError with PyTorch's message."""
    ours, _ = DIM_CALLS[name]
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-\d, \d\], but got"):
        ours(cnnkit.tensor(np.ones((2, 3))))


@pytest.mark.parametrize("name", list(DIM_CALLS))
def test_torch_raises_index_error_for_the_same_dims(name):
    _, theirs = DIM_CALLS[name]
    with pytest.raises(IndexError, match="Dimension out of range"):
        theirs(torch.ones(2, 3))


def test_dims_in_range_still_match_torch(rng):
    x = rng.standard_normal((2, 3))
    for fn in [lambda t: t.sum(dim=-2), lambda t: t.mean(dim=(0, 1)), lambda t: t.unsqueeze(-3),
               lambda t: t.transpose(-1, 0), lambda t: t.flatten(-2, -1), lambda t: t.var(dim=-1)]:
        compare_with_torch(fn, fn, [x])
    scalar = cnnkit.tensor(np.float64(2.0))
    assert scalar.sum(dim=0).item() == scalar.sum(dim=-1).item() == 2.0  # a 0-d tensor has dims [-1, 0]
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        scalar.sum(dim=1)
    with pytest.raises(ValueError, match="dim 0 appears multiple times"):
        cnnkit.tensor(np.ones((2, 3))).sum(dim=(0, -2))
    with pytest.raises(TypeError, match="dim must be an int, got 1.5"):
        cnnkit.tensor(np.ones(3)).sum(dim=1.5)


# ---------------------------------------------------------------- wrong types
@pytest.mark.parametrize("call, exc, match", [
    (lambda p: F.batch_norm(np.ones((2, 3), np.float32), np.zeros(3, np.float32), np.ones(3, np.float32),
                            training=True, momentum="abc"), TypeError, "batch_norm: momentum must be a finite number, got 'abc'"),
    (lambda p: nn.BatchNorm2d(3, momentum="abc"), TypeError, "BatchNorm2d: momentum must be a finite number"),
    (lambda p: optim.SGD([p], lr=0.1, momentum="abc"), TypeError, "SGD: momentum must be a finite non-negative number"),
    (lambda p: optim.lr_scheduler.StepLR(optim.SGD([p], lr=0.1), 1, gamma="x"), TypeError, "StepLR: gamma"),
    (lambda p: F.dropout(np.ones(3, np.float32), 0.5, generator=3), TypeError, "dropout: generator must be a numpy.random.Generator"),
    (lambda p: nn.Dropout(0.5, generator=3), TypeError, "Dropout: generator must be"),
    (lambda p: nn.init.uniform_(np.zeros(3), generator=3), TypeError, "generator must be a numpy.random.Generator"),
    (lambda p: cnnkit.randn(2, generator="x"), TypeError, "randn: generator must be"),
    (lambda p: DataLoader(np.zeros((4, 2)), generator=1.5), TypeError, "DataLoader: generator must be a numpy.random.Generator, an int seed or None"),
    (lambda p: DataLoader(np.zeros((4, 2)), batch_size=2.0), TypeError, "DataLoader: batch_size must be a positive int, got 2.0"),
    (lambda p: F.conv2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32), groups=1.0),
     TypeError, "conv2d: groups must be a positive int, got 1.0"),
    (lambda p: F.cross_entropy(np.zeros((2, 3), np.float32), np.zeros(2, np.int64), label_smoothing="0.1"),
     TypeError, "cross_entropy: label_smoothing must be a finite number in"),
    (lambda p: cnnkit.manual_seed(1.5), TypeError, "manual_seed: seed must be a non-negative int"),
    (lambda p: nn.Linear(2, 2).train("yes"), TypeError, r"train\(\): mode must be a bool"),
])
def test_wrong_types_fail_at_the_call_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call(nn.Parameter(np.ones(3, np.float32)))


@pytest.mark.parametrize("call, match", [
    (lambda: F.batch_norm(np.ones((2, 3), np.float32), None, None, training=True, eps=float("nan")),
     "batch_norm: eps must be a finite non-negative number, got nan"),
    (lambda: F.layer_norm(np.ones((2, 3), np.float32), 3, eps=float("nan")), "layer_norm: eps must be a finite"),
    (lambda: nn.BatchNorm1d(3, eps=float("nan")), "BatchNorm1d: eps must be a finite non-negative number, got nan"),
    (lambda: nn.LayerNorm(3, eps=-1e-5), "LayerNorm: eps must be a finite non-negative number"),
    (lambda: F.leaky_relu(np.ones(2, np.float32), float("inf")), "leaky_relu: negative_slope must be a finite number"),
    (lambda: optim.Adam([nn.Parameter(np.ones(2, np.float32))], eps=float("nan")), "Adam: eps must be a finite"),
])
def test_nan_and_inf_hyperparameters_are_refused(call, match):
    """eps=nan used to be accepted by the norms (every output NaN)."""
    with pytest.raises(ValueError, match=match):
        call()


# -------------------------------------------------------------- zero-size and 0-d
def test_softmax_over_an_empty_axis_is_empty_as_torch():
    for fn, ref in [(F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)]:
        for shape, dim in [((2, 0), 1), ((0, 3), 1), ((0, 3), 0)]:
            x = cnnkit.tensor(np.zeros(shape), requires_grad=True)
            y = fn(x, dim=dim)
            assert y.shape == tuple(ref(torch.zeros(shape), dim=dim).shape) == shape
            y.sum().backward()
            assert x.grad.shape == shape


def test_conv_with_zero_input_channels_is_the_empty_sum():
    """PyTorch returns a (N, 0, ...) tensor here; cnnkit returns the empty sum, 0 + bias
    (the documented difference), with the shape the weight implies."""
    x = cnnkit.tensor(np.zeros((2, 0, 5, 5)), requires_grad=True)
    w = cnnkit.tensor(np.zeros((3, 0, 3, 3)), requires_grad=True)
    b = cnnkit.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    y = F.conv2d(x, w, b, padding=1)
    assert y.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(y.numpy()[:, :, 2, 2], [[1.0, -2.0, 0.5]] * 2)
    y.sum().backward()
    assert x.grad.shape == (2, 0, 5, 5) and w.grad.shape == (3, 0, 3, 3)
    np.testing.assert_array_equal(b.grad, [50.0, 50.0, 50.0])
    assert F.conv1d(np.zeros((2, 0, 5)), np.zeros((4, 0, 3))).shape == (2, 4, 3)
    assert F.conv_transpose2d(np.zeros((1, 0, 4, 4)), np.zeros((0, 2, 3, 3))).shape == (1, 2, 6, 6)
    assert F.conv2d(np.zeros((0, 2, 5, 5)), np.zeros((3, 2, 3, 3))).shape == (0, 3, 3, 3)
    assert F.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((0, 2, 3, 3))).shape == (1, 0, 3, 3)
    ref = torch.nn.functional.linear(torch.zeros(2, 0), torch.zeros(3, 0), torch.tensor([1.0, -2.0, 0.5]))
    np.testing.assert_array_equal(y.numpy()[:, :, 0, 0], ref.numpy())  # the same rule as torch's linear


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "tanh", "sigmoid", "softmax", "log_softmax"])
def test_0d_inputs_match_torch(name):
    """0-d inputs to sigmoid used to fail inside NumPy ('return arrays must be of ArrayType')."""
    fn = getattr(F, name)
    ref = {"relu": torch.relu, "leaky_relu": torch.nn.functional.leaky_relu, "elu": torch.nn.functional.elu,
           "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, 0),
           "log_softmax": lambda t: torch.log_softmax(t, 0)}[name]
    ours = (lambda t: fn(t, 0)) if "softmax" in name else fn
    for v in (0.7, -1.3):
        compare_with_torch(ours, ref, [np.array(v)], config=f"{name}({v})")
        compare_with_torch(ours, ref, [np.array(v, np.float32)], config=f"{name}({v}) float32")


@pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")  # torch's var of one value
def test_reductions_of_empty_tensors_as_torch():
    """NaN for a mean or variance of nothing; max/argmax over nothing is an error naming the dim
    (NumPy's 'zero-size array to reduction operation maximum which has no identity' before)."""
    import warnings

    empty = cnnkit.tensor(np.zeros((3, 0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy "Mean of empty slice" warning
        assert np.isnan(empty.mean().item()) and np.isnan(empty.var().item())
        np.testing.assert_array_equal(empty.mean(dim=1).numpy(), [np.nan] * 3)
        assert empty.sum().item() == 0.0
    assert np.isnan(cnnkit.tensor(np.ones(1)).var().item()) and np.isnan(torch.ones(1).var().item())
    assert empty.max(dim=0).shape == (0,) == tuple(torch.zeros(3, 0).amax(dim=0).shape)
    with pytest.raises(IndexError, match=r"max\(\): expected reduction dim 1 to have non-zero size"):
        empty.max(dim=1)
    with pytest.raises(RuntimeError, match="max\\(\\): expected a reduction dim to be specified for an empty tensor"):
        empty.max()
    with pytest.raises(RuntimeError, match="argmax"):
        empty.argmax()
    with pytest.raises(IndexError, match="non-zero size"):
        torch.zeros(3, 0).amax(dim=1)
    assert np.isnan(torch.zeros(3, 0).mean().item()) and np.isnan(torch.zeros(3, 0).var().item())


def test_pooling_refuses_zero_channels_as_torch():
    for fn, tfn in [(F.max_pool2d, torch.nn.functional.max_pool2d), (F.avg_pool2d, torch.nn.functional.avg_pool2d)]:
        for shape in [(0, 4, 4), (1, 0, 4, 4), (1, 2, 0, 4)]:
            with pytest.raises(ValueError, match="non-zero channels and spatial sizes"):
                fn(np.zeros(shape, np.float32), 2)
            with pytest.raises(RuntimeError):
                tfn(torch.zeros(shape), 2)
    assert F.max_pool2d(np.zeros((0, 2, 4, 4), np.float32), 2).shape == (0, 2, 2, 2)  # an empty batch is fine


def test_probability_cross_entropy_of_an_empty_batch_is_nan_as_torch():
    ours = F.cross_entropy(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)).item()
    theirs = torch.nn.functional.cross_entropy(torch.zeros(0, 3), torch.zeros(0, 3)).item()
    assert np.isnan(ours) and np.isnan(theirs)
    assert np.isnan(F.cross_entropy(np.zeros((0, 3), np.float32), np.zeros(0, np.int64)).item())


def test_softmax_dtype_casts_first_as_torch(rng):
    x = rng.standard_normal((2, 5)).astype(np.float32)
    for fn, ref in [(F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)]:
        compare_with_torch(lambda t: fn(t, 1, dtype=np.float64), lambda t: ref(t, 1, dtype=torch.float64), [x],
                           config=fn.__name__)


# ------------------------------------------------------ silent reinterpretation
def test_float_token_ids_are_refused():
    """pad_sequences([[1.7]]) used to give 1."""
    with pytest.raises(TypeError, match=r"sequence 0 must hold integer token ids, got dtype float64 \(e.g. 1.7\)"):
        pad_sequences([[1.7, 2.0]])
    np.testing.assert_array_equal(pad_sequences([[3, 4], []], max_len=3, left=1), [[0, 3, 4, 0], [0, 0, 0, 0]])
    with pytest.raises(TypeError, match="embedding: input must hold integer indices"):
        F.embedding(np.array([1.7]), np.ones((3, 2), np.float32))


def test_a_tuple_with_an_array_and_a_list_is_a_tuple_of_arrays():
    """(array, list) used to become a dataset of 2 samples (the two objects)."""
    x = np.arange(10.0).reshape(5, 2)
    loader = DataLoader((x, [0, 1, 0, 1, 1]), batch_size=2)
    assert len(loader) == 3
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb, x[:2])
    np.testing.assert_array_equal(yb, [0, 1])
    with pytest.raises(ValueError, match="same first dimension"):
        DataLoader((x, [0, 1, 0]))
