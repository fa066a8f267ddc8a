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

import hashlib
from pathlib import Path

from .. import nn
from .._validate import check_int

VARIANTS = ("modern", "classic")

#: The bundled trained weights (see ``weights/README.md`` for the command that made them).
PRETRAINED_PATH = Path(__file__).with_name("weights") / "lenet5.safetensors"
#: SHA-256 of :data:`PRETRAINED_PATH`, checked before the file is read.
PRETRAINED_SHA256 = "54a621899534cf1d69db90f8094edb7bbc22add35c7c0f218d481bc2fda02621"
#: Its MNIST test accuracy (10,000 images), as measured by ``cnnkit eval pretrained``.
PRETRAINED_ACCURACY = 0.9912


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


def lenet5(variant: str = "modern", num_classes: int = 10, pretrained: bool = False) -> LeNet5:
    """Build :class:`LeNet5` (parameters drawn from cnnkit's default generator).

    ``pretrained=True`` loads the bundled MNIST weights (modern variant, 10 classes;
    :data:`PRETRAINED_ACCURACY` test accuracy), offline, after checking the file's
    SHA-256. Its input is :func:`cnnkit.data.prepare_mnist` of 28x28 digits.
    """
    if not isinstance(pretrained, bool):
        raise TypeError(f"lenet5: pretrained must be True or False, got {pretrained!r}")
    if pretrained and (variant, num_classes) != ("modern", 10):
        raise ValueError(f"lenet5: the pretrained weights are for variant='modern', num_classes=10; "
                         f"got variant={variant!r}, num_classes={num_classes!r}")
    model = LeNet5(variant, num_classes)
    if pretrained:
        from .. import checkpoint
        data = PRETRAINED_PATH.read_bytes() if PRETRAINED_PATH.is_file() else None
        if data is None:
            raise FileNotFoundError(f"lenet5: the bundled weights {PRETRAINED_PATH} are missing from this installation")
        digest = hashlib.sha256(data).hexdigest()
        if digest != PRETRAINED_SHA256:
            raise ValueError(f"lenet5: {PRETRAINED_PATH} has SHA-256 {digest}, expected {PRETRAINED_SHA256}: "
                             f"the file is damaged; reinstall cnnkit")
        checkpoint.load_into(model, PRETRAINED_PATH)
    return model
