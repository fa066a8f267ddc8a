"""Pooling layers: thin holders of their arguments that call :mod:`cnnkit.functional.pool`.

Attributes are stored exactly as PyTorch stores them (``stride`` defaults to
``kernel_size``; ``AvgPool1d`` keeps 1-tuples), so tools that read
``kernel_size``/``stride``/``padding``/``dilation``/``ceil_mode`` see the same values.
"""
from __future__ import annotations

from .. import functional as F
from .._core.window import as_tuple
from .module import Module


class _MaxPoolNd(Module):
    n_spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        n, name = self.n_spatial, type(self).__name__
        as_tuple(kernel_size, n, f"{name}: kernel_size", minimum=1)
        if stride is not None:
            as_tuple(stride, n, f"{name}: stride", minimum=1)
        as_tuple(padding, n, f"{name}: padding", minimum=0)
        as_tuple(dilation, n, f"{name}: dilation", minimum=1)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """As ``torch.nn.MaxPool1d``: ``(N, C, L)`` -> ``(N, C, L_out)``; see :func:`cnnkit.functional.max_pool1d`."""

    n_spatial = 1

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """As ``torch.nn.MaxPool2d``: ``(N, C, H, W)`` -> ``(N, C, H_out, W_out)``; the gradient of each
    output goes to its window's first maximum (see :func:`cnnkit.functional.max_pool2d`)."""

    n_spatial = 2

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class MaxPool3d(_MaxPoolNd):
    """As ``torch.nn.MaxPool3d``."""

    n_spatial = 3

    def forward(self, x):
        return F.max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool1d(Module):
    """As ``torch.nn.AvgPool1d`` (``kernel_size``/``stride``/``padding`` stored as 1-tuples, as PyTorch)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = as_tuple(kernel_size, 1, "AvgPool1d: kernel_size", minimum=1)
        self.stride = as_tuple(stride if stride is not None else kernel_size, 1, "AvgPool1d: stride", minimum=1)
        self.padding = as_tuple(padding, 1, "AvgPool1d: padding", minimum=0)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    n_spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__()
        n, name = self.n_spatial, type(self).__name__
        as_tuple(kernel_size, n, f"{name}: kernel_size", minimum=1)
        if stride is not None:
            as_tuple(stride, n, f"{name}: stride", minimum=1)
        as_tuple(padding, n, f"{name}: padding", minimum=0)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """As ``torch.nn.AvgPool2d``; see :func:`cnnkit.functional.avg_pool2d`."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AvgPool3d(_AvgPoolNd):
    """As ``torch.nn.AvgPool3d``."""

    n_spatial = 3

    def forward(self, x):
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class _AdaptivePool(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """As ``torch.nn.AdaptiveAvgPool1d``: ``(N, C, L)`` -> ``(N, C, output_size)``."""

    def forward(self, x):
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """As ``torch.nn.AdaptiveAvgPool2d``: ``(N, C, H, W)`` -> ``(N, C, *output_size)``
    (``AdaptiveAvgPool2d(1)`` is global average pooling)."""

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveAvgPool3d(_AdaptivePool):
    """As ``torch.nn.AdaptiveAvgPool3d``."""

    def forward(self, x):
        return F.adaptive_avg_pool3d(x, self.output_size)


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """As ``torch.nn.AdaptiveMaxPool1d``."""

    def forward(self, x):
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """As ``torch.nn.AdaptiveMaxPool2d``."""

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """As ``torch.nn.AdaptiveMaxPool3d``."""

    def forward(self, x):
        return F.adaptive_max_pool3d(x, self.output_size, self.return_indices)
