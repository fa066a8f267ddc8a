"""Shape ops."""
from __future__ import annotations

from ..autograd import Tensor
from ._validate import as_input


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """As ``torch.flatten``: merge dims ``start_dim..end_dim`` into one (``IndexError``
    for a dim out of range, as PyTorch); :meth:`cnnkit.Tensor.flatten`."""
    return as_input(input, "input", "flatten", floating=False).flatten(start_dim, end_dim)
