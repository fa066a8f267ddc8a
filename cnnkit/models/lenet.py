"""LeNet-5 (LeCun et al. 1998) for 32x32 single-channel images (MNIST padded by 2).

Layers and shapes for a batch ``(N, 1, 32, 32)``::

    conv1  5x5, 1 -> 6      (N, 6, 28, 28)    then act, pool 2x2 -> (N, 6, 14, 14)
    conv2  5x5, 6 -> 16     (N, 16, 10, 10)   then act, pool 2x2 -> (N, 16, 5, 5)
    flatten                 (N, 400)
    fc1    400 -> 120, act; fc2 120 -> 84, act; fc3 84 -> num_classes (logits)

``variant="modern"`` (default) uses ReLU and max pooling; ``"classic"`` the
1998 flavour's tanh and average pooling (without the paper's scaled tanh,
trainable subsampling coefficients, sparse C3 table and RBF output layer).
"""
from __future__ import annotations

from .. import nn
from .._validate import check_int

VARIANTS = ("modern", "classic")


class LeNet5(nn.Module):
    """LeNet-5: ``(N, 1, 32, 32)`` -> logits ``(N, num_classes)``; see the module docstring."""

    def __init__(self, variant: str = "modern", num_classes: int = 10):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"lenet5: variant must be one of {VARIANTS}, got {variant!r}")
        num_classes = check_int(num_classes, "num_classes", "lenet5", minimum=1)
        self.variant, self.num_classes = variant, num_classes
        act = nn.ReLU if variant == "modern" else nn.Tanh
        pool = nn.MaxPool2d if variant == "modern" else nn.AvgPool2d
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.act1 = act()
        self.pool1 = pool(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.act2 = act()
        self.pool2 = pool(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.act3 = act()
        self.fc2 = nn.Linear(120, 84)
        self.act4 = act()
        self.fc3 = nn.Linear(84, num_classes)

    def feature_maps(self, x) -> dict:
        """The activations after ``conv1`` (``(N, 6, 28, 28)``) and ``conv2`` (``(N, 16, 10, 10)``)."""
        c1 = self.act1(self.conv1(x))
        c2 = self.act2(self.conv2(self.pool1(c1)))
        return {"conv1": c1, "conv2": c2}

    def forward(self, x):
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.flatten(x)
        x = self.act3(self.fc1(x))
        x = self.act4(self.fc2(x))
        return self.fc3(x)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


def lenet5(variant: str = "modern", num_classes: int = 10) -> LeNet5:
    """Build :class:`LeNet5` (parameters drawn from cnnkit's default generator)."""
    return LeNet5(variant, num_classes)
