"""The table: one entry per ONNX operator, with both directions side by side.

An :class:`Entry` pairs an ONNX operator with

* ``exports``: the cnnkit ops (:class:`~cnnkit.autograd.Function` classes, as
  recorded by :mod:`cnnkit.autograd.trace`) that :mod:`cnnkit.onnx.export` writes
  as this operator, and ``to_onnx(rec, ctx)``, which adds the node(s) for one
  recorded op to the graph being built and returns the name of its output;
* ``from_onnx(node, b)``, which :mod:`cnnkit.onnx.load` calls to turn one node
  into a cnnkit layer (``layer`` names it: ``Conv`` becomes ``nn.Conv2d`` with its
  weight as a Parameter) or into a step of the generic graph module.

Entries are written next to each other so that the conventions that must agree
in both directions live in one place: the pads layout (:func:`pads_to_onnx` /
:func:`pads_from_onnx`), batch-norm momentum (ONNX keeps ``1 - momentum``), the
weight layouts (identical: OIHW, and IOHW for transposed convolutions).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from .._optional import require

onnx = require("onnx", extra="onnx", purpose="ONNX export and import")

__all__ = ["Entry", "register", "pattern", "patterns", "exporter_for", "importer_for", "entries", "coverage",
           "pads_to_onnx", "pads_from_onnx", "ExportError"]


class ExportError(ValueError):
    """An op or a configuration that cannot be written as ONNX (the message names it)."""


@dataclass(frozen=True)
class Entry:
    """One ONNX operator: the cnnkit ops written as it and how it is read back."""

    onnx_op: str
    exports: tuple[type, ...]
    to_onnx: Callable | None
    from_onnx: Callable | None
    layer: str  # what an imported node becomes ("" for a generic graph step)
    note: str
    batch_params: tuple[str, ...] = ()  # op parameters that may change with the batch size (Reshape's shape)


_EXPORT: dict[type, Entry] = {}
_IMPORT: dict[str, Entry] = {}
_ORDER: list[Entry] = []
_PATTERNS: list[Callable] = []


def register(onnx_op: str, *, exports: Sequence[type] = (), layer: str = "", note: str = "",
             batch_params: Sequence[str] = ()):
    """Class decorator: the class body holds ``to_onnx`` and/or ``from_onnx`` (plain functions)."""
    def decorate(cls):
        e = Entry(onnx_op, tuple(exports), cls.__dict__.get("to_onnx"), cls.__dict__.get("from_onnx"),
                  layer, note or (cls.__doc__ or "").strip().split("\n")[0], tuple(batch_params))
        if e.exports and e.to_onnx is None:
            raise TypeError(f"{cls.__name__}: an entry that exports needs to_onnx")
        for op in e.exports:
            _EXPORT[op] = e
        if e.from_onnx is not None:
            _IMPORT[onnx_op] = e
        _ORDER.append(e)
        return cls
    return decorate


def pattern(nodes: str, layer: str, exported_from: str = "-"):
    """Decorator registering an import pattern ``fn(node, b) -> bool``: tried on each node
    before its entry; it may turn several nodes (``nodes``, e.g. "Reshape + ReduceMax") into
    one ``layer`` (``nn.Maxout``), claiming them, and returns True when it did.
    ``exported_from``: the cnnkit op written as those nodes, for the coverage table."""
    def decorate(fn: Callable) -> Callable:
        _PATTERNS.append((fn, nodes, layer, exported_from, " ".join((fn.__doc__ or "").split("\n\n")[0].split())))
        return fn
    return decorate


def patterns() -> list[Callable]:
    return [p[0] for p in _PATTERNS]


def exporter_for(op_class: type) -> Entry | None:
    """The entry that writes ``op_class`` (looked up along its MRO, so subclasses export too)."""
    for cls in op_class.__mro__:
        if cls in _EXPORT:
            return _EXPORT[cls]
    return None


def importer_for(op_type: str) -> Entry | None:
    return _IMPORT.get(op_type)


def entries() -> Iterator[Entry]:
    return iter(_ORDER)


def coverage() -> list[dict[str, str]]:
    """The operator coverage table as rows: ONNX operator (or a group of nodes read as
    one layer), the cnnkit ops exported as it, what an imported node becomes, a note."""
    rows = []
    for e in _ORDER:
        rows.append({"onnx": e.onnx_op,
                     "export": ", ".join(op.__name__ for op in e.exports) or "-",
                     "import": (e.layer or "graph step") if e.from_onnx else "-",
                     "note": e.note})
    for _, nodes, layer, exported_from, note in _PATTERNS:
        rows.append({"onnx": nodes, "export": exported_from, "import": layer, "note": note})
    return rows


# ----------------------------------------------------- shared conventions
def pads_to_onnx(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """cnnkit's ``((before, after), ...)`` per spatial axis -> ONNX ``[b1, b2, ..., e1, e2, ...]``."""
    return [int(p[0]) for p in pairs] + [int(p[1]) for p in pairs]


def pads_from_onnx(pads: Sequence[int], n: int) -> tuple[tuple[int, int], ...]:
    """ONNX ``[b1, ..., bn, e1, ..., en]`` -> ``((b1, e1), ..., (bn, en))``."""
    if len(pads) != 2 * n:
        raise ValueError(f"pads must have {2 * n} values (begins then ends of {n} axes), got {list(pads)}")
    return tuple((int(pads[i]), int(pads[n + i])) for i in range(n))


def symmetric_or_pairs(pairs: tuple[tuple[int, int], ...]):
    """The padding argument for a cnnkit layer: a tuple of ints when every axis is
    symmetric, else the ``(before, after)`` pairs."""
    if all(lo == hi for lo, hi in pairs):
        return tuple(lo for lo, _ in pairs)
    return pairs
