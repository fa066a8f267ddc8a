"""Convolution layers: thin holders of ``weight``/``bias`` that call
:mod:`cnnkit.functional.conv`. Weight layouts are PyTorch's:
``(out, in/groups, *kernel)``, and ``(in, out/groups, *kernel)`` for transposed layers.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import check_int
from .._core.window import as_tuple, resolve_padding
from ..autograd import Tensor
from . import init
from .module import Module
from .parameter import Parameter


#: ``padding_mode`` values, as torch; the non-zero modes pad explicitly with
#: :func:`cnnkit.functional.pad` and then convolve with ``padding=0``.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    n_spatial = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", output_padding=0,
                 dtype=np.float32, generator=None):
        super().__init__()
        n = self.n_spatial
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            check_int(value, name, type(self).__name__, minimum=1)
        if in_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels={in_channels} is not divisible by groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{type(self).__name__}: out_channels={out_channels} is not divisible by groups={groups}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{type(self).__name__}: padding_mode must be one of "
                             f"{', '.join(map(repr, PADDING_MODES))}, got {padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: only padding_mode='zeros' is supported for transposed "
                             f"convolutions (as torch), got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = as_tuple(kernel_size, n, "kernel_size", minimum=1)
        self.stride = as_tuple(stride, n, "stride", minimum=1)
        self.dilation = as_tuple(dilation, n, "dilation", minimum=1)
        self.padding = padding if isinstance(padding, str) else (
            padding if isinstance(padding, (tuple, list)) and padding and isinstance(padding[0], (tuple, list))
            else as_tuple(padding, n, "padding", minimum=0))
        self.output_padding = as_tuple(output_padding, n, "output_padding", minimum=0)
        self.padding_mode = padding_mode
        if isinstance(padding, str) and padding.lower() not in ("same", "valid"):
            raise ValueError(f"{type(self).__name__}: padding must be an int, a tuple, 'same' or 'valid', "
                             f"got {padding!r}")
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        weight = np.empty(shape, dtype=dtype)
        b = np.empty(out_channels, dtype=dtype) if bias else None
        fan_in = init.calculate_fan_in_and_fan_out(shape)[0]
        init.default_layer_init_(weight, b, fan_in, generator)
        self.weight = Parameter(weight)
        self.register_parameter("bias", Parameter(b) if bias else None)

    def _input_and_padding(self, x):
        """``(x, padding)`` for the functional conv: with a non-zero ``padding_mode``
        the padding (``"same"`` and pairs resolved for this input) is applied here
        by :func:`cnnkit.functional.pad` and the convolution gets ``padding=0``."""
        if self.padding_mode == "zeros":
            return x, self.padding
        n = self.n_spatial
        spatial = tuple(np.shape(x.data if isinstance(x, Tensor) else x)[-n:])
        pads = resolve_padding(self.padding, spatial, self.kernel_size, self.stride, self.dilation)
        flat = tuple(v for pair in reversed(pads) for v in pair)  # torch's order: last dimension first
        return F.pad(x, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.n_spatial:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.n_spatial:
            s += f", dilation={self.dilation}"
        if self.transposed and self.output_padding != (0,) * self.n_spatial:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution layer, as ``torch.nn.Conv1d``: ``(N, C_in, L)`` -> ``(N, C_out, L_out)``."""

    n_spatial = 1

    def forward(self, x):
        x, padding = self._input_and_padding(x)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution layer, as ``torch.nn.Conv2d``: ``(N, C_in, H, W)`` -> ``(N, C_out, H_out, W_out)``.

    ``padding`` also takes ``"same"`` with any stride (TensorFlow semantics) and
    ``((top, bottom), (left, right))``.
    """

    n_spatial = 2

    def forward(self, x):
        x, padding = self._input_and_padding(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv3d(_ConvNd):
    """3-D convolution layer, as ``torch.nn.Conv3d``."""

    n_spatial = 3

    def forward(self, x):
        x, padding = self._input_and_padding(x)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose1d(_ConvNd):
    """1-D transposed convolution, as ``torch.nn.ConvTranspose1d``; weight ``(in, out/groups, k)``."""

    n_spatial = 1
    transposed = True

    def forward(self, x):
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution, as ``torch.nn.ConvTranspose2d``; weight ``(in, out/groups, kH, kW)``."""

    n_spatial = 2
    transposed = True

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)
