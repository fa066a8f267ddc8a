"""Activation functions with PyTorch's names and semantics, and maxout.

Subgradients follow PyTorch: ``relu'(0) = 0``, ``leaky_relu'(0) = negative_slope``,
``elu'(0) = alpha`` (the left derivative). ``softmax``/``log_softmax`` subtract the
maximum first, so large inputs do not overflow.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._validate import check_dim, check_int, check_number
from .._core.fast import blocks
from ..autograd import Function, Tensor
from ._validate import as_input


# ------------------------------------------------------------------ Functions
class ReLU(Function):
    """``max(x, 0)``; gradient ``g * (x > 0)``. Large arrays are processed in blocks on
    cnnkit's threads (:mod:`cnnkit._core.fast.blocks`; elementwise, so the blocks do not
    change the result)."""

    def forward(self, x):
        flat = np.ascontiguousarray(x).reshape(-1)
        out, positive = np.empty_like(flat), np.empty(flat.shape, dtype=bool)

        def block(a, b):
            np.maximum(flat[a:b], 0, out=out[a:b])
            np.greater(out[a:b], 0, out=positive[a:b])

        blocks.map_ranges(block, flat.size, flat.itemsize)
        self.positive = positive.reshape(x.shape)
        return out.reshape(x.shape)

    def backward(self, g):
        flat, positive = np.ascontiguousarray(g).reshape(-1), self.positive.reshape(-1)
        gx = np.empty_like(flat)
        blocks.map_ranges(lambda a, b: np.multiply(flat[a:b], positive[a:b], out=gx[a:b]), flat.size, flat.itemsize)
        return (gx.reshape(g.shape),)


class LeakyReLU(Function):
    """``x`` where ``x > 0`` else ``slope * x``."""

    def forward(self, x, slope):
        self.positive = x > 0
        self.slope = np.asarray(slope, dtype=x.dtype)
        return np.where(self.positive, x, x * self.slope)

    def backward(self, g):
        return (np.where(self.positive, g, g * self.slope),)


class Tanh(Function):
    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, g):
        y = self.out
        return (g * (1 - y * y),)


class Sigmoid(Function):
    """``1 / (1 + exp(-x))``; ``exp(-x)`` overflowing to ``inf`` correctly gives 0."""

    def forward(self, x):
        with np.errstate(over="ignore"):
            out = np.asarray(np.exp(-x))  # an array also for 0-d input (NumPy gives a scalar)
        out += 1
        np.reciprocal(out, out=out)
        self.out = out
        return out

    def backward(self, g):
        y = self.out
        return (g * y * (1 - y),)


class ELU(Function):
    """``x`` where ``x > 0`` else ``alpha * (exp(x) - 1)``."""

    def forward(self, x, alpha):
        self.positive = x > 0
        self.alpha = np.asarray(alpha, dtype=x.dtype)
        with np.errstate(over="ignore"):  # exp of large positive x is discarded by where
            self.out = np.where(self.positive, x, self.alpha * np.expm1(x))
        return self.out

    def backward(self, g):
        return (np.where(self.positive, g, g * (self.out + self.alpha)),)


class Softmax(Function):
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``; backward ``y * (g - sum(g * y))``."""

    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:  # an empty axis: an empty result, as PyTorch
            self.out = np.empty_like(x)
            return self.out
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        e /= e.sum(axis=dim, keepdims=True)
        self.out = e
        return e

    def backward(self, g):
        y = self.out
        gy = g * y
        gy -= y * gy.sum(axis=self.dim, keepdims=True)
        return (gy,)


class LogSoftmax(Function):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``; backward ``g - softmax * sum(g)``."""

    def forward(self, x, dim):
        self.dim = dim
        if x.size == 0:  # an empty axis: an empty result, as PyTorch
            self.out = np.empty_like(x)
            return self.out
        z = x - x.max(axis=dim, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=dim, keepdims=True))
        self.out = z
        return z

    def backward(self, g):
        return (g - np.exp(self.out) * g.sum(axis=self.dim, keepdims=True),)


class MaxAlong(Function):
    """Maximum along one axis; the gradient goes to the FIRST maximum (as ``torch.max(x, dim)``)."""

    def forward(self, x, axis):
        self.axis, self.shape = axis, x.shape
        self.arg = np.expand_dims(np.argmax(x, axis=axis), axis)
        return np.take_along_axis(x, self.arg, axis=axis).squeeze(axis)

    def backward(self, g):
        gx = np.zeros(self.shape, dtype=g.dtype)
        np.put_along_axis(gx, self.arg, np.expand_dims(g, self.axis), axis=self.axis)
        return (gx,)


# ------------------------------------------------------------------ functions
def _softmax_input(fn_name: str, input, dim, dtype) -> tuple[Tensor, int]:
    """The input (cast to ``dtype`` first, as PyTorch) and its checked ``dim``."""
    x = as_input(input, "input", fn_name)
    if dtype is not None:
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{fn_name}: dtype must be a NumPy floating dtype or None, got {dtype!r}") from None
        if not np.issubdtype(target, np.floating):
            raise TypeError(f"{fn_name}: dtype must be a floating dtype, got {target}")
        x = x.astype(target) if x.dtype != target else x
    if dim is None:  # PyTorch's legacy implicit choice, with its warning
        warnings.warn(f"Implicit dimension choice for {fn_name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", UserWarning, stacklevel=3)
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return x, check_dim(dim, x.ndim, owner=fn_name)


def relu(input) -> Tensor:
    """``max(x, 0)`` elementwise, as ``torch.nn.functional.relu`` (gradient 0 at 0).

    >>> import numpy as np
    >>> relu(np.array([-1., 0., 2.])).numpy()
    array([0., 0., 2.])
    """
    return ReLU.apply(as_input(input, "input", "relu"))


def leaky_relu(input, negative_slope: float = 0.01) -> Tensor:
    """``x if x > 0 else negative_slope * x``, as ``torch.nn.functional.leaky_relu``."""
    slope = check_number(negative_slope, "negative_slope", "leaky_relu")
    return LeakyReLU.apply(as_input(input, "input", "leaky_relu"), slope=slope)


def tanh(input) -> Tensor:
    """Hyperbolic tangent; derivative ``1 - tanh(x)**2``."""
    return Tanh.apply(as_input(input, "input", "tanh"))


def sigmoid(input) -> Tensor:
    """Logistic function ``1 / (1 + exp(-x))``; derivative ``s * (1 - s)``."""
    return Sigmoid.apply(as_input(input, "input", "sigmoid"))


def elu(input, alpha: float = 1.0) -> Tensor:
    """``x if x > 0 else alpha * (exp(x) - 1)``, as ``torch.nn.functional.elu``."""
    return ELU.apply(as_input(input, "input", "elu"), alpha=check_number(alpha, "alpha", "elu"))


def softmax(input, dim: int | None = None, dtype=None) -> Tensor:
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim``, as ``torch.nn.functional.softmax``
    (computed as ``exp(x - max)`` so it never overflows). ``dtype`` (e.g. ``np.float64``)
    casts the input first, as PyTorch (the gradient flows back through the cast).
    An empty ``dim`` gives an empty result.

    >>> import numpy as np
    >>> softmax(np.array([[0., np.log(3.)]]), dim=1).numpy()
    array([[0.25, 0.75]])
    """
    x, dim = _softmax_input("softmax", input, dim, dtype)
    return Softmax.apply(x, dim=dim)


def log_softmax(input, dim: int | None = None, dtype=None) -> Tensor:
    """``x_i - log(sum_j exp(x_j))`` along ``dim``, as ``torch.nn.functional.log_softmax``
    (log-sum-exp with the maximum subtracted first); ``dtype`` as in :func:`softmax`."""
    x, dim = _softmax_input("log_softmax", input, dim, dtype)
    return LogSoftmax.apply(x, dim=dim)


def maxout(input, pieces: int, dim: int = 1) -> Tensor:
    """Maxout (Goodfellow et al., 2013): the ``C`` channels along ``dim`` form
    ``C / pieces`` consecutive blocks of ``pieces`` channels, each replaced by its maximum.

    ``(N, C, *) -> (N, C / pieces, *)``; ``out[n, j] = max_{i < pieces} x[n, j * pieces + i]``.
    PyTorch has no maxout; the grouping is TensorFlow's (``tf.contrib.layers.maxout``
    with ``num_units = C / pieces``). It is a reshape followed by a maximum; on ties
    the gradient goes to the first maximum.

    >>> import numpy as np
    >>> maxout(np.array([[1., 4., 3., 2.]]), pieces=2).numpy()
    array([[4., 3.]])
    """
    x = as_input(input, "input", "maxout")
    pieces = check_int(pieces, "pieces", "maxout", minimum=1)
    if x.ndim == 0:
        raise ValueError("maxout: input must have at least one dimension")
    dim = check_dim(dim, x.ndim, owner="maxout")
    channels = x.shape[dim]
    if channels % pieces:
        raise ValueError(f"maxout: the number of channels {channels} (input dimension {dim}) is not "
                         f"divisible by pieces={pieces}")
    grouped = x.reshape(x.shape[:dim] + (channels // pieces, pieces) + x.shape[dim + 1:])
    return MaxAlong.apply(grouped, axis=dim + 1)
