"""``Linear``, ``Identity`` and ``Flatten``."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import check_int
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """``y = x Wᵀ + b``, as ``torch.nn.Linear``: ``(*, in_features)`` -> ``(*, out_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, generator=None):
        super().__init__()
        in_features = check_int(in_features, "in_features", "Linear", minimum=1)
        out_features = check_int(out_features, "out_features", "Linear", minimum=1)
        self.in_features, self.out_features = in_features, out_features
        weight = np.empty((out_features, in_features), dtype=dtype)
        b = np.empty(out_features, dtype=dtype) if bias else None
        init.default_layer_init_(weight, b, in_features, generator)
        self.weight = Parameter(weight)
        self.register_parameter("bias", Parameter(b) if bias else None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (default: all but the batch), as ``torch.nn.Flatten``."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
