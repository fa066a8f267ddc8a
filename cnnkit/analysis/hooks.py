"""Forward hooks: record every module call of a forward pass (what ``summary`` and
``feature_maps`` share), or replace one module's output (what ``cnnkit.explain`` needs).

cnnkit modules have no hook API; instead :func:`record_calls` and
:func:`replace_output` temporarily replace ``forward`` on module *instances*
with a wrapper, and restore the original afterwards, also when the forward raises.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..autograd import no_grad
from ..nn.module import Module

__all__ = ["Call", "record_calls", "replace_output", "run_recorded", "first_array", "shape_of"]


@dataclass
class Call:
    """One call of one module during a forward pass.

    ``name`` is the dotted name in the model (``""`` for the model itself),
    ``depth`` the nesting depth of the call (0 for the model), ``parent`` the
    index of the enclosing call. ``order`` numbers calls by *completion*, the
    order in which their outputs were produced.
    """

    name: str
    module: Module
    depth: int
    parent: int | None
    args: tuple
    output: Any = None
    order: int = -1
    children: list[int] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not any(True for _ in self.module.children())

    @property
    def type_name(self) -> str:
        return type(self.module).__name__


def first_array(value):
    """The first Tensor / array in ``value`` (itself, or the first of a tuple or list), else ``None``."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            found = first_array(v)
            if found is not None:
                return found
    return None


def shape_of(value) -> tuple[int, ...] | None:
    arr = first_array(value)
    return None if arr is None else tuple(int(n) for n in arr.shape)


@contextlib.contextmanager
def record_calls(model: Module, on_call: Callable[[Call], None] | None = None) -> Iterator[list[Call]]:
    """Context manager: every module call made inside it is appended to the yielded list.

    Calls are listed in the order they *start* (a container before its
    children), which is the order of a nested table. ``on_call(call)`` runs
    when a call returns. A module shared by two parents is wrapped once and
    recorded at each call, under its first name.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a cnnkit.nn.Module, got {type(model).__name__}")
    calls: list[Call] = []
    stack: list[int] = []
    completed = [0]

    def make_wrapper(name: str, module: Module, forward):
        def wrapper(*args, **kwargs):
            parent = stack[-1] if stack else None
            call = Call(name, module, len(stack), parent, args)
            index = len(calls)
            calls.append(call)
            if parent is not None:
                calls[parent].children.append(index)
            stack.append(index)
            try:
                out = forward(*args, **kwargs)
            finally:
                stack.pop()
            call.output = out
            call.order = completed[0]
            completed[0] += 1
            if on_call is not None:
                on_call(call)
            return out
        return wrapper

    with _patched((module, make_wrapper(name, module, module.forward)) for name, module in model.named_modules()):
        yield calls


@contextlib.contextmanager
def _patched(wrappers: Iterable[tuple[Module, Callable]]) -> Iterator[None]:
    """Install each ``(module, wrapper)`` as that instance's ``forward``; put the originals back on exit."""
    patched: list[tuple[Module, bool, Any]] = []
    try:
        for module, wrapper in wrappers:
            patched.append((module, "forward" in module.__dict__, module.__dict__.get("forward")))
            object.__setattr__(module, "forward", wrapper)
        yield
    finally:
        for module, had_own, original in reversed(patched):
            if had_own:
                object.__setattr__(module, "forward", original)
            else:
                module.__dict__.pop("forward", None)


@contextlib.contextmanager
def replace_output(module: Module, fn: Callable[[Any], Any]) -> Iterator[None]:
    """Context manager: inside it, every call of ``module`` returns ``fn(output)`` instead of ``output``.

    ``fn`` may return a new tensor (e.g. a leaf that requires grad, to read the
    gradient with respect to a layer's output, or other values to feed the
    layers above). The original ``forward`` is restored on exit.
    """
    if not isinstance(module, Module):
        raise TypeError(f"replace_output: module must be a cnnkit.nn.Module, got {type(module).__name__}")
    forward = module.forward

    def wrapper(*args, **kwargs):
        return fn(forward(*args, **kwargs))

    with _patched([(module, wrapper)]):
        yield


def run_recorded(model: Module, x, caller: str = "forward") -> list[Call]:
    """Run ``model(x)`` in eval mode under :func:`cnnkit.no_grad`, recording every call.

    Each module's ``training`` flag is restored afterwards. A ``ValueError`` or
    ``TypeError`` raised inside is re-raised with the module that failed and
    its input shape, prefixed by ``caller``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"{caller}: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    calls: list[Call] = []
    try:
        with no_grad(), record_calls(model) as calls:
            model(x)
    except (ValueError, TypeError) as exc:
        open_calls = [c for c in calls if c.order < 0]
        where = open_calls[-1] if open_calls else None
        at = f" in {where.name or '<model>'} ({where.type_name}) with input shape {shape_of(where.args)}" if where else ""
        raise type(exc)(f"{caller}: the forward pass of an input of shape {tuple(x.shape)} failed{at}: {exc}") from exc
    finally:
        for m, flag in flags:
            object.__setattr__(m, "training", flag)
    return calls
