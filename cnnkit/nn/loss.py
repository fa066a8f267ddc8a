"""Loss modules over :mod:`cnnkit.functional.loss`. Class weights are buffers, as in
PyTorch. Arguments after ``weight`` are keyword-only (PyTorch's deprecated
``size_average``/``reduce`` positions are not reproduced)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from .module import Module


def _array(value):
    if value is None:
        return None
    return np.array(value.data if isinstance(value, Tensor) else value, copy=True)


class CrossEntropyLoss(Module):
    """As ``torch.nn.CrossEntropyLoss``: logits ``(N, C, *)``, targets as class indices
    ``(N, *)`` or probabilities ``(N, C, *)``; see :func:`cnnkit.functional.cross_entropy`."""

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weight", _array(weight))
        self.ignore_index, self.reduction, self.label_smoothing = ignore_index, reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(Module):
    """As ``torch.nn.NLLLoss``: log-probabilities ``(N, C, *)`` and class indices ``(N, *)``."""

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.register_buffer("weight", _array(weight))
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(Module):
    """As ``torch.nn.MSELoss``: ``(x - y)**2`` reduced by ``reduction``."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """As ``torch.nn.BCEWithLogitsLoss``: sigmoid and binary cross entropy in one stable formula."""

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None):
        super().__init__()
        self.register_buffer("weight", _array(weight))
        self.register_buffer("pos_weight", _array(pos_weight))
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
