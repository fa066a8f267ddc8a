"""Batch and layer normalization with PyTorch's semantics and closed-form backward.

Batch norm over ``(N, C, *)`` normalizes each channel over the ``M = N * prod(*)``
values of the batch::

    x_hat = (x - mean) / sqrt(var + eps),   y = weight * x_hat + bias

In training, ``mean``/``var`` are the batch statistics (``var`` biased, divided
by ``M``) and the running statistics are updated in place as PyTorch does,
with the UNBIASED variance (divided by ``M - 1``)::

    running = (1 - momentum) * running + momentum * batch_statistic

In evaluation the running statistics are used. The input gradient in training
is ``weight / (M * sqrt(var + eps)) * (M * g - sum(g) - x_hat * sum(g * x_hat))``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validate import check_bool, check_number
from ..autograd import Function, Tensor
from ._validate import as_input, check_dtype_match


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of ``(N, C, *)`` over every axis but 1 (pairwise summation on contiguous rows)."""
    n, c = a.shape[:2]
    return a.reshape(n, c, -1).sum(axis=2).sum(axis=0)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` per channel of ``(N, C, *)``: one row dot product per ``(n, c)``."""
    n, c = a.shape[:2]
    a3, b3 = a.reshape(n, c, 1, -1), b.reshape(n, c, -1, 1)
    return np.matmul(a3, b3).reshape(n, c).sum(axis=0)


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNorm(Function):
    """Batch normalization of ``(N, C, *)`` with optional affine ``weight``/``bias`` ``(C,)``."""

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        c = x.shape[1]
        count = x.size // c
        self.training, self.count = training, count
        if training:
            mean = _channel_sum(x) / count
            centered = x - _per_channel(mean, x.ndim)
            var = _channel_dot(centered, centered) / count
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype, copy=False)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * var * (count / (count - 1))).astype(running_var.dtype, copy=False)
        else:  # a copy: the running statistics may be updated in place before backward runs
            mean = running_mean.astype(x.dtype, copy=True)
            var = running_var.astype(x.dtype, copy=False)
            centered = None
        inv_std = (1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))).astype(x.dtype, copy=False)
        self.inv_std, self.weight = inv_std, weight
        scale = inv_std if weight is None else inv_std * weight
        if training:  # keep x_hat for backward; y = x_hat * weight + bias
            x_hat = centered
            x_hat *= _per_channel(inv_std, x.ndim)
            self.x_hat = x_hat
            out = x_hat * _per_channel(weight, x.ndim) if weight is not None else x_hat.copy()
        else:  # y = x * scale + (bias - mean * scale), one pass; x kept for the weight gradient
            self.x, self.mean = x, mean
            out = x * _per_channel(scale, x.ndim)
            out += _per_channel(-mean * scale, x.ndim)
        if bias is not None:
            out += _per_channel(bias, x.ndim)
        return out

    def _x_hat_dot(self, g):
        """``sum(g * x_hat)`` per channel, and ``sum(g)``."""
        gsum = _channel_sum(g)
        if self.training:
            return _channel_dot(g, self.x_hat), gsum
        return (_channel_dot(g, self.x) - self.mean * gsum) * self.inv_std, gsum

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad[:3]
        gxhat, gsum = self._x_hat_dot(g)
        nd = g.ndim
        scale = self.inv_std if self.weight is None else self.inv_std * self.weight
        gx = None
        if need_x:
            if self.training:
                m = self.count
                gx = self.x_hat * _per_channel(-gxhat / m, nd)
                gx += g
                gx -= _per_channel(gsum / m, nd)
                gx *= _per_channel(scale, nd)
            else:
                gx = g * _per_channel(scale, nd)
        return gx, (gxhat if need_w else None), (gsum if need_b else None)


class LayerNorm(Function):
    """Normalization over the trailing ``k`` axes, with elementwise affine ``weight``/``bias``."""

    def forward(self, x, weight, bias, k, eps):
        axes = tuple(range(x.ndim - k, x.ndim))
        self.axes = axes
        mean = x.mean(axis=axes, keepdims=True)
        x_hat = x - mean
        var = np.mean(x_hat * x_hat, axis=axes, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + np.asarray(eps, dtype=x.dtype))
        x_hat *= self.inv_std
        self.x_hat, self.weight = x_hat, weight
        out = x_hat * weight if weight is not None else x_hat.copy()
        if bias is not None:
            out += bias
        return out

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad[:3]
        lead = tuple(range(g.ndim - len(self.axes)))
        x_hat = self.x_hat
        gx = gw = gb = None
        if need_x:
            gxh = g * self.weight if self.weight is not None else g
            gx = gxh - gxh.mean(axis=self.axes, keepdims=True)
            gx -= x_hat * np.mean(gxh * x_hat, axis=self.axes, keepdims=True)
            gx *= self.inv_std
        if need_w:
            gw = np.sum(g * x_hat, axis=lead)
        if need_b:
            gb = np.sum(g, axis=lead)
        return gx, gw, gb


# ---------------------------------------------------------------- functions
def _stat_array(value, name: str, c: int) -> np.ndarray | None:
    """A running statistic as the NumPy array to update in place (a Tensor's data)."""
    if value is None:
        return None
    arr = value.data if isinstance(value, Tensor) else value
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"batch_norm: {name} must be a NumPy array or Tensor (updated in place), "
                        f"got {type(value).__name__}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"batch_norm: {name} must have a floating dtype, got {arr.dtype}")
    if arr.shape != (c,):
        raise ValueError(f"batch_norm: {name} must have shape ({c},), one entry per channel of the input "
                         f"(input dimension 1 has {c}), got {arr.shape}")
    return arr


def _affine(value, name: str, fn_name: str, x: Tensor, shape: tuple[int, ...]) -> Tensor | None:
    if value is None:
        return None
    t = as_input(value, name, fn_name)
    check_dtype_match(fn_name, input=x, **{name: t})
    if t.shape != shape:
        raise ValueError(f"{fn_name}: {name} must have shape {shape}, got {t.shape}")
    return t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization, as ``torch.nn.functional.batch_norm``, for ``(N, C)``,
    ``(N, C, L)``, ``(N, C, H, W)`` (and ``(N, C, D, H, W)``).

    ``running_mean``/``running_var`` ``(C,)`` are NumPy arrays (or Tensors) updated
    IN PLACE when ``training`` (``var`` unbiased there); they may be ``None`` in
    training. ``weight``/``bias`` ``(C,)`` are optional. ``momentum=None`` (a
    cumulative average) needs the batch count: use :class:`cnnkit.nn.BatchNorm2d`.

    >>> import numpy as np
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> batch_norm(np.array([[1.], [3.]]), rm, rv, training=True, eps=0.0).numpy()
    array([[-1.],
           [ 1.]])
    >>> rm, rv   # 0.9 * 0 + 0.1 * 2,  0.9 * 1 + 0.1 * 2 (unbiased variance of [1, 3])
    (array([0.2]), array([1.1]))
    """
    fn = "batch_norm"
    x = as_input(input, "input", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: input must have at least 2 dimensions (N, C, *), got shape {x.shape}")
    c = x.shape[1]
    if c == 0:
        raise ValueError(f"{fn}: input of shape {x.shape} has no channels (dimension 1 is empty)")
    rm = _stat_array(running_mean, "running_mean", c)
    rv = _stat_array(running_var, "running_var", c)
    w = _affine(weight, "weight", fn, x, (c,))
    b = _affine(bias, "bias", fn, x, (c,))
    training = check_bool(training, "training", fn)
    if momentum is None:
        raise TypeError(f"{fn}: momentum must be a float; momentum=None (cumulative moving average) needs "
                        "the number of batches seen, kept by the BatchNorm modules")
    momentum = check_number(momentum, "momentum", fn)
    eps = check_number(eps, "eps", fn, minimum=0)
    if training:
        if x.size // max(c, 1) <= 1:
            raise ValueError(f"{fn}: expected more than 1 value per channel when training, got input shape {x.shape}")
    elif rm is None or rv is None:
        raise ValueError(f"{fn}: running_mean and running_var are required when training=False")
    return BatchNorm.apply(x, w, b, running_mean=rm, running_var=rv, training=training,
                           momentum=momentum, eps=eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalization, as ``torch.nn.functional.layer_norm``: normalize over the
    trailing axes ``normalized_shape`` (biased variance), then ``* weight + bias``
    (both of shape ``normalized_shape``).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``; ``mean``/``var`` over the last
    ``len(normalized_shape)`` axes.
    """
    fn = "layer_norm"
    x = as_input(input, "input", fn)
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        shape = (int(normalized_shape),)
    elif isinstance(normalized_shape, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in normalized_shape):
        shape = tuple(int(v) for v in normalized_shape)
    else:
        raise TypeError(f"{fn}: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}")
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"{fn}: normalized_shape={shape} must equal the trailing dimensions of the input, "
                         f"got input shape {x.shape}")
    eps = check_number(eps, "eps", fn, minimum=0)
    w = _affine(weight, "weight", fn, x, shape)
    b = _affine(bias, "bias", fn, x, shape)
    return LayerNorm.apply(x, w, b, k=k, eps=eps)

