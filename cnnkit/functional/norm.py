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
from .._core.fast import blocks
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


def _by_channel_blocks(fn, x: np.ndarray) -> list[np.ndarray]:
    """``fn(a, b)`` for blocks ``[a, b)`` of the channels of ``x`` ``(N, C, *)`` (in parallel,
    :mod:`cnnkit._core.fast.blocks`), each returning a tuple of ``(b - a,)`` arrays; returns
    those arrays joined over the blocks (each channel's arithmetic is the block's own, so the
    result does not depend on the thread count)."""
    parts = blocks.map_ranges(fn, x.shape[1], x[:, :1].nbytes)
    return [np.concatenate(column) for column in zip(*parts)]


def _train_block(x, weight, bias, eps, count, x_hat, out):
    """Training batch norm of a channel block: writes ``x_hat`` and ``out``; returns the
    block's ``(mean, var, inv_std)``."""
    nd = x.ndim
    mean = _channel_sum(x) / count
    centered = np.subtract(x, _per_channel(mean, nd), out=x_hat)
    var = _channel_dot(centered, centered) / count
    inv_std = (1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))).astype(x.dtype, copy=False)
    x_hat *= _per_channel(inv_std, nd)
    if weight is not None:
        np.multiply(x_hat, _per_channel(weight, nd), out=out)
    else:
        out[...] = x_hat
    if bias is not None:
        out += _per_channel(bias, nd)
    return mean, var, inv_std


class BatchNorm(Function):
    """Batch normalization of ``(N, C, *)`` with optional affine ``weight``/``bias`` ``(C,)``;
    channels are processed in blocks on cnnkit's threads."""

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        c = x.shape[1]
        count = x.size // c
        nd = x.ndim
        self.training, self.count, self.weight = training, count, weight
        if training:  # keep x_hat for backward; y = x_hat * weight + bias
            x_hat, out = np.empty_like(x), np.empty_like(x)
            mean, var, self.inv_std = _by_channel_blocks(lambda a, b: _train_block(
                x[:, a:b], None if weight is None else weight[a:b], None if bias is None else bias[a:b],
                eps, count, x_hat[:, a:b], out[:, a:b]), x)
            self.x_hat = x_hat
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype, copy=False)
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * var * (count / (count - 1))).astype(running_var.dtype, copy=False)
            return out
        # evaluation: y = x * scale + (bias - mean * scale), one pass; x kept for the weight gradient.
        # mean is a copy: the running statistics may be updated in place before backward runs
        self.mean = running_mean.astype(x.dtype, copy=True)
        var = running_var.astype(x.dtype, copy=False)
        self.inv_std = (1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))).astype(x.dtype, copy=False)
        scale = self.inv_std if weight is None else self.inv_std * weight
        shift = -self.mean * scale if bias is None else bias - self.mean * scale
        self.x = x
        out = np.empty_like(x)

        def block(a, b):
            np.multiply(x[:, a:b], _per_channel(scale[a:b], nd), out=out[:, a:b])
            out[:, a:b] += _per_channel(shift[a:b], nd)
            return ()

        blocks.map_ranges(block, c, x[:, :1].nbytes)
        return out

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad[:3]
        nd = g.ndim
        scale = self.inv_std if self.weight is None else self.inv_std * self.weight
        gx = np.empty_like(g) if need_x else None

        def block(a, b):
            gb, sb = g[:, a:b], _per_channel(scale[a:b], nd)
            gsum = _channel_sum(gb)
            if not self.training:  # sum(g * x_hat) from x; gx = g * scale
                gxhat = (_channel_dot(gb, self.x[:, a:b]) - self.mean[a:b] * gsum) * self.inv_std[a:b]
                if need_x:
                    np.multiply(gb, sb, out=gx[:, a:b])
                return gxhat, gsum
            x_hat = self.x_hat[:, a:b]
            gxhat = _channel_dot(gb, x_hat)
            if need_x:  # weight / (M sqrt(var + eps)) * (M g - sum(g) - x_hat sum(g x_hat))
                m = self.count
                dst = np.multiply(x_hat, _per_channel(-gxhat / m, nd), out=gx[:, a:b])
                dst += gb
                dst -= _per_channel(gsum / m, nd)
                dst *= sb
            return gxhat, gsum

        gxhat, gsum = _by_channel_blocks(block, g)
        return gx, (gxhat if need_w else None), (gsum if need_b else None)


class LayerNorm(Function):
    """Normalization over the trailing ``k`` axes, with elementwise affine ``weight``/``bias``;
    rows (the leading axes) are processed in blocks on cnnkit's threads."""

    def forward(self, x, weight, bias, k, eps):
        axes = tuple(range(x.ndim - k, x.ndim))
        self.axes, self.weight = axes, weight
        rows = x.reshape((-1,) + x.shape[x.ndim - k:])  # (R, *normalized)
        raxes = tuple(range(1, k + 1))
        x_hat, out = np.empty_like(rows), np.empty_like(rows)
        inv_std = np.empty((rows.shape[0],) + (1,) * k, dtype=x.dtype)

        def block(a, b):
            xb, xh = rows[a:b], x_hat[a:b]
            np.subtract(xb, xb.mean(axis=raxes, keepdims=True), out=xh)
            var = np.mean(xh * xh, axis=raxes, keepdims=True)
            np.divide(1.0, np.sqrt(var + np.asarray(eps, dtype=x.dtype)), out=inv_std[a:b])
            xh *= inv_std[a:b]
            if weight is not None:
                np.multiply(xh, weight, out=out[a:b])
            else:
                out[a:b] = xh
            if bias is not None:
                out[a:b] += bias

        blocks.map_ranges(block, rows.shape[0], rows[:1].nbytes)
        self.x_hat, self.inv_std = x_hat, inv_std
        return out.reshape(x.shape)

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad[:3]
        k = len(self.axes)
        rows = g.reshape(self.x_hat.shape)
        raxes = tuple(range(1, k + 1))
        gx = np.empty_like(rows) if need_x else None

        def block(a, b):
            gb, x_hat = rows[a:b], self.x_hat[a:b]
            if need_x:
                gxh = gb * self.weight if self.weight is not None else gb
                dst = np.subtract(gxh, gxh.mean(axis=raxes, keepdims=True), out=gx[a:b])
                dst -= x_hat * np.mean(gxh * x_hat, axis=raxes, keepdims=True)
                dst *= self.inv_std[a:b]
            return (np.sum(gb * x_hat, axis=0) if need_w else None), (np.sum(gb, axis=0) if need_b else None)

        parts = blocks.map_ranges(block, rows.shape[0], rows[:1].nbytes)
        gw = gb = None
        if need_w:  # partial sums of the blocks, added in block order
            gw = parts[0][0]
            for p in parts[1:]:
                gw += p[0]
        if need_b:
            gb = parts[0][1]
            for p in parts[1:]:
                gb += p[1]
        return (None if gx is None else gx.reshape(g.shape)), gw, gb


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

