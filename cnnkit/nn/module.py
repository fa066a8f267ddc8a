"""``Module``, ``Sequential`` and ``ModuleList``: thin containers of state.

A module holds parameters, buffers (non-trained state such as running
statistics) and child modules, found through attribute assignment as in
PyTorch; the math lives in :mod:`cnnkit.functional`. ``state_dict`` keys are
PyTorch's (``"features.0.weight"``, ``"bn.running_mean"``), values are NumPy arrays.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from .._validate import check_bool
from ..autograd import Tensor
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` returns, as torch's ``_IncompatibleKeys``."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _to_numpy(value, key: str) -> np.ndarray:
    """A state-dict value (NumPy array, cnnkit Tensor, torch tensor, array-like) as an array."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):  # a torch tensor
        return value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"load_state_dict: value for {key!r} is not numeric ({type(value).__name__})")
    return arr


def _as_float_dtype(dtype) -> np.dtype:
    """A floating NumPy dtype from a NumPy dtype-like or a torch dtype (``torch.float64``)."""
    try:
        out = np.dtype(dtype)
    except TypeError:
        name = str(dtype)
        if not name.startswith("torch."):
            raise TypeError(f"to(): dtype must be a floating dtype, got {dtype!r}") from None
        try:
            out = np.dtype(name[len("torch."):])
        except TypeError:
            raise TypeError(f"to(): dtype {dtype!r} has no NumPy equivalent") from None
    if not np.issubdtype(out, np.floating):
        raise TypeError(f"to(): dtype must be a floating dtype, got {out}")
    return out


class Module:
    """Base class of all layers; subclasses define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call Module.__init__() before assigning attributes")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._remove_from_stores(name, keep=params)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                f"(cnnkit.nn.Parameter or None expected)")
            params[name] = None  # e.g. ``self.bias = None``: an absent optional parameter
        elif isinstance(value, Module):
            self._remove_from_stores(name, keep=modules)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                f"(cnnkit.nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                f"(a NumPy array or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from_stores(self, name: str, keep: dict | None = None) -> None:
        """Forget ``name`` everywhere but in ``keep`` (where re-assignment keeps its position, as torch)."""
        self.__dict__.pop(name, None)
        for store in (self._parameters, self._buffers, self._modules):
            if store is not keep:
                store.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent.discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, kind: str, name) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if not name or "." in name:
            raise ValueError(f"{kind} name must be a non-empty str without '.', got {name!r}")
        if hasattr(type(self), name) or name in self.__dict__:
            raise ValueError(f"attribute {name!r} already exists on {type(self).__name__}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, an absent optional parameter such as a bias)."""
        if name not in self._parameters:
            self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            f"(cnnkit.nn.Parameter or None expected)")
        self._remove_from_stores(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, value: np.ndarray | None, persistent: bool = True) -> None:
        """Register non-trained state (a NumPy array) that ``state_dict`` saves when persistent."""
        if name not in self._buffers:
            self._check_new_name("buffer", name)
        if value is not None and not isinstance(value, np.ndarray):
            raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (a NumPy array or None expected)")
        self._remove_from_stores(name, keep=self._buffers)
        self._buffers[name] = value
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` (or ``None``) as the child ``name``."""
        if name not in self._modules:
            self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a cnnkit.nn.Module (child {name!r})")
        self._remove_from_stores(name, keep=self._modules)
        self._modules[name] = module

    def get_submodule(self, target: str) -> "Module":
        """The descendant named by a dotted path (``"features.0"``); ``""`` is this module."""
        mod: Module = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule {part!r} (looking up {target!r})")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter named by a dotted path (``"features.0.weight"``)."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        p = mod._parameters.get(name)
        if p is None:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r} (looking up {target!r})")
        return p

    # ------------------------------------------------------------------ calls
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """This module and every descendant, depth first (pre-order), with dotted names.

        A module reachable along several paths is listed once (its first path),
        unless ``remove_duplicate=False``, as ``torch.nn.Module.named_modules``.
        """
        stack = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in seen:
                    continue
                seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for n, m in self._modules.items():
            if m is not None:
                yield n, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for n, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{n}" if mod_name else n), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for n, b in mod._buffers.items():
                if b is None or id(b) in seen:
                    continue
                seen.add(id(b))
                yield (f"{mod_name}.{n}" if mod_name else n), b

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------------ state
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch norm uses batch statistics) on all modules."""
        mode = check_bool(mode, "mode", "train()")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def apply(self, fn) -> "Module":
        """Call ``fn`` on every descendant (children first) and then on this module, as torch."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, dtype) -> "Module":
        """Cast floating parameters and buffers (and gradients) to ``dtype``, in place.

        ``dtype``: anything ``np.dtype`` accepts (``np.float64``, ``"float32"``) or a
        torch dtype (``torch.float64``); the device string ``"cpu"`` is accepted and
        changes nothing. Integer buffers (e.g. ``num_batches_tracked``) keep their dtype.
        """
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        dtype = _as_float_dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and np.issubdtype(p.dtype, np.floating):
                    p.data = p.data.astype(dtype, copy=False)
                    if p.grad is not None:
                        p.grad = p.grad.astype(dtype, copy=False)
            for n, b in m._buffers.items():
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    m._buffers[n] = b.astype(dtype, copy=False)
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    def _state_entries(self) -> Iterator[tuple[str, "Module", str, str]]:
        """``(key, module, name, kind)`` for every parameter and persistent buffer,
        in torch's ``state_dict`` order; a module shared by several paths appears
        under each of them, as in torch."""
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            pre = f"{mod_name}." if mod_name else ""
            for n, p in mod._parameters.items():
                if p is not None:
                    yield pre + n, mod, n, "parameter"
            for n, b in mod._buffers.items():
                if b is not None and n not in mod._non_persistent:
                    yield pre + n, mod, n, "buffer"

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters and persistent buffers under PyTorch's key names, as NumPy copies.

        Keys and order equal ``torch_model.state_dict()`` for the equivalent torch model
        (``"features.0.weight"``, ``"bn.running_mean"``, ``"bn.num_batches_tracked"``).
        """
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for key, mod, n, kind in self._state_entries():
            value = mod._parameters[n].data if kind == "parameter" else mod._buffers[n]
            out[key] = np.array(value, copy=True)
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> "IncompatibleKeys":
        """Copy arrays into this module's parameters and buffers, in place.

        Values may be NumPy arrays, cnnkit Tensors, torch tensors or anything
        ``np.asarray`` takes; they are cast to the existing array's dtype. Every
        shape must match (``ValueError`` naming the key and both shapes, also with
        ``strict=False``); with ``strict`` the key sets must match too
        (``ValueError`` listing the missing and unexpected keys). Every value is
        converted before the first one is written, so nothing is changed when an
        error is raised. Returns ``(missing_keys, unexpected_keys)``.
        """
        commit, keys = self._plan_load_state_dict(state_dict, strict)
        commit()
        return keys

    def _plan_load_state_dict(self, state_dict, strict: bool = True):
        """Check and convert ``state_dict`` without changing anything: returns
        ``(commit, IncompatibleKeys)``, ``commit()`` writing the converted values
        (it cannot fail). Lets a caller check several pieces before applying any."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: state_dict must be a mapping of names to arrays, "
                            f"got {type(state_dict).__name__}")
        entries = list(self._state_entries())
        own = {key for key, *_ in entries}
        missing = [key for key, *_ in entries if key not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)))
        if strict and missing:
            errors.append("missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        updates = []
        for key, mod, n, kind in entries:
            if key not in state_dict:
                continue
            value = _to_numpy(state_dict[key], key)
            target = mod._parameters[n].data if kind == "parameter" else mod._buffers[n]
            if value.shape != target.shape:
                errors.append(f"size mismatch for {key}: the state_dict has shape {tuple(value.shape)}, "
                              f"the {kind} in the current model has shape {tuple(target.shape)}")
                continue
            try:  # convert now, so that a bad value fails before anything is changed
                converted = np.array(value, dtype=target.dtype, copy=True)
            except (TypeError, ValueError) as exc:
                errors.append(f"value for {key} cannot be converted to the {kind}'s dtype {target.dtype} "
                              f"(got dtype {value.dtype}: {exc})")
                continue
            updates.append((target, converted, mod._parameters[n] if kind == "parameter" else None))
        if errors:
            raise ValueError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                             + "\n\t".join(errors))

        def commit() -> None:
            for target, value, param in updates:
                np.copyto(target, value)
                if param is not None:
                    param._bump_version()
        return commit, IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """As torch: ``Name(extra)`` for a leaf, else one indented line per extra line and child."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(mod).replace("\n", "\n  ") for name, mod in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


def _index(idx, n: int, owner: str) -> int:
    """``idx`` (an int, negative allowed) as a position in ``range(n)``; ``IndexError`` otherwise."""
    if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
        raise TypeError(f"{owner} indices must be integers or slices, got {type(idx).__name__}")
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range for {owner} of length {n}")
    return int(idx) % n


class Sequential(Module):
    """Modules applied in order, as ``torch.nn.Sequential``.

    ``Sequential(m0, m1, ...)`` names the children ``"0"``, ``"1"``, ...;
    ``Sequential(OrderedDict(name=module, ...))`` keeps the given names. Supports
    ``len``, iteration, ``model[i]`` (negative too), ``model[a:b]`` (a new
    ``Sequential`` sharing the modules and keeping their names, as torch),
    ``model[i] = m``, ``del model[i]`` (renumbers, as torch), ``append``,
    ``insert`` and ``extend``.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[_index(idx, len(items), "Sequential")][1]

    def __setitem__(self, idx, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        doomed = keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(keys), "Sequential")]]
        for key in doomed:
            del self._modules[key]
        # renumber so that the names stay 0..n-1, as torch
        kept = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(kept):
            self._modules[str(i)] = m

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "Sequential":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        n = len(self)
        if not isinstance(index, (int, np.integer)) or not -n <= index <= n:
            raise IndexError(f"insert index {index} is out of range for Sequential of length {n}")
        if not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a cnnkit.nn.Module")
        mods = list(self._modules.values())
        mods.insert(int(index) % (n + 1) if index < 0 else int(index), module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (no ``forward``), as ``torch.nn.ModuleList``."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(items[idx])
        return items[_index(idx, len(items), "ModuleList")]

    def __setitem__(self, idx, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx) -> None:
        mods = list(self._modules.values())
        del mods[idx if isinstance(idx, slice) else _index(idx, len(mods), "ModuleList")]
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m
