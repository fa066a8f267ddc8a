"""``cnnkit.functional``: stateless ops with PyTorch's names and semantics.

Functions accept NumPy arrays or Tensors and return Tensors.
"""
from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .linear import linear
from .shape import flatten
from .pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d,
                   adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d,
                   max_pool2d, max_pool3d)
from .activation import elu, leaky_relu, log_softmax, maxout, relu, sigmoid, softmax, tanh
from .norm import batch_norm, layer_norm
from .drop import dropout, dropout1d, dropout2d
from .sparse import embedding
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "linear", "flatten",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "relu", "leaky_relu", "tanh", "sigmoid", "elu", "softmax", "log_softmax", "maxout",
    "batch_norm", "layer_norm", "dropout", "dropout1d", "dropout2d", "embedding",
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
]
from .padding import pad  # noqa: E402

__all__ += ["pad"]
