"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions"),
as Keras builds it (``keras.applications.Xception``), from cnnkit layers.

For images ``(N, 3, 299, 299)`` (any size from 71x71 works; the shapes below are for 299)::

    entry flow  conv 3x3 s2 (valid) 3->32, BN, ReLU            (N, 32, 149, 149)
                conv 3x3 (valid) 32->64, BN, ReLU               (N, 64, 147, 147)
                3 blocks, each: [ReLU] sep 3x3, BN, ReLU, sep 3x3, BN, max pool 3x3 s2 (SAME)
                + shortcut conv 1x1 s2 (SAME), BN:  64->128 (74), 128->256 (37), 256->728 (19)
    middle flow 8 blocks, each: 3 x (ReLU, sep 3x3 728->728, BN) + identity     (N, 728, 19, 19)
    exit flow   block: ReLU, sep 728->728, BN, ReLU, sep 728->1024, BN, max pool 3x3 s2 (SAME)
                + shortcut conv 1x1 s2, BN                        (N, 1024, 10, 10)
                sep 1024->1536, BN, ReLU; sep 1536->2048, BN, ReLU
                global average pool, linear 2048 -> num_classes (logits)

Every "sep" is :class:`cnnkit.nn.SeparableConv2d` with Keras ``SeparableConv2D``'s semantics
and Xception's ``use_bias=False``: a depthwise 3x3 (depth multiplier 1) and a 1x1 pointwise
convolution, neither with a bias, SAME padding. Batch norm as Keras (``epsilon=1e-3``,
``momentum=0.99``, i.e. PyTorch momentum 0.01); the max pools use TensorFlow's SAME padding
(the odd padded pixel after, padded with ``-inf``), as Keras. With ``num_classes=1000`` the
network has Keras' 22,855,952 trainable parameters; Keras' 54,528 non-trainable ones are the
batch norms' moving means and variances, which cnnkit (as PyTorch) keeps as buffers
(``running_mean``, ``running_var``; plus PyTorch's ``num_batches_tracked`` counter per layer).

``separable=False`` builds the same network with a plain 3x3 :class:`~cnnkit.nn.Conv2d`
(no bias, SAME) in place of every separable convolution: the twin that shows what the
separable layers save (``cnnkit lab run separable``). Initialisation is cnnkit's (PyTorch's)
default, not Keras' Glorot uniform; Keras' final softmax is left out (logits, as PyTorch).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from .._core.window import resolve_padding

#: Keras BatchNormalization defaults (epsilon, and momentum 0.99 as PyTorch's 1 - 0.99).
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


class MaxPool2dSame(nn.Module):
    """Max pooling with TensorFlow's SAME padding (``out = ceil(in / stride)``, the odd padded
    pixel after, padded with ``-inf``), as Keras ``MaxPooling2D(padding="same")``;
    ``(N, C, H, W)`` -> ``(N, C, ceil(H / s), ceil(W / s))``. PyTorch's ``MaxPool2d`` pads
    symmetrically only, which moves every window by one pixel when the total padding is odd."""

    def __init__(self, kernel_size: int = 3, stride: int = 2):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, "same", 1

    def forward(self, x):
        pads = resolve_padding("same", x.shape[2:], (self.kernel_size,) * 2, (self.stride,) * 2, (1, 1))
        flat = tuple(v for pair in reversed(pads) for v in pair)  # F.pad's order: last axis first
        return F.max_pool2d(F.pad(x, flat, value=-np.inf), self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding='same'"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _conv3x3(in_channels: int, out_channels: int, separable: bool) -> nn.Module:
    if separable:
        return nn.SeparableConv2d(in_channels, out_channels, 3, padding="same", bias=False)
    return nn.Conv2d(in_channels, out_channels, 3, padding="same", bias=False)


class _SepStack(nn.Sequential):
    """``[ReLU,] sep 3x3, BN`` units in a row: one per entry of ``channels[1:]``."""

    def __init__(self, channels: tuple[int, ...], first_relu: bool, separable: bool):
        layers: list[nn.Module] = []
        for k, (i, o) in enumerate(zip(channels, channels[1:])):
            if k or first_relu:
                layers.append(nn.ReLU())
            layers += [_conv3x3(i, o, separable), _bn(o)]
        super().__init__(*layers)


class DownBlock(nn.Module):
    """Entry/exit-flow block: ``pool(stack(x)) + bn(conv1x1_s2(x))``, ``(N, C_in, H, W)`` ->
    ``(N, C_out, ceil(H / 2), ceil(W / 2))``; the stack is two ``[ReLU,] sep, BN`` units."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, first_relu: bool = True,
                 separable: bool = True):
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=2, padding="same", bias=False),
                                      _bn(out_channels))
        self.stack = _SepStack((in_channels, mid_channels, out_channels), first_relu, separable)
        self.pool = MaxPool2dSame(3, 2)

    def forward(self, x):
        shortcut = self.residual(x)  # first: `cnnkit.summary` then follows the field of the wider branch
        return self.pool(self.stack(x)) + shortcut


class MiddleBlock(nn.Module):
    """Middle-flow block: ``x + 3 x (ReLU, sep 3x3, BN)(x)`` at ``channels`` (728)."""

    def __init__(self, channels: int = 728, separable: bool = True):
        super().__init__()
        self.stack = _SepStack((channels,) * 4, True, separable)

    def forward(self, x):
        return x + self.stack(x)


class Xception(nn.Module):
    """Xception for ``(N, 3, H, W)`` images (H, W >= 71) -> logits ``(N, num_classes)``; see the
    module docstring."""

    def __init__(self, num_classes: int = 1000, separable: bool = True):
        super().__init__()
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"xception: num_classes must be a positive int, got {num_classes!r}")
        if not isinstance(separable, bool):
            raise TypeError(f"xception: separable must be a bool, got {separable!r}")
        self.num_classes, self.separable = int(num_classes), separable
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, bias=False), _bn(32), nn.ReLU(),
                                  nn.Conv2d(32, 64, 3, bias=False), _bn(64), nn.ReLU())
        self.entry = nn.Sequential(DownBlock(64, 128, 128, first_relu=False, separable=separable),
                                   DownBlock(128, 256, 256, separable=separable),
                                   DownBlock(256, 728, 728, separable=separable))
        self.middle = nn.Sequential(*[MiddleBlock(728, separable) for _ in range(8)])
        self.exit = nn.Sequential(DownBlock(728, 728, 1024, separable=separable),
                                  _conv3x3(1024, 1536, separable), _bn(1536), nn.ReLU(),
                                  _conv3x3(1536, 2048, separable), _bn(2048), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) != 4 or shape[1] != 3 or min(shape[2:]) < 71:
            raise ValueError(f"xception: input must have shape (N, 3, H, W) with H, W >= 71, got {shape}")
        x = self.exit(self.middle(self.entry(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, separable={self.separable}"


def xception(num_classes: int = 1000, separable: bool = True) -> Xception:
    """Build :class:`Xception` (parameters drawn from cnnkit's default generator);
    ``separable=False`` gives the twin with plain 3x3 convolutions."""
    return Xception(num_classes, separable)
