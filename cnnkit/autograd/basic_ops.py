"""Elementwise, reduction and shape ops behind ``Tensor``'s operators.

Each is a :class:`Function` with its backward; broadcasting is undone in
backward by :func:`unbroadcast` (sum over the broadcast axes).
"""
from __future__ import annotations

import numpy as np

from .._validate import check_dims
from .function import Function


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape`` (the inverse of NumPy broadcasting)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _shape(x) -> tuple[int, ...]:
    return np.shape(x)


class Add(Function):
    def forward(self, a, b):
        self.shapes = (_shape(a), _shape(b))
        return a + b

    def backward(self, g):
        return (unbroadcast(g, self.shapes[0]) if self.needs_input_grad[0] else None,
                unbroadcast(g, self.shapes[1]) if self.needs_input_grad[1] else None)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (_shape(a), _shape(b))
        return a - b

    def backward(self, g):
        return (unbroadcast(g, self.shapes[0]) if self.needs_input_grad[0] else None,
                unbroadcast(-g, self.shapes[1]) if self.needs_input_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        return (unbroadcast(g * b, _shape(a)) if self.needs_input_grad[0] else None,
                unbroadcast(g * a, _shape(b)) if self.needs_input_grad[1] else None)


class Div(Function):
    def forward(self, a, b):
        self.save(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        ga = unbroadcast(g / b, _shape(a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), _shape(b)) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """``a ** b`` (``b`` a constant or a tensor), with PyTorch's conventions at
    the edges: the gradient in ``a`` is 0 where ``b == 0`` (also at ``a == 0``),
    and the gradient in ``b`` (``a**b * log(a)``) is 0 where ``a == 0`` and ``b >= 0``."""

    def forward(self, a, b):
        self.out = a ** b
        self.save(a, b)
        return self.out

    def backward(self, g):
        a, b = self.saved
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                ga = np.where(b == 0, np.zeros((), dtype=g.dtype), g * b * a ** (b - 1))
                ga = unbroadcast(ga, _shape(a))
            if self.needs_input_grad[1]:
                gb = np.where((a == 0) & (b >= 0), np.zeros((), dtype=g.dtype), g * self.out * np.log(a))
                gb = unbroadcast(gb, _shape(b))
        return ga, gb


class Exp(Function):
    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    def forward(self, a):
        self.save(a)
        return np.log(a)

    def backward(self, g):
        (a,) = self.saved
        return (g / a,)


class Sqrt(Function):
    def forward(self, a):
        self.out = np.sqrt(a)
        return self.out

    def backward(self, g):
        return (g / (2 * self.out),)


class Abs(Function):
    def forward(self, a):
        self.save(a)
        return np.abs(a)

    def backward(self, g):
        (a,) = self.saved
        return (g * np.sign(a),)


class Clamp(Function):
    def forward(self, a, lo=None, hi=None):
        self.mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            self.mask &= a >= lo
        if hi is not None:
            self.mask &= a <= hi
        return np.clip(a, lo, hi)

    def backward(self, g):
        return (g * self.mask,)


class MatMul(Function):
    """``a @ b`` with NumPy's matmul semantics (1-D and batched operands)."""

    def forward(self, a, b):
        self.save(a, b)
        return a @ b

    def backward(self, g):
        a, b = self.saved
        ga = gb = None
        if self.needs_input_grad[0]:
            if b.ndim == 1:
                ga = np.multiply.outer(g, b) if a.ndim > 1 else g * b
            else:
                gg = g if a.ndim > 1 else g[..., None, :]
                ga = gg @ np.swapaxes(b, -1, -2)
                ga = unbroadcast(ga if a.ndim > 1 else ga[..., 0, :], a.shape)
        if self.needs_input_grad[1]:
            if a.ndim == 1:
                gg = g[..., None, :] if b.ndim > 1 else g
                gb = a[:, None] * gg if b.ndim > 1 else g * a
                gb = unbroadcast(gb, b.shape)
            else:
                gg = g if b.ndim > 1 else g[..., None]
                gb = np.swapaxes(a, -1, -2) @ gg
                gb = unbroadcast(gb if b.ndim > 1 else gb[..., 0], b.shape)
        return ga, gb


def check_nonempty_reduction(fn: str, shape, axes, all_dims: bool) -> None:
    """As PyTorch: a max/argmax over an empty dimension has no value (``IndexError`` naming
    the dim; ``RuntimeError`` when no dim was given for an empty tensor)."""
    if all_dims and 0 in shape:
        raise RuntimeError(f"{fn}(): expected a reduction dim to be specified for an empty tensor (shape {tuple(shape)})")
    for a in axes:
        if shape[a] == 0:
            raise IndexError(f"{fn}(): expected reduction dim {a} to have non-zero size (shape {tuple(shape)})")


def _norm_axis(axis, ndim):
    """Reduction axes as a tuple of non-negative ints; ``None`` and ``()`` mean
    every axis (as PyTorch's ``dim=()``, unlike NumPy's ``axis=()``); ``IndexError``
    for an axis out of range, as PyTorch."""
    return check_dims(axis, ndim)


def _expand(g, shape, axes, keepdims):
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, _norm_axis(axis, a.ndim), keepdims
        return np.sum(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        # .copy(), not np.ascontiguousarray, which turns a 0-d gradient into shape (1,)
        return (_expand(g, self.shape, self.axes, self.keepdims).copy(),)


class Mean(Function):
    """Mean over axes; over an empty axis it is NaN (0 / 0), as PyTorch, without NumPy's warning."""

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axes, self.keepdims = a.shape, _norm_axis(axis, a.ndim), keepdims
        self.count = int(np.prod([a.shape[i] for i in self.axes])) if self.axes else 1
        if self.count == 0:
            with np.errstate(invalid="ignore"):
                return np.asarray(np.sum(a, axis=self.axes, keepdims=keepdims) / a.dtype.type(0))
        return np.mean(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        return (_expand(g, self.shape, self.axes, self.keepdims) / np.asarray(self.count, dtype=g.dtype),)


class Max(Function):
    """Maximum over axes; the gradient is split evenly among tied maxima
    (as ``torch.amax``)."""

    def forward(self, a, axis=None, keepdims=False):
        self.axes, self.keepdims = _norm_axis(axis, a.ndim), keepdims
        check_nonempty_reduction("max", a.shape, self.axes, axis is None)
        out = np.max(a, axis=self.axes, keepdims=True)
        mask = a == out
        self.weights = mask / mask.sum(axis=self.axes, keepdims=True).astype(a.dtype)
        return out if keepdims else np.squeeze(out, axis=self.axes)

    def backward(self, g):
        if not self.keepdims:
            g = np.expand_dims(g, self.axes)
        return (g * self.weights,)


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Permute(Function):
    def forward(self, a, axes):
        self.axes = axes
        return np.transpose(a, axes)

    def backward(self, g):
        return (np.transpose(g, np.argsort(self.axes)),)


def _is_basic_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


class GetItem(Function):
    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        out = np.zeros(self.shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            out[self.index] = g
        else:
            np.add.at(out, self.index, g)  # advanced indices may repeat: accumulate
        return (out,)


class Concat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, g):
        parts = np.split(g, self.splits, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, g):
        parts = np.moveaxis(g, self.axis, 0)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


class Where(Function):
    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes = (_shape(a), _shape(b))
        return np.where(cond, a, b)

    def backward(self, g):
        zero = np.zeros((), dtype=g.dtype)
        return (None,
                unbroadcast(np.where(self.cond, g, zero), self.shapes[0]) if self.needs_input_grad[1] else None,
                unbroadcast(np.where(self.cond, zero, g), self.shapes[1]) if self.needs_input_grad[2] else None)
