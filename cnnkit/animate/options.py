"""The operations :mod:`cnnkit.animate` draws, and the checks of their arguments.

Each op name maps to an :class:`OpSpec`: the kind of window it slides (``conv``,
``transposed``, ``max_pool``, ``avg_pool``, or one of the two-stage composites
``separable`` / ``depthwise_separable``) and its number of spatial axes.

The command line's strings (``"5x5"``, ``"same"``, ``"0,1,2,0"``) become the Python
values :func:`cnnkit.animate.frame_data` takes through :func:`parse_size` and
:func:`parse_padding`, so the CLI and a web page accept exactly the same forms.
Errors are ``ValueError``/``TypeError`` naming the argument.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

#: An animation draws every cell: larger grids would not be readable.
MAX_SIZE = 16
MAX_CHANNELS = 4


@dataclass(frozen=True)
class OpSpec:
    name: str
    kind: str  # conv | transposed | max_pool | avg_pool | separable | depthwise_separable
    ndim: int
    default_kernel: int

    @property
    def is_pool(self) -> bool:
        return self.kind in ("max_pool", "avg_pool")

    @property
    def is_composite(self) -> bool:
        return self.kind in ("separable", "depthwise_separable")


OPS: dict[str, OpSpec] = {spec.name: spec for spec in (
    OpSpec("conv1d", "conv", 1, 3),
    OpSpec("conv2d", "conv", 2, 3),
    OpSpec("conv_transpose1d", "transposed", 1, 3),
    OpSpec("conv_transpose2d", "transposed", 2, 3),
    OpSpec("max_pool1d", "max_pool", 1, 2),
    OpSpec("max_pool2d", "max_pool", 2, 2),
    OpSpec("avg_pool1d", "avg_pool", 1, 2),
    OpSpec("avg_pool2d", "avg_pool", 2, 2),
    OpSpec("separable", "separable", 2, 3),
    OpSpec("depthwise-separable", "depthwise_separable", 2, 3),
)}

VIEWS = ("direct", "scatter")


def op_spec(op) -> OpSpec:
    """The :class:`OpSpec` of ``op``; ``ValueError`` listing the names otherwise."""
    if not isinstance(op, str) or op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    return OPS[op]


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def int_tuple(value, n: int, name: str, *, minimum: int, maximum: int | None = None) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (a single-element sequence repeats) as an ``n``-tuple,
    each in ``[minimum, maximum]``."""
    if _is_int(value):
        out = (int(value),) * n
    elif isinstance(value, (tuple, list)) and value and all(_is_int(v) for v in value):
        if len(value) == 1:
            value = tuple(value) * n
        if len(value) != n:
            count = "an int" if n == 1 else f"one int or {n} ints"
            raise ValueError(f"{name} must be {count} for a {n}-D op, got {tuple(value)!r}")
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in out) or (maximum is not None and any(v > maximum for v in out)):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return out


def check_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_channels(value, spec: OpSpec) -> int:
    if not _is_int(value):
        raise TypeError(f"channels must be an int, got {value!r}")
    if not 1 <= value <= MAX_CHANNELS:
        raise ValueError(f"channels must be between 1 and {MAX_CHANNELS} (every channel is drawn), got {value!r}")
    if spec.kind == "separable" and value != 1:
        raise ValueError(f"channels must be 1 for separable (a k x 1 then a 1 x k pass over one image), got {value}")
    return int(value)


def check_view(value, spec: OpSpec) -> str:
    if value not in VIEWS:
        raise ValueError(f"view must be 'direct' or 'scatter', got {value!r}")
    if value == "scatter" and spec.kind != "transposed":
        raise ValueError(f"view='scatter' is for conv_transpose1d / conv_transpose2d, not {spec.name}")
    return value


# ----------------------------------------------------------- CLI strings
def parse_size(text: str, name: str) -> tuple[int, ...]:
    """``"5"`` -> ``(5,)``, ``"5x7"`` -> ``(5, 7)``; ``ValueError`` naming ``name``."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        out = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{name} must be N or NxM (ints), got {text!r}") from None
    if not 1 <= len(out) <= 2:
        raise ValueError(f"{name} must be N or NxM (ints), got {text!r}")
    return out


def parse_padding(text: str, ndim: int):
    """The CLI's ``--padding``: ``"1"``, ``"1x2"`` (per axis, symmetric), ``"same"``,
    ``"valid"``, or explicit ``"left,right"`` (1-D) / ``"top,bottom,left,right"`` (2-D).
    Returns what :func:`frame_data` takes: an int, a tuple, a string or ``(lo, hi)`` pairs."""
    t = str(text).strip().lower()
    if t in ("same", "valid"):
        return t
    if "," in t:
        try:
            values = [int(p) for p in t.split(",")]
        except ValueError:
            raise ValueError(f"padding must be an int, AxB, same, valid or explicit lo,hi pairs, got {text!r}") from None
        if len(values) != 2 * ndim:
            form = "left,right" if ndim == 1 else "top,bottom,left,right"
            raise ValueError(f"padding as explicit pairs for a {ndim}-D op is {form} ({2 * ndim} ints), got {text!r}")
        return tuple((values[2 * a], values[2 * a + 1]) for a in range(ndim))
    try:
        size = parse_size(t, "padding")
    except ValueError:
        raise ValueError(f"padding must be an int, AxB, same, valid or explicit lo,hi pairs, got {text!r}") from None
    return size[0] if len(size) == 1 else size
