"""Shape ops."""
from __future__ import annotations

from ..autograd import Tensor
from ._validate import as_input


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """As ``torch.flatten``: merge dims ``start_dim..end_dim`` into one."""
    x = as_input(input, "input", "flatten", floating=False)
    nd = max(x.ndim, 1)
    for name, d in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not -nd <= d < nd:
            raise ValueError(f"flatten: {name}={d} is out of range for a tensor of {x.ndim} dimensions")
    start, end = start_dim % nd, end_dim % nd
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim}")
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])
