"""Dropout layers: active in training mode (``module.train()``), identity after ``eval()``."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import check_generator
from ..functional.drop import _check_p
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False, generator: np.random.Generator | None = None):
        super().__init__()
        self.p = _check_p(type(self).__name__, p)
        self.inplace = inplace  # accepted for PyTorch compatibility; the result is always a new tensor
        self.generator = check_generator(generator, owner=type(self).__name__)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout, as ``torch.nn.Dropout``: zero each element with probability ``p``
    and scale the rest by ``1 / (1 - p)`` in training. ``generator`` (optional) makes it
    reproducible; by default :func:`cnnkit.random.default_generator` is used."""

    def forward(self, x):
        return F.dropout(x, self.p, self.training, generator=self.generator)


class Dropout1d(_DropoutNd):
    """Channel dropout, as ``torch.nn.Dropout1d``: ``(N, C, L)``, whole channels dropped."""

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training, generator=self.generator)


class Dropout2d(_DropoutNd):
    """Channel dropout, as ``torch.nn.Dropout2d``: ``(N, C, H, W)``, whole feature maps dropped."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training, generator=self.generator)
