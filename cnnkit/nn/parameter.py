"""``Parameter``: a leaf tensor that a :class:`~cnnkit.nn.Module` registers."""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor


class Parameter(Tensor):
    """A tensor that requires grad by default and is found by ``Module.parameters()``."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(np.array(data.data if isinstance(data, Tensor) else data, copy=True),
                         requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
