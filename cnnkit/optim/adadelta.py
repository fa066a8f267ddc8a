"""Adadelta (Zeiler 2012), as ``torch.optim.Adadelta``; the optimizer of Kim (2014)'s TextCNN.

For each parameter ``p`` with gradient ``g`` (PyTorch's single-tensor update, in this order)::

    g = -g                                            if maximize
    g = g + weight_decay * p                          if weight_decay != 0
    v = rho * v + (1 - rho) * g * g                   (square_avg)
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho * u + (1 - rho) * delta * delta           (acc_delta)
    p = p - lr * delta

With ``lr=1`` this is Zeiler's rule (and Kim's ``sgd_updates_adadelta`` with
``rho=0.95, eps=1e-6``). Everything is in the parameter's dtype, in place.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor
from .._validate import check_bool, check_number
from .optimizer import Optimizer, check_non_negative


def adadelta_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float, rho: float,
                    eps: float, weight_decay: float, maximize: bool) -> None:
    """One Adadelta step on ``param`` (in place), updating ``state`` (``step``, ``square_avg``,
    ``acc_delta``) in place."""
    g = -grad if maximize else grad
    state["step"] += 1
    if weight_decay != 0:
        g = g + weight_decay * param
    one_minus_rho = param.dtype.type(1 - rho)
    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
    square_avg *= rho
    square_avg += (one_minus_rho * g) * g
    std = np.sqrt(square_avg + param.dtype.type(eps))
    delta = np.sqrt(acc_delta + param.dtype.type(eps))
    delta /= std
    delta *= g
    acc_delta *= rho
    acc_delta += (one_minus_rho * delta) * delta
    delta *= param.dtype.type(-lr)
    param += delta


class Adadelta(Optimizer):
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False)``, torch's
    signature and defaults. State per parameter (torch's names): ``step``, ``square_avg``, ``acc_delta``."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _validate_group(self, group: dict[str, Any]) -> None:
        owner = type(self).__name__
        check_non_negative(owner, lr=group["lr"], eps=group["eps"], weight_decay=group["weight_decay"])
        check_number(group["rho"], "rho", owner, minimum=0, maximum=1)
        check_bool(group["maximize"], "maximize", owner)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = 0
                state["square_avg"] = np.zeros_like(p.data)
                state["acc_delta"] = np.zeros_like(p.data)
            adadelta_update(p.data, g, state, lr=group["lr"], rho=group["rho"], eps=group["eps"],
                            weight_decay=group["weight_decay"], maximize=group["maximize"])


__all__ = ["Adadelta", "adadelta_update"]
