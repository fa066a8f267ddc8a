"""``Embedding``: a lookup table of ``num_embeddings`` vectors."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .._validate import check_int
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """As ``torch.nn.Embedding``: integer indices ``(*)`` -> ``(*, embedding_dim)``.

    ``weight (num_embeddings, embedding_dim)`` is initialised ``N(0, 1)`` as PyTorch,
    with the ``padding_idx`` row zeroed; that row receives no gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype=np.float32, generator: np.random.Generator | None = None):
        super().__init__()
        num_embeddings = check_int(num_embeddings, "num_embeddings", "Embedding", minimum=1)
        embedding_dim = check_int(embedding_dim, "embedding_dim", "Embedding", minimum=1)
        if padding_idx is not None:
            if not -num_embeddings <= check_int(padding_idx, "padding_idx", "Embedding") < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings={num_embeddings}, "
                                 f"got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = int(num_embeddings), int(embedding_dim), padding_idx
        weight = init.normal_(np.empty((num_embeddings, embedding_dim), dtype=dtype), generator=generator)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
