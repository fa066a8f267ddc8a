"""Embedding lookup: integer indices select rows of a weight matrix."""
from __future__ import annotations


import numpy as np

from .._validate import check_int
from ..autograd import Function, Tensor
from ._validate import as_input


class Embedding(Function):
    """``weight[indices]``; the weight gradient sums the rows of repeated indices
    and leaves the ``padding_idx`` row at zero."""

    def forward(self, weight, indices, padding_idx):
        self.indices, self.padding_idx, self.shape = indices, padding_idx, weight.shape
        return weight[indices]

    def backward(self, g):
        gw = np.zeros(self.shape, dtype=g.dtype)
        np.add.at(gw, self.indices.ravel(), g.reshape(-1, self.shape[1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None


def _indices(input, num: int) -> np.ndarray:
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"embedding: input must hold integer indices, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].ravel()[0]
        raise ValueError(f"embedding: input contains index {int(bad)}, out of range for "
                         f"num_embeddings={num} (valid: 0..{num - 1})")
    return idx


def embedding(input, weight, padding_idx: int | None = None) -> Tensor:
    """As ``torch.nn.functional.embedding``: integer ``input`` of any shape ``(*)`` and
    ``weight (num_embeddings, embedding_dim)`` -> ``(*, embedding_dim)``, row ``input[i]``
    of ``weight`` at each position. ``padding_idx`` (negative counts from the end)
    receives no gradient.

    >>> import numpy as np
    >>> embedding(np.array([2, 0]), np.arange(6.).reshape(3, 2)).numpy()
    array([[4., 5.],
           [0., 1.]])
    """
    w = as_input(weight, "weight", "embedding")
    if w.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {w.shape}")
    num = w.shape[0]
    if padding_idx is not None:
        padding_idx = check_int(padding_idx, "padding_idx", "embedding")
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx={padding_idx} must be within num_embeddings={num}")
        padding_idx = int(padding_idx) % num
    return Embedding.apply(w, _indices(input, num), padding_idx=padding_idx)
