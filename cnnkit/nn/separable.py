"""Separable convolution layers, composed from :class:`~cnnkit.nn.Conv2d`
(no backward of their own: autograd differentiates the composition).

* :class:`DepthwiseConv2d`: one filter per input channel (``groups=channels``),
  ``depth_multiplier`` filters each, as Keras ``DepthwiseConv2D``.
* :class:`SeparableConv2d`: depthwise then a 1x1 pointwise convolution, as
  Keras ``SeparableConv2D`` (PyTorch has no such layer).
* :class:`SpatiallySeparableConv2d`: a ``(kh x 1)`` convolution then a
  ``(1 x kw)`` one, i.e. every 2-D kernel is an outer product ``col ⊗ row``
  (the Sobel kernel ``[1, 2, 1]ᵀ ⊗ [1, 0, -1]``).

Weight layouts are PyTorch's (``(out, in/groups, kh, kw)``); initialisation is
PyTorch's default for each constituent convolution (Keras uses Glorot uniform).
"""
from __future__ import annotations

import numpy as np

from .._core.window import as_tuple
from .._validate import check_int
from .conv import Conv2d
from .module import Module


def _positive_int(owner: str, name: str, value) -> int:
    return check_int(value, name, owner, minimum=1)


class DepthwiseConv2d(Conv2d):
    """Depthwise 2-D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters, ``(N, C, H, W)`` -> ``(N, C * depth_multiplier, H_out, W_out)``.

    It is ``Conv2d(C, C * m, kernel_size, groups=C)``: weight ``(C * m, 1, kh, kw)``,
    bias ``(C * m,)``; output channel ``c * m + j`` is input channel ``c``
    convolved with filter ``j``, the order of Keras ``DepthwiseConv2D`` (whose
    kernel ``(kh, kw, C, m)`` is this weight as ``w.reshape(C, m, kh, kw).transpose(2, 3, 0, 1)``).
    Parameters: ``C * m * kh * kw (+ C * m)``.
    """

    def __init__(self, channels: int, kernel_size, depth_multiplier: int = 1, stride=1, padding=0, dilation=1,
                 bias: bool = True, padding_mode: str = "zeros", dtype=np.float32, generator=None):
        channels = _positive_int("DepthwiseConv2d", "channels", channels)
        m = _positive_int("DepthwiseConv2d", "depth_multiplier", depth_multiplier)
        super().__init__(channels, channels * m, kernel_size, stride=stride, padding=padding, dilation=dilation,
                         groups=channels, bias=bias, padding_mode=padding_mode, dtype=dtype, generator=generator)
        self.depth_multiplier = m


class SeparableConv2d(Module):
    """Depthwise separable convolution (Keras ``SeparableConv2D``):
    ``pointwise(depthwise(x))``, ``(N, C_in, H, W)`` -> ``(N, C_out, H_out, W_out)``.

    ``depthwise``: :class:`DepthwiseConv2d` ``(C_in, kernel_size, depth_multiplier)``
    with the stride, padding and dilation, and no bias; ``pointwise``: a 1x1
    :class:`Conv2d` ``(C_in * m, C_out)`` carrying the bias (as Keras: one bias,
    on the output). State-dict keys: ``depthwise.weight``, ``pointwise.weight``,
    ``pointwise.bias``. Parameters ``C_in*m*kh*kw + C_in*m*C_out (+ C_out)``
    instead of ``C_in*C_out*kh*kw``: 16->32 channels, 3x3, no bias: 656 vs 4608.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, depth_multiplier: int = 1, stride=1,
                 padding=0, dilation=1, bias: bool = True, padding_mode: str = "zeros", dtype=np.float32,
                 generator=None):
        super().__init__()
        in_channels = _positive_int("SeparableConv2d", "in_channels", in_channels)
        out_channels = _positive_int("SeparableConv2d", "out_channels", out_channels)
        m = _positive_int("SeparableConv2d", "depth_multiplier", depth_multiplier)
        self.depthwise = DepthwiseConv2d(in_channels, kernel_size, m, stride=stride, padding=padding,
                                         dilation=dilation, bias=False, padding_mode=padding_mode, dtype=dtype,
                                         generator=generator)
        self.pointwise = Conv2d(in_channels * m, out_channels, 1, bias=bias, dtype=dtype, generator=generator)
        self.in_channels, self.out_channels, self.depth_multiplier = in_channels, out_channels, m

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class SpatiallySeparableConv2d(Module):
    """A ``(kh x 1)`` convolution then a ``(1 x kw)`` one: every 2-D kernel is
    an outer product ``col ⊗ row``, ``(N, C_in, H, W)`` -> ``(N, C_out, H_out, W_out)``.

    ``vertical``: :class:`Conv2d` ``(C_in, C_out, (kh, 1))``, no bias, weight ``(C_out, C_in, kh, 1)``;
    ``horizontal``: depthwise :class:`Conv2d` ``(C_out, C_out, (1, kw), groups=C_out)``
    with the bias, weight ``(C_out, 1, 1, kw)``. Together they equal one ``Conv2d``
    whose kernel is ``K[o, i] = vertical.weight[o, i, :, 0] ⊗ horizontal.weight[o, 0, 0, :]``,
    with ``(kh + kw)`` weights per kernel instead of ``kh * kw`` (one channel, 3x3: 6 vs 9).

    Padding, stride and dilation are split by axis: the vertical conv gets the
    height part (padding ``(ph, 0)``, stride ``(sh, 1)``, dilation ``(dh, 1)``), the
    horizontal conv the width part. Because padding one axis commutes with
    convolving along the other, the result equals the full 2-D convolution with
    the same padding for every form and mode: an int or ``(ph, pw)``, pairs
    ``((top, bottom), (left, right))`` split into ``((top, bottom), (0, 0))`` and
    ``((0, 0), (left, right))``, ``"valid"``, and ``"same"`` (each conv applies
    "same" to its own axis, so the odd pixel goes at the end, as in Conv2d).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, padding_mode: str = "zeros", dtype=np.float32, generator=None):
        super().__init__()
        in_channels = _positive_int("SpatiallySeparableConv2d", "in_channels", in_channels)
        out_channels = _positive_int("SpatiallySeparableConv2d", "out_channels", out_channels)
        kh, kw = as_tuple(kernel_size, 2, "kernel_size", minimum=1)
        sh, sw = as_tuple(stride, 2, "stride", minimum=1)
        dh, dw = as_tuple(dilation, 2, "dilation", minimum=1)
        pad_v, pad_h = self._split_padding(padding)
        self.vertical = Conv2d(in_channels, out_channels, (kh, 1), stride=(sh, 1), padding=pad_v, dilation=(dh, 1),
                               bias=False, padding_mode=padding_mode, dtype=dtype, generator=generator)
        self.horizontal = Conv2d(out_channels, out_channels, (1, kw), stride=(1, sw), padding=pad_h,
                                 dilation=(1, dw), groups=out_channels, bias=bias, padding_mode=padding_mode,
                                 dtype=dtype, generator=generator)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)

    @staticmethod
    def _split_padding(padding):
        """``padding`` of the 2-D conv as (vertical conv's, horizontal conv's)."""
        if isinstance(padding, str):
            return padding, padding  # "same"/"valid" act on each conv's own (non-unit) axis
        if isinstance(padding, (tuple, list)) and padding and all(isinstance(p, (tuple, list)) for p in padding):
            if len(padding) != 2:
                raise ValueError(f"SpatiallySeparableConv2d: padding as pairs must be "
                                 f"((top, bottom), (left, right)), got {padding!r}")
            return (tuple(padding[0]), (0, 0)), ((0, 0), tuple(padding[1]))
        ph, pw = as_tuple(padding, 2, "padding", minimum=0)
        return (ph, 0), (0, pw)

    def forward(self, x):
        return self.horizontal(self.vertical(x))
