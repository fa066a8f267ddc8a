"""``cnnkit.functional``: stateless ops with PyTorch's names and semantics.

Functions accept NumPy arrays or Tensors and return Tensors.
"""
from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .linear import linear
from .shape import flatten

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "linear", "flatten",
]
from .padding import pad  # noqa: E402

__all__ += ["pad"]
