"""TextCNN (Kim 2014, "Convolutional Neural Networks for Sentence Classification"), CNN-rand.

For token ids ``(N, L)`` (``L`` at least the widest window)::

    embedding            (N, L, E)  -> transposed to (N, E, L)
    per window h:        conv1d E -> maps, kernel h: (N, maps, L - h + 1), ReLU,
                         max over time: (N, maps)
    concat               (N, maps * len(windows))
    [head="ln": LayerNorm over the features; head="bn": BatchNorm1d over the batch]
    dropout(p), linear   (N, num_classes) logits

Kim's CNN-rand initialises every word vector from ``U(-0.25, 0.25)``; the
padding id 0 has a zero vector that is never trained (``padding_idx=0``).
Kim also rescales the rows of the final layer's weight to an L2 norm of at
most ``s = 3`` after every update: call :meth:`TextCNN.max_norm_` after
``optimizer.step()`` (the training recipe does).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import functional as F
from .. import nn
from .._validate import check_int
from ..autograd import cat, no_grad

HEADS = ("linear", "ln", "bn")


def renorm_(weight: np.ndarray, max_norm: float, dim: int = 0) -> np.ndarray:
    """Rescale, in place, each slice ``weight[i]`` along ``dim`` whose L2 norm exceeds
    ``max_norm`` to norm ``max_norm`` (as ``torch.renorm(w, 2, dim, max_norm)``:
    the factor is ``max_norm / (norm + 1e-7)``). Returns ``weight``.
    """
    if not max_norm > 0:
        raise ValueError(f"renorm_: max_norm must be positive, got {max_norm!r}")
    axes = tuple(a for a in range(weight.ndim) if a != dim % weight.ndim)
    norms = np.sqrt(np.sum(np.square(weight, dtype=np.float64), axis=axes, keepdims=True))
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    weight *= scale.astype(weight.dtype)
    return weight


class TextCNN(nn.Module):
    """Kim's CNN for sentence classification; see the module docstring."""

    def __init__(self, vocab_size: int, embed_dim: int = 300, windows: Sequence[int] = (3, 4, 5), maps: int = 100,
                 num_classes: int = 2, dropout: float = 0.5, head: str = "linear"):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("maps", maps),
                            ("num_classes", num_classes)):
            check_int(value, name, "textcnn", minimum=1)
        windows = tuple(windows)
        if not windows or not all(isinstance(h, (int, np.integer)) and h >= 1 for h in windows):
            raise ValueError(f"textcnn: windows must be a non-empty sequence of positive ints, got {windows!r}")
        if head not in HEADS:
            raise ValueError(f"textcnn: head must be one of {HEADS}, got {head!r}")
        self.windows, self.head = windows, head
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        nn.init.uniform_(self.embedding.weight.data, -0.25, 0.25)
        self.embedding.weight.data[0] = 0
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, maps, h) for h in windows])
        features = maps * len(windows)
        norms = {"ln": nn.LayerNorm, "bn": nn.BatchNorm1d}
        self.norm = norms[head](features) if head in norms else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)

    def forward(self, ids):
        """``ids`` int ``(N, L)`` -> logits ``(N, num_classes)``."""
        shape = getattr(ids, "shape", None)
        if shape is None or len(shape) != 2 or shape[1] < max(self.windows):
            raise ValueError(f"textcnn: ids must have shape (N, L) with L >= {max(self.windows)} "
                             f"(the widest window), got {shape}")
        x = self.embedding(ids).transpose(1, 2)  # (N, E, L)
        pooled = [F.adaptive_max_pool1d(F.relu(conv(x)), 1).squeeze(2) for conv in self.convs]
        h = cat(pooled, dim=1) if len(pooled) > 1 else pooled[0]
        return self.fc(self.dropout(self.norm(h)))

    def max_norm_(self, max_norm: float = 3.0) -> None:
        """Kim's constraint: rows of ``fc.weight`` with L2 norm above ``max_norm`` are scaled down to it."""
        with no_grad():
            renorm_(self.fc.weight.data, max_norm, dim=0)
            self.fc.weight._bump_version()

    def extra_repr(self) -> str:
        return f"windows={self.windows}, head={self.head!r}"


def textcnn(vocab_size: int, embed_dim: int = 300, windows: Sequence[int] = (3, 4, 5), maps: int = 100,
            num_classes: int = 2, dropout: float = 0.5, head: str = "linear") -> TextCNN:
    """Build :class:`TextCNN` (parameters drawn from cnnkit's default generator)."""
    return TextCNN(vocab_size, embed_dim, windows, maps, num_classes, dropout, head)
