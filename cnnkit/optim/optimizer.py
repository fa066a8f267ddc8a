"""``Optimizer``: parameter groups, per-parameter state and (de)serialisation.

The layout is PyTorch's: ``param_groups`` is a list of dicts, each with a
``"params"`` list and its own hyperparameters (defaults filled in from the
constructor); ``state`` maps each parameter to a dict of NumPy arrays and
scalars (``"step"``, ``"exp_avg"``, ``"momentum_buffer"``, ... under torch's names).
``state_dict()`` refers to parameters by their index across all groups, so it
can be loaded into an optimizer built over another copy of the model, and a
``torch.optim`` state dict (tensors converted with ``.numpy()``) loads too.

Updates are written in place into ``param.data`` in the parameter's dtype;
subclasses implement the math in :meth:`Optimizer._update_group`.
"""
from __future__ import annotations

import copy
import numbers
from typing import Any, Callable

import numpy as np

from .._validate import check_number
from ..autograd import Tensor, enable_grad


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _to_scalar(value):
    """A Python scalar from a number, a 0-d array or a 1-element tensor."""
    if isinstance(value, (bool, numbers.Number)) and not isinstance(value, np.generic):
        return value
    return _to_numpy(value).item()


def check_non_negative(owner: str, **values) -> None:
    """``TypeError`` naming the first argument that is not a real number, ``ValueError``
    for one that is negative, NaN or infinite (:func:`cnnkit._validate.check_number`)."""
    for name, v in values.items():
        check_number(v, name, owner, minimum=0)


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``.

    ``params``: an iterable of :class:`~cnnkit.nn.Parameter` (or any Tensor with
    ``requires_grad``), of ``(name, parameter)`` pairs, or of dicts
    ``{"params": [...], "lr": ...}`` (parameter groups with their own options).
    """

    def __init__(self, params, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or dicts, "
                            f"got a single {type(params).__name__} (wrap it in a list)")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be an ordered collection (a list), not a set")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def _validate_group(self, group: dict[str, Any]) -> None:
        """Subclasses check their hyperparameters here (``ValueError`` naming the value)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with their own options (missing ones from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}: a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{type(self).__name__}: a param group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be an ordered collection (a list), not a set")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{type(self).__name__}: give every parameter a name or none of them")
            group["param_names"] = names
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, "
                                f"but parameter {i} is a {type(p).__name__}")
            if not np.issubdtype(p.dtype, np.floating):
                raise TypeError(f"{type(self).__name__}: can only optimize floating tensors, "
                                f"parameter {i} has dtype {p.dtype}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor (parameter {i})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter group contains the same parameter twice")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._validate_group(group)
        self.param_groups.append(group)

    # ------------------------------------------------------------------- steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: ``None`` (default, as torch) or zero-filled in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given
        (the closure re-evaluates the model and its backward, with grad enabled)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads = [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = np.asarray(p.grad)
                if g.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for a parameter "
                                     f"of shape {p.shape}")
                params.append(p)
                grads.append(g.astype(p.dtype, copy=False))
            if params:
                self._update_group(group, params, grads)
                for p in params:  # an in-place change: graphs that saved p before the step refuse to backward
                    p._bump_version()
        return loss

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[np.ndarray]) -> None:
        raise NotImplementedError  # pragma: no cover

    # ------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array or scalar}}, "param_groups": [{..., "params": [indices]}]}``,
        torch's layout, with copies of the NumPy state arrays."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a :meth:`state_dict` (ours, or torch's with tensors), checking group sizes,
        hyperparameters and state shapes first (nothing changes on error); arrays are
        cast to each parameter's dtype."""
        self._plan_load_state_dict(state_dict)()

    def _plan_load_state_dict(self, state_dict: dict[str, Any]):
        """Check and convert ``state_dict`` without changing anything; returns ``commit()``."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups'")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(
                isinstance(g, dict) and isinstance(g.get("params"), (list, tuple)) for g in saved_groups):
            raise ValueError(f"{name}: param_groups must be a list of dicts, each with a 'params' list")
        if not isinstance(saved_state, dict) or not all(isinstance(e, dict) for e in saved_state.values()):
            raise ValueError(f"{name}: state must map parameter indices to dicts")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")

        def index(value, what: str) -> int:
            try:
                if isinstance(value, bool):
                    raise TypeError
                return int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: {what} must be an int parameter index, got {value!r}") from None

        by_index: dict[int, Tensor] = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {gi} has {len(saved['params'])} "
                                 f"parameters in the state dict, {len(group['params'])} in this optimizer")
            missing = [k for k in self.defaults if k not in saved]
            if missing:
                raise ValueError(f"{name}: parameter group {gi} lacks {', '.join(map(repr, missing))}")
            for idx, p in zip(saved["params"], group["params"]):
                by_index[index(idx, f"param_groups[{gi}]['params'] entry")] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for idx, entries in saved_state.items():
            p = by_index.get(index(idx, "a state key"))
            if p is None:
                raise ValueError(f"{name}: state for parameter index {idx}, which no parameter group lists")
            s: dict[str, Any] = {}
            for key, value in entries.items():
                try:
                    if value is None:
                        s[key] = None
                    elif key == "step":
                        s[key] = int(round(float(_to_scalar(value))))
                    else:
                        arr = _to_numpy(value)
                        if arr.shape != p.shape:
                            raise ValueError(f"{name}: state {key!r} of parameter {idx} has shape "
                                             f"{arr.shape}, the parameter has shape {p.shape}")
                        s[key] = np.array(arr, dtype=p.dtype, copy=True)
                except (TypeError, ValueError) as exc:
                    if str(exc).startswith(name):
                        raise
                    raise ValueError(f"{name}: state {key!r} of parameter {idx} is not numeric ({value!r})") from None
            new_state[p] = s
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            g = {k: _from_saved(v) for k, v in saved.items() if k != "params"}
            g["params"] = group["params"]
            self._validate_group(g)
            new_groups.append(g)

        def commit() -> None:
            self.param_groups = new_groups
            self.state = new_state
        return commit

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k not in ("params", "param_names")):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _from_saved(value):
    """A saved hyperparameter as a Python value (tensors to scalars, lists to tuples, e.g. ``betas``)."""
    if isinstance(value, list):
        return tuple(_from_saved(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic, Tensor)) or (hasattr(value, "detach") and hasattr(value, "numpy")):
        return _to_scalar(value)
    return value
