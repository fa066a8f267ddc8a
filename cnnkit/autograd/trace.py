"""Record the ops a computation runs, at the level of cnnkit's :class:`~cnnkit.autograd.Function` s.

While a :func:`trace` is active (in this thread), every ``Op.apply(...)`` appends one
:class:`OpRecord`: the op object after its forward ran (its class says which op it
is), its positional inputs exactly as passed (tensors, arrays, scalars, ``None``),
its keyword parameters and its output. Tensor methods that are ops (``+``, ``@``,
``reshape``, ``permute``, ...) go through ``apply`` too, so a forward pass written
with :mod:`cnnkit.functional` and tensor methods is recorded completely; code that
bypasses the ops (``Tensor(x.data * 2)``) is not, and shows up as a constant.

    >>> import cnnkit
    >>> from cnnkit.autograd import trace
    >>> x = cnnkit.tensor([[1.0, -2.0]])
    >>> with trace.trace() as records:
    ...     y = (x * 2).relu()
    >>> [r.op.name for r in records]
    ['Mul', 'ReLU']

Recording is per thread and works with or without gradients (``no_grad``). A
trace started inside another one records into its own list only. The records keep
their tensors alive until the list is dropped. ``trace(where=f)`` calls ``f()`` at
each op and keeps the result as ``OpRecord.where`` (the ONNX exporter passes the
dotted path of the module whose ``forward`` is running).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

__all__ = ["OpRecord", "trace", "is_tracing", "record"]

_state = threading.local()


@dataclass
class OpRecord:
    """One op call: ``op`` (the :class:`Function` instance), ``inputs`` (positional,
    as passed to ``apply``), ``params`` (keyword), ``output`` (what ``apply``
    returned: a Tensor, or a tuple of them for ops with several outputs) and
    ``where`` (what the trace's ``where`` callable returned, else ``None``)."""

    op: Any
    inputs: tuple
    params: dict
    output: Any
    where: Any = None

    @property
    def outputs(self) -> tuple:
        """The output(s) as a tuple."""
        return tuple(self.output) if isinstance(self.output, (tuple, list)) else (self.output,)


def is_tracing() -> bool:
    """True inside :func:`trace` (in this thread)."""
    return getattr(_state, "records", None) is not None


def record(op, inputs: tuple, params: dict, output) -> None:
    """Append one op call to the active trace (called by ``Function.apply``)."""
    where = _state.where() if _state.where is not None else None
    _state.records.append(OpRecord(op, tuple(inputs), dict(params), output, where))


@contextlib.contextmanager
def trace(where: Callable[[], Any] | None = None) -> Iterator[list[OpRecord]]:
    """Context manager yielding the list that every op run inside it is appended to."""
    previous = getattr(_state, "records", None), getattr(_state, "where", None)
    records: list[OpRecord] = []
    _state.records, _state.where = records, where
    try:
        yield records
    finally:
        _state.records, _state.where = previous
