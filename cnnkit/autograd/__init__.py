"""Reverse-mode automatic differentiation: ``Tensor``, ``Function`` and the engine."""
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Tensor, as_tensor, cat, ones, randn, stack, tensor, where, zeros

__all__ = [
    "Function", "Tensor", "tensor", "as_tensor", "cat", "stack", "where", "zeros", "ones", "randn",
    "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
]
