"""Adam, AMSGrad and AdamW, as ``torch.optim.Adam`` / ``torch.optim.AdamW``.

For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``
(PyTorch's single-tensor update, in this order and rounding)::

    g = -g                                            if maximize
    p = p * (1 - lr * weight_decay)                   if decoupled (AdamW)
    g = g + weight_decay * p                          otherwise, if weight_decay != 0
    m = lerp(m, g, 1 - beta1)                         (= beta1 * m + (1 - beta1) * g)
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                             if amsgrad (then used instead of v)
    denom = sqrt(v) / sqrt(1 - beta2**t) + eps
    p = p - (lr / (1 - beta1**t)) * m / denom

The bias corrections are Python floats (double), everything else is in the
parameter's dtype, in place.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor
from .._validate import check_bool, check_number
from .optimizer import Optimizer, check_non_negative


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start += weight * (end - start)`` in place, with torch's two-branch formula
    (``end - (end - start) * (1 - weight)`` when ``|weight| >= 0.5``)."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (1 - w)
    return start


def adam_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled_weight_decay: bool) -> None:
    """One Adam step on ``param`` (in place), updating ``state`` (``step``, ``exp_avg``,
    ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``) in place."""
    g = -grad if maximize else grad
    state["step"] += 1
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (param.dtype.type(1 - beta2) * g) * g
    step = state["step"]
    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    step_size = lr / bias_correction1
    if amsgrad:
        np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        second = state["max_exp_avg_sq"]
    else:
        second = exp_avg_sq
    denom = np.sqrt(second) / bias_correction2_sqrt
    denom += eps
    param += (-step_size * exp_avg) / denom


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False)``, torch's signature and defaults.

    State per parameter (torch's names): ``step`` (an int here, a float tensor in
    torch), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        owner = type(self).__name__
        check_non_negative(owner, lr=group["lr"], eps=group["eps"], weight_decay=group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            if check_number(b, f"betas[{i}]", owner, minimum=0, maximum=1) == 1.0:
                raise ValueError(f"{owner}: betas[{i}] must be in [0, 1), got {b!r}")
        group["betas"] = (float(betas[0]), float(betas[1]))
        for flag in ("amsgrad", "maximize", "decoupled_weight_decay"):
            check_bool(group[flag], flag, owner)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[np.ndarray]) -> None:
        beta1, beta2 = group["betas"]
        for p, g in zip(params, grads):
            state = self.state.setdefault(p, {})
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
            adam_update(p.data, g, state, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                        weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                        maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    ``p = p * (1 - lr * weight_decay)`` before the Adam step, and the decay never
    enters the moments. Default ``weight_decay=1e-2``."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        group["decoupled_weight_decay"] = True  # as torch: AdamW always decouples, even after loading a state


__all__ = ["Adam", "AdamW", "adam_update", "lerp_"]
