"""Activation layers (stateless; each calls its :mod:`cnnkit.functional.activation` function).

``inplace`` is accepted for PyTorch compatibility; cnnkit always returns a new
tensor (the values are the same).
"""
from __future__ import annotations

from .. import functional as F
from .._validate import check_int
from .module import Module


class ReLU(Module):
    """``max(x, 0)``, as ``torch.nn.ReLU``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``, as ``torch.nn.LeakyReLU``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """``x if x > 0 else alpha * (exp(x) - 1)``, as ``torch.nn.ELU``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softmax(Module):
    """Softmax along ``dim``, as ``torch.nn.Softmax``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim``, as ``torch.nn.LogSoftmax``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Maxout(Module):
    """Maxout over consecutive blocks of ``pieces`` channels along ``dim``:
    ``(N, C, *) -> (N, C / pieces, *)`` (PyTorch has none; see :func:`cnnkit.functional.maxout`)."""

    def __init__(self, pieces: int, dim: int = 1):
        super().__init__()
        pieces = check_int(pieces, "pieces", "Maxout", minimum=1)
        self.pieces, self.dim = pieces, dim

    def forward(self, x):
        return F.maxout(x, self.pieces, self.dim)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}, dim={self.dim}"
