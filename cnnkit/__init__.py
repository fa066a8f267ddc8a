"""cnnkit: every layer of a convolutional neural network from first principles, on NumPy.

Layout (read top-down): :mod:`cnnkit.autograd` (Tensor, Function, engine),
:mod:`cnnkit._core` (the N-d sliding-window core and convolution kernels),
:mod:`cnnkit.functional` (PyTorch-named ops).
"""
__version__ = "0.1.0"

from . import functional, nn
from .random import manual_seed
from .autograd import (Function, Tensor, as_tensor, cat, enable_grad, is_grad_enabled, no_grad, ones, randn,
                       set_grad_enabled, stack, tensor, where, zeros)

__all__ = [
    "__version__", "functional", "nn", "manual_seed", "Function", "Tensor", "tensor", "as_tensor", "cat", "stack", "where",
    "zeros", "ones", "randn", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
]
from . import optim  # noqa: E402

__all__ += ["optim"]
from . import checkpoint  # noqa: E402

__all__ += ["checkpoint"]

from .analysis import summary  # noqa: E402  (cnnkit.summary, as torchinfo.summary)

__all__ += ["summary"]
from ._core.fast.threads import get_num_threads, set_num_threads  # noqa: E402  (as torch's)

__all__ += ["get_num_threads", "set_num_threads"]
