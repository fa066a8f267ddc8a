"""Losses against PyTorch (values and gradients for every reduction), finite
differences and hand-computed weighted means."""
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
REDUCTIONS = ["mean", "sum", "none"]


def _targets(rng, shape, n_cls, ignore_index=None):
    t = rng.integers(0, n_cls, shape).astype(np.int64)
    if ignore_index is not None and t.size > 1:
        t.flat[:: 3] = ignore_index
    return t


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_class_indices_match_torch(dtype):
    rng = np.random.default_rng(0)
    shapes = [(5, 4), (3, 4, 6), (2, 4, 3, 2), (4,)]
    for shape, weighted, ignore, reduction, ls in itertools.product(shapes, [False, True], [None, -100, 2],
                                                                    REDUCTIONS, [0.0, 0.2]):
        config = f"cross_entropy shape={shape} weight={weighted} ignore={ignore} reduction={reduction} " \
                 f"label_smoothing={ls} {np.dtype(dtype).name}"
        c = shape[0] if len(shape) == 1 else shape[1]
        t_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
        x = (rng.standard_normal(shape) * 2).astype(dtype)
        t = _targets(rng, t_shape, c, ignore)
        kw = dict(reduction=reduction, label_smoothing=ls)
        if ignore is not None:
            kw["ignore_index"] = ignore
        if weighted:
            w = rng.uniform(0.2, 2.0, c).astype(dtype)
            compare_with_torch(lambda a, b, cw: F.cross_entropy(a, b, cw, **kw),
                               lambda a, b, cw: TF.cross_entropy(a, b, cw, **kw), [x, t, w],
                               grad_inputs=[True, False, False], config=config)
        else:
            compare_with_torch(lambda a, b: F.cross_entropy(a, b, **kw), lambda a, b: TF.cross_entropy(a, b, **kw),
                               [x, t], config=config)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_probability_targets_match_torch(dtype):
    rng = np.random.default_rng(1)
    for shape, weighted, reduction, ls in itertools.product([(5, 4), (2, 4, 3, 2), (4,)], [False, True], REDUCTIONS,
                                                            [0.0, 0.3]):
        config = f"cross_entropy probs shape={shape} weight={weighted} reduction={reduction} ls={ls}"
        dim = 0 if len(shape) == 1 else 1
        x = rng.standard_normal(shape).astype(dtype)
        p = rng.uniform(0, 1, shape)
        p = (p / p.sum(axis=dim, keepdims=True)).astype(dtype)
        kw = dict(reduction=reduction, label_smoothing=ls)
        inputs = [x, p] + ([rng.uniform(0.2, 2, shape[dim]).astype(dtype)] if weighted else [])
        # probability targets (and the weight) are differentiable in PyTorch: compare every gradient
        compare_with_torch(lambda a, b, cw=None: F.cross_entropy(a, b, cw, **kw),
                           lambda a, b, cw=None: TF.cross_entropy(a, b, cw, **kw), inputs, config=config)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_loss_matches_torch(dtype):
    rng = np.random.default_rng(2)
    for shape, weighted, ignore, reduction in itertools.product([(6, 3), (2, 3, 4), (3,)], [False, True], [None, 1],
                                                                REDUCTIONS):
        config = f"nll_loss shape={shape} weight={weighted} ignore={ignore} reduction={reduction}"
        c = shape[0] if len(shape) == 1 else shape[1]
        t = _targets(rng, () if len(shape) == 1 else (shape[0],) + shape[2:], c, ignore)
        x = rng.standard_normal(shape).astype(dtype)
        kw = dict(reduction=reduction) if ignore is None else dict(reduction=reduction, ignore_index=ignore)
        w = rng.uniform(0.2, 2.0, c).astype(dtype) if weighted else None
        compare_with_torch(lambda a, b: F.nll_loss(a, b, w, **kw),
                           lambda a, b: TF.nll_loss(a, b, None if w is None else torch.tensor(w), **kw), [x, t],
                           config=config)


def test_weighted_mean_divides_by_sum_of_target_weights():
    logp = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]]))
    t = np.array([0, 1, 2, 1])
    w = np.array([1.0, 2.0, 4.0])
    got = F.nll_loss(logp, t, w, ignore_index=1).item()  # targets 1 ignored: samples 0 and 2 remain
    expected = (1.0 * -np.log(0.5) + 4.0 * -np.log(0.6)) / (1.0 + 4.0)
    assert got == pytest.approx(expected, rel=1e-12)
    got = F.nll_loss(logp, t, w).item()
    expected = (1 * -np.log(0.5) + 2 * -np.log(0.8) + 4 * -np.log(0.6) + 2 * -np.log(1 / 3)) / (1 + 2 + 4 + 2)
    assert got == pytest.approx(expected, rel=1e-12)


def test_all_ignored_targets_give_nan_mean_and_zero_sum_as_torch():
    x = np.random.default_rng(3).standard_normal((2, 3))
    t = np.array([-100, -100])
    assert np.isnan(F.cross_entropy(x, t).item())
    assert np.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


def _vec(loss):
    """A scalar loss as shape (1,): the seed's ``Tensor.sum`` cannot differentiate a 0-d tensor yet."""
    return loss.reshape(1) if loss.ndim == 0 else loss


def test_cross_entropy_gradcheck():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 2))
    t = np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    for kw in [{}, {"reduction": "sum", "label_smoothing": 0.1}, {"reduction": "none"}]:
        gradcheck(lambda a: _vec(F.cross_entropy(a, t, np.array([1.0, 0.5, 2.0]), **kw)), [x], config=f"cross_entropy {kw}")
    p = rng.uniform(0, 1, (4, 3))
    gradcheck(lambda a, b: _vec(F.cross_entropy(a, b, label_smoothing=0.2)), [x[:, :, 0], p], config="probability targets")


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_loss_matches_torch(dtype):
    rng = np.random.default_rng(5)
    for shape, reduction in itertools.product([(7,), (3, 4), (2, 3, 4)], REDUCTIONS):
        x, y = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
        compare_with_torch(lambda a, b: F.mse_loss(a, b, reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction),
                           [x, y], config=f"mse_loss shape={shape} reduction={reduction}")
    gradcheck(lambda a, b: _vec(F.mse_loss(a, b)), [rng.standard_normal((3, 2)), rng.standard_normal((3, 2))], config="mse")


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_matches_torch(dtype):
    rng = np.random.default_rng(6)
    for shape, weighted, pos, reduction in itertools.product([(5,), (4, 3), (2, 3, 4)], [False, True], [False, True],
                                                             REDUCTIONS):
        config = f"bce_with_logits shape={shape} weight={weighted} pos_weight={pos} reduction={reduction}"
        x = (rng.standard_normal(shape) * 4).astype(dtype)
        t = rng.uniform(0, 1, shape).astype(dtype)
        w = rng.uniform(0.5, 2, shape[-1:]).astype(dtype) if weighted else None
        pw = rng.uniform(0.5, 3, shape[-1:]).astype(dtype) if pos else None
        compare_with_torch(
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, reduction, pw),
            lambda a, b: TF.binary_cross_entropy_with_logits(
                a, b, None if w is None else torch.tensor(w), reduction=reduction,
                pos_weight=None if pw is None else torch.tensor(pw)),
            [x, t], config=config)
    extreme = np.array([-200., -40., 0., 40., 200.], dtype=dtype)
    compare_with_torch(lambda a, b: F.binary_cross_entropy_with_logits(a, b),
                       lambda a, b: TF.binary_cross_entropy_with_logits(a, b), [extreme, np.array([1, 0, 1, 0, 1], dtype)],
                       config="extreme logits")


def test_bce_with_logits_gradcheck():
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    w, pw = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 3, 4)
    gradcheck(lambda a, b, c, d: _vec(F.binary_cross_entropy_with_logits(a, b, c, "sum", d)), [x, t, w, pw], config="bce")
    gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"), [x, t], config="bce none")


def test_loss_modules_match_torch():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    t = rng.integers(0, 4, 6)
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    ours, ref = nn.CrossEntropyLoss(w, label_smoothing=0.1), torch.nn.CrossEntropyLoss(torch.tensor(w), label_smoothing=0.1)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"]
    compare_with_torch(ours, ref, [x, t], config="CrossEntropyLoss")
    compare_with_torch(nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), [x, t], config="NLLLoss")
    y = rng.standard_normal((6, 4)).astype(np.float32)
    compare_with_torch(nn.MSELoss(), torch.nn.MSELoss(), [x, y], config="MSELoss")
    pw = rng.uniform(0.5, 2, 4).astype(np.float32)
    ours, ref = nn.BCEWithLogitsLoss(pos_weight=pw), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["pos_weight"]
    compare_with_torch(ours, ref, [x, rng.uniform(0, 1, (6, 4)).astype(np.float32)], config="BCEWithLogitsLoss")


def _x():
    return np.zeros((3, 4), dtype=np.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.cross_entropy(_x(), np.array([0, 1])), ValueError, r"target must have shape \(3,\) .* got \(2,\)"),
    (lambda: F.cross_entropy(_x(), np.array([0, 4, 1])), ValueError,
     "target contains class 4, out of range for 4 classes"),
    (lambda: F.cross_entropy(_x(), np.array([0, -1, 1])), ValueError, "target contains class -1"),
    (lambda: F.cross_entropy(_x(), np.zeros((3, 5), np.float32)), ValueError,
     "probability target must have the input's shape"),
    (lambda: F.cross_entropy(_x(), np.zeros((3, 4), np.float32), ignore_index=0), ValueError,
     "ignore_index is not supported"),
    (lambda: F.cross_entropy(_x(), np.array([0, 1, 2]), reduction="avg"), ValueError,
     "reduction must be 'mean', 'sum' or 'none'"),
    (lambda: F.cross_entropy(_x(), np.array([0, 1, 2]), label_smoothing=1.5), ValueError, "label_smoothing must be"),
    (lambda: F.cross_entropy(_x(), np.array([0, 1, 2]), np.ones(3, np.float32)), ValueError,
     r"weight must have shape \(4,\)"),
    (lambda: F.nll_loss(_x(), np.array([0.0, 1.0, 2.0])), TypeError, "class-index target must have an integer dtype"),
    (lambda: F.mse_loss(_x(), np.zeros((2, 4), np.float32)), ValueError, "does not broadcast"),
    (lambda: F.mse_loss(_x(), np.zeros((3, 4), np.float64)), TypeError, "dtypes must match"),
    (lambda: F.binary_cross_entropy_with_logits(_x(), np.zeros((3, 1), np.float32)), ValueError,
     "target size .* must be the same as input size"),
    (lambda: F.binary_cross_entropy_with_logits(_x(), _x(), pos_weight=np.ones(3, np.float32)), ValueError,
     "pos_weight of shape"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_cross_entropy_is_log_softmax_then_nll():
    x = np.random.default_rng(9).standard_normal((4, 5))
    t = np.array([1, 0, 4, 2])
    a = F.cross_entropy(x, t).item()
    b = F.nll_loss(F.log_softmax(x, 1), t).item()
    assert a == pytest.approx(b, rel=1e-14)
    assert isinstance(F.cross_entropy(cnnkit.Tensor(x), t), cnnkit.Tensor)
