"""Losses with PyTorch's names, arguments and reductions.

``reduction`` is ``'mean'``, ``'sum'`` or ``'none'``. For class-index targets
the weighted mean divides by the sum of the weights of the non-ignored
targets, ``sum_i w[y_i] l_i / sum_i w[y_i]`` (so it is NOT the mean of the
weighted per-sample losses), exactly as PyTorch. The class axis is 1 (0 for an
unbatched ``(C,)`` input); extra axes ``(N, C, d1, ...)`` are positions, e.g.
per-pixel classification.

``cross_entropy`` is ``log_softmax`` followed by ``nll_loss`` (plus the label
smoothing term), so it has no backward of its own.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._validate import check_int, check_number
from ..autograd import Function, Tensor
from ..autograd.basic_ops import unbroadcast
from .activation import log_softmax
from ._validate import as_input, check_dtype_match

REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------ Functions
class NLLLoss(Function):
    """``-w[y] * logp[y]`` per position from ``logp (N, C, *)`` and ``target (N, *)``, reduced."""

    def forward(self, logp, target, weight, ignore_index, reduction):
        n_cls = logp.shape[1]
        rows = np.moveaxis(logp, 1, -1).reshape(-1, n_cls)
        t = target.reshape(-1)
        valid = t != ignore_index
        t_safe = np.where(valid, t, 0)
        w = valid.astype(logp.dtype) if weight is None else np.where(valid, weight[t_safe], 0).astype(logp.dtype)
        losses = -rows[np.arange(t.size), t_safe] * w
        self.logp_shape, self.t_safe, self.w, self.valid, self.reduction = logp.shape, t_safe, w, valid, reduction
        if reduction == "none":
            return losses.reshape(target.shape)
        if reduction == "sum":
            return np.asarray(losses.sum(), dtype=logp.dtype)
        self.total = w.sum()
        with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: 0/0 = nan, as PyTorch
            return np.asarray(losses.sum() / self.total, dtype=logp.dtype)

    def backward(self, g):
        n, n_cls = self.logp_shape[0], self.logp_shape[1]
        coef = -self.w * (g.reshape(-1) if self.reduction == "none" else g)
        if self.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                coef = np.where(self.valid, coef / self.total, 0)  # ignored targets get 0, even when all are
        rows = np.zeros((self.t_safe.size, n_cls), dtype=g.dtype)
        rows[np.arange(self.t_safe.size), self.t_safe] = coef
        moved = rows.reshape((n,) + tuple(self.logp_shape[2:]) + (n_cls,))
        return np.ascontiguousarray(np.moveaxis(moved, -1, 1)), None, None


class BCEWithLogits(Function):
    """Unreduced ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``, times ``weight``.

    ``softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)`` never overflows.
    ``d/dx = w ((1 - t) - lw sigmoid(-x))`` with ``lw = 1 + (pw - 1) t``;
    ``d/dt = w (-x + (pw - 1) softplus(-x))``.
    """

    def forward(self, x, t, weight, pos_weight):
        sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # softplus(-x)
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        unweighted = (1 - t) * x + lw * sp
        self.save(x, t, weight, pos_weight, sp, lw, unweighted)
        return unweighted if weight is None else unweighted * weight

    def backward(self, g):
        x, t, weight, pw, sp, lw, unweighted = self.saved
        gw = g if weight is None else g * weight
        gx = gt = gweight = gpw = None
        if self.needs_input_grad[0]:
            with np.errstate(over="ignore"):
                sig_neg = 1 / (1 + np.exp(x))  # sigmoid(-x)
            gx = gw * ((1 - t) - lw * sig_neg)
        if self.needs_input_grad[1]:
            gt = gw * (-x + (0 if pw is None else (pw - 1) * sp))
        if self.needs_input_grad[2]:
            gweight = unbroadcast(g * unweighted, weight.shape)
        if self.needs_input_grad[3]:
            gpw = unbroadcast(gw * t * sp, pw.shape)
        return gx, gt, gweight, gpw


# ---------------------------------------------------------------- arguments
def _reduction(fn_name: str, reduction) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn_name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _total(t: Tensor) -> Tensor:
    """``t.sum()``; a 0-d tensor (an unbatched loss) is its own sum."""
    return t if t.ndim == 0 else t.sum()


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return _total(loss)
    return loss


def _class_weight(fn_name: str, weight, x: Tensor, n_cls: int) -> np.ndarray | None:
    if weight is None:
        return None
    w = as_input(weight, "weight", fn_name)
    check_dtype_match(fn_name, input=x, weight=w)
    if w.shape != (n_cls,):
        raise ValueError(f"{fn_name}: weight must have shape ({n_cls},) (one entry per class), got {w.shape}")
    return w.data


def _class_targets(fn_name: str, target, x_shape: tuple[int, ...], ignore_index: int) -> np.ndarray:
    """Integer class targets of shape ``x_shape`` without the class axis, checked in range."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"{fn_name}: class-index target must have an integer dtype, got {t.dtype}")
    expected = (x_shape[0],) + tuple(x_shape[2:])
    if t.shape != expected:
        raise ValueError(f"{fn_name}: target must have shape {expected} for input of shape {x_shape}, got {t.shape}")
    n_cls = x_shape[1]
    if n_cls == 0:
        raise ValueError(f"{fn_name}: input of shape {x_shape} has no classes (dimension 1 is empty)")
    bad = (t != ignore_index) & ((t < 0) | (t >= n_cls))
    if bad.any():
        raise ValueError(f"{fn_name}: target contains class {int(t[bad].ravel()[0])}, out of range for "
                         f"{n_cls} classes (valid: 0..{n_cls - 1} or ignore_index={ignore_index})")
    return t


def _unbatched(fn_name: str, x: Tensor) -> bool:
    """True when ``x`` is one unbatched ``(C,)`` sample (target a scalar)."""
    if x.ndim == 0:
        raise ValueError(f"{fn_name}: input must have a class dimension, got a scalar")
    return x.ndim == 1


# ---------------------------------------------------------------- functions
def nll_loss(input, target, weight=None, *, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood, as ``torch.nn.functional.nll_loss``: ``input (N, C, *)``
    holds log-probabilities, ``target (N, *)`` class indices; ``l_i = -w[y_i] * input[i, y_i]``,
    0 where ``y_i == ignore_index``. ``'mean'`` is ``sum_i l_i / sum_i w[y_i]``.

    Arguments after ``weight`` are keyword-only (PyTorch's deprecated ``size_average``
    and ``reduce`` positions are not reproduced).
    """
    fn = "nll_loss"
    x = as_input(input, "input", fn)
    reduction = _reduction(fn, reduction)
    ignore_index = check_int(ignore_index, "ignore_index", fn)
    unbatched = _unbatched(fn, x)
    t_in = target.data if isinstance(target, Tensor) else np.asarray(target)
    if unbatched:
        x, t_in = x.unsqueeze(0), t_in.reshape((1,) + t_in.shape)
    t = _class_targets(fn, t_in, x.shape, ignore_index)
    w = _class_weight(fn, weight, x, x.shape[1])
    out = NLLLoss.apply(x, t, w, ignore_index=ignore_index, reduction=reduction)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def cross_entropy(input, target, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits, as ``torch.nn.functional.cross_entropy``.

    ``input (N, C, *)`` (or ``(C,)``) are unnormalized scores. ``target`` is either class
    indices ``(N, *)`` (integer dtype) or class probabilities of the input's shape
    (floating dtype). With indices:
    ``l_i = (1 - eps) * nll_i + eps / C * sum_c w_c * (-log_softmax(x_i)_c)``
    (``eps = label_smoothing``), ``'mean'`` dividing both terms by ``sum_i w[y_i]``
    over non-ignored targets. With probabilities
    ``l_i = -sum_c w_c q_ic log_softmax(x_i)_c`` with ``q = (1 - eps) p + eps / C``,
    ``'mean'`` dividing by the number of positions ``N * prod(*)``.

    >>> import numpy as np
    >>> round(float(cross_entropy(np.array([[0., 0.]]), np.array([1])).item()), 6)  # log 2
    0.693147
    """
    fn = "cross_entropy"
    x = as_input(input, "input", fn)
    reduction = _reduction(fn, reduction)
    ignore_index = check_int(ignore_index, "ignore_index", fn)
    eps = check_number(label_smoothing, "label_smoothing", fn, minimum=0, maximum=1)
    unbatched = _unbatched(fn, x)
    class_dim = 0 if unbatched else 1
    n_cls = x.shape[class_dim]
    t_arr = target.data if isinstance(target, Tensor) else np.asarray(target)
    logp = log_softmax(x, dim=class_dim)
    w = _class_weight(fn, weight, x, n_cls)
    w_b = None if w is None else w.reshape((n_cls,) + (1,) * (x.ndim - class_dim - 1))

    if np.issubdtype(t_arr.dtype, np.floating):  # class probabilities
        if ignore_index != -100:
            raise ValueError(f"{fn}: ignore_index is not supported for probability (floating point) targets")
        q = target if isinstance(target, Tensor) else Tensor(t_arr)
        check_dtype_match(fn, input=x, target=q)
        if q.shape != x.shape:
            raise ValueError(f"{fn}: probability target must have the input's shape {x.shape}, got {q.shape}")
        if eps > 0:
            q = q * (1 - eps) + eps / n_cls
        if w_b is not None and isinstance(weight, Tensor):  # differentiable in weight here, as PyTorch
            w_b = weight.reshape(w_b.shape)
        prod = logp * q if w_b is None else logp * q * w_b
        loss = -prod.sum(dim=class_dim)
        if reduction == "mean":  # over the N * prod(*) positions: 0 / 0 = nan for an empty batch, as PyTorch
            positions = int(np.prod(x.shape[:class_dim] + x.shape[class_dim + 1:]))
            with np.errstate(invalid="ignore", divide="ignore"):
                return _total(loss) / np.asarray(positions, dtype=x.dtype)
        return _reduce(loss, reduction)

    nll = nll_loss(logp, t_arr, weight, ignore_index=ignore_index, reduction=reduction)
    if eps == 0:
        return nll
    t = _class_targets(fn, t_arr.reshape((1,) + t_arr.shape) if unbatched else t_arr,
                       x.unsqueeze(0).shape if unbatched else x.shape, ignore_index)
    keep = (t != ignore_index).reshape(t_arr.shape)
    smooth = -(logp if w_b is None else logp * w_b).sum(dim=class_dim) * keep.astype(x.dtype)
    if reduction == "mean":
        if w is None:
            denom = float(keep.sum())
        else:
            denom = float(w[np.where(keep, t_arr, 0)][keep].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = _total(smooth) / np.asarray(denom, dtype=x.dtype)
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - eps) + smooth * (eps / n_cls)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error, as ``torch.nn.functional.mse_loss``: ``(x - y)**2``, reduced.
    Shapes should match; broadcasting works with PyTorch's warning."""
    fn = "mse_loss"
    x = as_input(input, "input", fn)
    y = as_input(target, "target", fn)
    check_dtype_match(fn, input=x, target=y)
    reduction = _reduction(fn, reduction)
    if x.shape != y.shape:
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise ValueError(f"{fn}: target shape {y.shape} does not broadcast with input shape {x.shape}") from None
        warnings.warn(f"Using a target size ({y.shape}) that is different to the input size ({x.shape}). "
                      "This will likely lead to incorrect results due to broadcasting.", UserWarning, stacklevel=2)
    d = x - y
    return _reduce(d * d, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Sigmoid + binary cross entropy in one stable formula, as
    ``torch.nn.functional.binary_cross_entropy_with_logits``:
    ``l = -w [pw * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x))]``, computed as
    ``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``. ``weight`` broadcasts to the input,
    ``pos_weight`` along the last (class) axis.

    >>> import numpy as np
    >>> round(float(binary_cross_entropy_with_logits(np.array([0.]), np.array([1.])).item()), 6)  # log 2
    0.693147
    """
    fn = "binary_cross_entropy_with_logits"
    x = as_input(input, "input", fn)
    t = as_input(target, "target", fn)
    check_dtype_match(fn, input=x, target=t)
    reduction = _reduction(fn, reduction)
    if t.shape != x.shape:
        raise ValueError(f"{fn}: target size {t.shape} must be the same as input size {x.shape}")
    extras = {}
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is None:
            extras[name] = None
            continue
        v = as_input(value, name, fn)
        check_dtype_match(fn, input=x, **{name: v})
        try:
            if np.broadcast_shapes(v.shape, x.shape) != x.shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"{fn}: {name} of shape {v.shape} does not broadcast to the input shape "
                             f"{x.shape}") from None
        extras[name] = v
    loss = BCEWithLogits.apply(x, t, extras["weight"], extras["pos_weight"])
    return _reduce(loss, reduction)
