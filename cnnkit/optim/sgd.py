"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

For each parameter ``p`` with gradient ``g`` (PyTorch's update, in this order)::

    g = -g                                   if maximize
    g = g + weight_decay * p                 if weight_decay != 0
    if momentum != 0:
        b = g (first step)  or  b = momentum * b + (1 - dampening) * g
        g = g + momentum * b  if nesterov  else  b
    p = p - lr * g

Everything is computed in the parameter's dtype, in place.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor
from .._validate import check_bool, check_number
from .optimizer import Optimizer, check_non_negative


def sgd_update(param: np.ndarray, grad: np.ndarray, momentum_buffer: np.ndarray | None, *, lr: float,
               momentum: float, dampening: float, weight_decay: float, nesterov: bool,
               maximize: bool) -> np.ndarray | None:
    """Update ``param`` in place; return the (new or updated-in-place) momentum buffer."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = np.array(g, copy=True)
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param += -lr * g
    return momentum_buffer


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False)``,
    torch's signature and defaults. State per parameter: ``"momentum_buffer"`` (when momentum != 0)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_non_negative("SGD", lr=group["lr"], momentum=group["momentum"], weight_decay=group["weight_decay"])
        check_number(group["dampening"], "dampening", "SGD")
        check_bool(group["nesterov"], "nesterov", "SGD")
        check_bool(group["maximize"], "maximize", "SGD")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True requires momentum > 0 and dampening = 0, "
                             f"got momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            state = self.state.setdefault(p, {}) if group["momentum"] != 0 else None
            buf = sgd_update(p.data, g, state.get("momentum_buffer") if state is not None else None,
                             lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                             weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                             maximize=group["maximize"])
            if state is not None:
                state["momentum_buffer"] = buf
