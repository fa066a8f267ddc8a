"""Learning-rate schedulers, as ``torch.optim.lr_scheduler`` (same recursive
formulas, so ``get_last_lr()`` sequences equal torch's).

A scheduler sets ``group["lr"]`` of its optimizer's parameter groups; call
``scheduler.step()`` once per epoch (or iteration) *after* ``optimizer.step()``.
Constructing one performs an initial step (epoch 0) and records
``group["initial_lr"]``, as torch. ``state_dict()`` is plain Python data
(JSON-serialisable), so a scheduler can be saved with a training checkpoint.

* :class:`StepLR`: ``lr = base_lr * gamma ** (epoch // step_size)``
* :class:`MultiStepLR`: ``gamma`` at each milestone
* :class:`ExponentialLR`: ``lr = base_lr * gamma ** epoch``
* :class:`CosineAnnealingLR`: ``lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2``,
  computed recursively as torch does (equal to the closed form up to rounding for
  ``epoch <= T_max``; beyond it the recursion keeps following the cosine upward)
* :class:`LinearLR`: factor from ``start_factor`` to ``end_factor`` over ``total_iters`` (warmup)
* :class:`ConstantLR`, :class:`LambdaLR`, and :class:`SequentialLR` (e.g. warmup then cosine)
"""
from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from typing import Any, Callable

from .._validate import check_int, check_number
from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses implement :meth:`get_lr` (the recursive rule) and
    optionally ``_get_closed_form_lr`` (used by ``step(epoch)``)."""

    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not a cnnkit Optimizer")
        last_epoch = check_int(last_epoch, "last_epoch", type(self).__name__, minimum=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                                   f"a scheduler with last_epoch={last_epoch}")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last :meth:`step`, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``, using the closed form where there is one)."""
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._get_closed_form_lr() if hasattr(self, "_get_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as plain Python values."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; ``ValueError`` (nothing changed) when its keys or the
        kinds of its values (numbers, lists, ...) differ from this scheduler's."""
        check_same_layout(self.state_dict(), state_dict, f"{type(self).__name__}.load_state_dict")
        self.__dict__.update(state_dict)


def check_same_layout(own: Any, other: Any, owner: str, path: str = "state") -> None:
    """``ValueError`` unless ``other`` has the structure of ``own``: the same dict keys, list
    lengths and kinds of leaves (a number for a number, a bool for a bool, ...)."""
    def kind(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return type(v).__name__
        if isinstance(v, numbers.Real):
            return "number"
        return "list" if isinstance(v, (list, tuple)) else "dict" if isinstance(v, dict) else type(v).__name__
    if kind(own) != kind(other):
        raise ValueError(f"{owner}: {path} should be a {kind(own)}, got {other!r}")
    if isinstance(own, dict):
        if set(own) != set(other):
            raise ValueError(f"{owner}: {path} has keys {sorted(other)}, expected {sorted(own)}")
        for k in own:
            check_same_layout(own[k], other[k], owner, f"{path}[{k!r}]")
    elif isinstance(own, (list, tuple)):
        if len(own) != len(other):
            raise ValueError(f"{owner}: {path} has {len(other)} entries, expected {len(own)}")
        for i, (a, b) in enumerate(zip(own, other)):
            check_same_layout(a, b, owner, f"{path}[{i}]")


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)`` (one function, or one per group). The functions
    are not saved by :meth:`state_dict`."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list, last_epoch: int = -1):
        self.optimizer = optimizer
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"LambdaLR: expected {len(optimizer.param_groups)} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


def _check_positive_int(owner: str, name: str, value) -> int:
    return check_int(value, name, owner, minimum=1)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _check_positive_int("StepLR", "step_size", step_size)
        self.gamma = check_number(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (``gamma ** k`` for a milestone listed k times)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"MultiStepLR: milestones must be a list of ints, got {milestones!r}")
        # a sorted list (JSON-friendly), not a Counter
        self.milestones = sorted(check_int(m, "milestones", "MultiStepLR") for m in milestones)
        self.gamma = check_number(gamma, "gamma", "MultiStepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        count = self.milestones.count(self.last_epoch)
        if not count:
            return self._current_lrs()
        return [lr * self.gamma ** count for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** bisect_right(self.milestones, self.last_epoch) for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiply the lr by ``factor`` until epoch ``total_iters``, then restore it."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        self.factor = check_number(factor, "factor", "ConstantLR", minimum=0, maximum=1)
        self.total_iters = check_int(total_iters, "total_iters", "ConstantLR", minimum=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr * (1.0 / self.factor) for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from ``start_factor`` (epoch 0) to
    ``end_factor`` (epoch ``total_iters`` and after): the usual linear warmup."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if check_number(start_factor, "start_factor", "LinearLR", minimum=0, maximum=1) == 0:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        check_number(end_factor, "end_factor", "LinearLR", minimum=0, maximum=1)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = _check_positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        delta = self.end_factor - self.start_factor
        scale = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return [lr * scale for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * frac) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = check_number(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs (SGDR without restarts).

    Closed form ``eta_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``;
    like torch, :meth:`step` applies the recursive rule
    ``eta_{t+1} = eta_min + (eta_t - eta_min) * (1 + cos(pi (t+1) / T_max)) / (1 + cos(pi t / T_max))``
    (so changes made to ``group["lr"]`` by others carry over), with torch's special
    case at ``t = T_max + 1 (mod 2 T_max)`` where the denominator vanishes.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_number(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:
            return [lo + (base - lo) * (1 + math.cos(t * math.pi / T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs())]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - lo) + lo
                for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` between ``milestones[i-1]`` and ``milestones[i]``, as torch
    (e.g. ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, 95)], [5])``).
    At a milestone the next scheduler restarts from its epoch 0 (closed form)."""

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int],
                 last_epoch: int = -1):
        if len(schedulers) < 1:
            raise ValueError("SequentialLR: expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if getattr(s, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(s).__name__}) belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expects len(milestones) = len(schedulers) - 1, got "
                             f"{len(milestones)} milestones for {len(schedulers)} schedulers")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:  # undo the initial step each scheduler took when it was built
            s.last_epoch -= 1
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        check_same_layout(self.state_dict(), state_dict, "SequentialLR.load_state_dict")
        state = dict(state_dict)
        inner = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, sd in zip(self._schedulers, inner):
            s.load_state_dict(sd)


__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
           "CosineAnnealingLR", "SequentialLR"]
