"""One validator per kind of argument, used everywhere in cnnkit.

The same mistake raises the same exception type wherever it is made:

* a value of the wrong type (``momentum="abc"``, ``generator=3``, ``dim=1.5``) -> ``TypeError``;
* a value of the right type outside its range (``eps=nan``, ``p=2``, ``stride=0``) -> ``ValueError``;
* a dimension index out of range (``sum(dim=3)`` on a 1-D tensor) -> ``IndexError``, with
  PyTorch's message (``Dimension out of range (expected to be in range of [-1, 0], but got 3)``).

Every message names the function (``owner``), the argument and the value:
``"batch_norm: eps must be a finite non-negative number, got nan"``.
Shape and layout checks stay with the ops (they need the context to say what was expected).
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np

__all__ = ["check_int", "check_number", "check_bool", "check_dim", "check_dims", "check_generator"]


def _name(owner: str | None, name: str) -> str:
    return f"{owner}: {name}" if owner else name


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, owner: str | None = None, *, minimum: int | None = None) -> int:
    """``value`` as an ``int``; ``TypeError`` unless it is an integer (bools are not),
    ``ValueError`` when below ``minimum``."""
    what = ("a positive int" if minimum == 1 else "a non-negative int" if minimum == 0
            else f"an int >= {minimum}" if minimum is not None else "an int")
    if not _is_int(value):
        raise TypeError(f"{_name(owner, name)} must be {what}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{_name(owner, name)} must be {what}, got {value!r}")
    return int(value)


def check_number(value, name: str, owner: str | None = None, *, minimum: float | None = None,
                 maximum: float | None = None, positive: bool = False, finite: bool = True) -> float:
    """``value`` as a ``float``; ``TypeError`` unless it is a real number (bools are
    not), ``ValueError`` for NaN, for an infinity when ``finite``, and outside
    ``[minimum, maximum]`` (``positive``: strictly above 0)."""
    if positive:
        what = "a positive number"
    elif minimum is not None and maximum is not None:
        what = f"a number in [{minimum:g}, {maximum:g}]"
    elif minimum == 0:
        what = "a non-negative number"
    elif minimum is not None:
        what = f"a number >= {minimum:g}"
    elif maximum is not None:
        what = f"a number <= {maximum:g}"
    else:
        what = "a number"
    if finite:
        what = what.replace("a ", "a finite ", 1)
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_name(owner, name)} must be {what}, got {value!r}")
    v = float(value)
    if (math.isnan(v) or (finite and math.isinf(v)) or (positive and not v > 0)
            or (minimum is not None and v < minimum) or (maximum is not None and v > maximum)):
        raise ValueError(f"{_name(owner, name)} must be {what}, got {value!r}")
    return v


def check_bool(value, name: str, owner: str | None = None) -> bool:
    """``value`` as a ``bool``; ``TypeError`` for anything but ``bool`` / ``np.bool_``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_name(owner, name)} must be a bool, got {value!r}")
    return bool(value)


def check_dim(dim, ndim: int, name: str = "dim", owner: str | None = None, *, extra: int = 0) -> int:
    """A dimension index for a tensor of ``ndim`` dimensions as a non-negative int.

    As PyTorch: negative values count from the end, a 0-d tensor accepts ``-1`` and
    ``0``, and ``extra=1`` allows one position past the end (``unsqueeze``, ``stack``).
    ``TypeError`` for a non-int, ``IndexError`` (PyTorch's message) out of range.
    """
    if not _is_int(dim):
        raise TypeError(f"{_name(owner, name)} must be an int, got {dim!r}")
    n = max(ndim + extra, 1)
    if not -n <= dim < n:
        prefix = f"{owner}: " if owner else ""
        raise IndexError(f"{prefix}Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return int(dim) % n


def check_dims(dims, ndim: int, name: str = "dim", owner: str | None = None) -> tuple[int, ...]:
    """Reduction dimensions (``None``, an int or a sequence of ints) as a sorted tuple of
    distinct non-negative ints; ``None`` and ``()`` mean every dimension (PyTorch's ``dim=()``)."""
    if dims is None or (isinstance(dims, (tuple, list)) and len(dims) == 0):
        return tuple(range(ndim))
    seq: Iterable = dims if isinstance(dims, (tuple, list)) else (dims,)
    out = [check_dim(d, ndim, name, owner) for d in seq]
    for i, d in enumerate(out):
        if d in out[:i]:
            raise ValueError(f"{_name(owner, name)}: dim {d} appears multiple times in the list of dims {tuple(seq)}")
    if ndim == 0:
        return ()
    return tuple(sorted(out))


def check_generator(value, name: str = "generator", owner: str | None = None, *,
                    allow_seed: bool = False) -> np.random.Generator | None:
    """``None`` or a ``numpy.random.Generator`` (and, with ``allow_seed``, an int seed,
    turned into ``default_rng(seed)``); ``TypeError`` otherwise."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if allow_seed and _is_int(value):
        return np.random.default_rng(int(value))
    what = "a numpy.random.Generator, an int seed or None" if allow_seed else "a numpy.random.Generator or None"
    raise TypeError(f"{_name(owner, name)} must be {what}, got {value!r}")
