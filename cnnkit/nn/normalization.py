"""Batch and layer normalization layers (state: affine parameters and running statistics).

``BatchNorm*d`` keeps PyTorch's parameters and buffers under PyTorch's names:
``weight``, ``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``
(``int64``), so ``state_dict`` keys match ``torch.nn.BatchNorm2d``'s.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from .._validate import check_int, check_number
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    expected_dims: tuple[int, ...] = (4,)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=np.float32, *, bias: bool = True):
        super().__init__()
        name = type(self).__name__
        num_features = check_int(num_features, "num_features", name, minimum=1)
        if momentum is not None:
            momentum = check_number(momentum, "momentum", name)
        eps = check_number(eps, "eps", name, minimum=0)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.register_parameter("bias", Parameter(np.zeros(num_features, dtype=dtype)) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x):
        ndim = x.ndim if hasattr(x, "ndim") else np.ndim(x)
        if ndim not in self.expected_dims:
            dims = " or ".join(f"{d}D" for d in self.expected_dims)
            raise ValueError(f"{type(self).__name__}: expected {dims} input, got {ndim}D input")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """As ``torch.nn.BatchNorm1d``: ``(N, C)`` or ``(N, C, L)``, statistics per channel ``C``."""

    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """As ``torch.nn.BatchNorm2d``: ``(N, C, H, W)``, statistics per channel over ``N, H, W``."""

    expected_dims = (4,)


class BatchNorm3d(_BatchNorm):
    """As ``torch.nn.BatchNorm3d``: ``(N, C, D, H, W)``."""

    expected_dims = (5,)


class LayerNorm(Module):
    """As ``torch.nn.LayerNorm``: normalize over the trailing ``normalized_shape`` axes,
    with elementwise ``weight`` (ones) and ``bias`` (zeros) of that shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
            raise TypeError(f"LayerNorm: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(check_int(v, "normalized_shape", "LayerNorm", minimum=1) for v in normalized_shape)
        self.eps = check_number(eps, "eps", "LayerNorm", minimum=0)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.register_parameter("bias", Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        s = f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        return s + f", bias={self.bias is not None}"
