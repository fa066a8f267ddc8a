"""Fully connected layer: ``y = x @ weight.T + bias``."""
from __future__ import annotations

import numpy as np

from .._core.fast.matmul import matmul
from ..autograd import Function, Tensor
from ._validate import as_input, check_dtype_match


class Linear(Function):
    """``x (*, in)`` @ ``w (out, in)``ᵀ + ``b (out,)`` -> ``(*, out)``; large products run in
    blocks on cnnkit's threads (:mod:`cnnkit._core.fast.matmul`)."""

    def forward(self, x, w, b):
        self.save(x, w)
        out = matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            out += b
        return out

    def backward(self, g):
        x, w = self.saved
        g2 = g.reshape(-1, g.shape[-1])
        gx = matmul(g2, w).reshape(x.shape) if self.needs_input_grad[0] else None
        gw = matmul(g2.T, x.reshape(-1, x.shape[-1])) if self.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gw, gb


def linear(input, weight, bias=None) -> Tensor:
    """As ``torch.nn.functional.linear``: input ``(*, in_features)``, weight
    ``(out_features, in_features)``, bias ``(out_features,)`` -> ``(*, out_features)``."""
    x = as_input(input, "input", "linear")
    w = as_input(weight, "weight", "linear")
    if w.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input's last dimension must be in_features={w.shape[1]}, got input shape {x.shape}")
    check_dtype_match("linear", input=x, weight=w)
    b = None
    if bias is not None:
        b = as_input(bias, "bias", "linear")
        check_dtype_match("linear", input=x, bias=b)
        if b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias must have shape ({w.shape[0]},), got {b.shape}")
    return Linear.apply(x, w, b)
