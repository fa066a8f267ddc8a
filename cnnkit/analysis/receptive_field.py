"""Receptive fields: which input pixels one unit of a layer can see, per spatial axis.

Per spatial axis of the *model input* a layer's units are described by three
numbers (Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional
Neural Networks", Distill 2019; torchscan uses the same recursion):

* ``size`` ``r`` — the extent of one unit's field along the axis, in input pixels;
* ``jump`` ``j`` — the distance, in input pixels, between the fields of two
  neighbouring units (the product of the strides so far);
* ``start`` — the centre of unit 0's field, in input pixel coordinates where the
  centre of input pixel ``i`` is ``i`` (so ``start`` can be ``-1`` with padding,
  or ``0.5`` for an even kernel).

Unit ``o``'s field spans ``start + o*j - (r-1)/2 .. start + o*j + (r-1)/2``. The
model input itself is ``r = 1, j = 1, start = 0``.

Layer rules (``k_eff = (k - 1) * d + 1`` is the span of a kernel of size ``k`` and
dilation ``d``; ``p`` is the padding *before* the axis, the only side that moves
``start``; ``s`` the stride):

* convolution and pooling (any padding form, ``ceil_mode`` too — it only adds
  units at the end)::

      r' = r + (k_eff - 1) * j      j' = j * s      start' = start + ((k_eff - 1)/2 - p) * j

* transposed convolution (see :func:`transposed_field`)::

      r' = r + (k_eff - 1) * j / s  j' = j / s      start' = start + (p - (k_eff - 1)/2) * j / s

* pointwise layers (activations, batch norm in eval mode, dropout, maxout over
  channels, softmax over channels): unchanged;
* ``Linear`` on an axis, adaptive pooling, global pooling, ``LayerNorm`` or
  softmax over an axis: the whole input along that axis (``r`` = the input size, reported as
  ``global``). Adaptive pooling with more than one output unit has windows that
  vary per unit; we report the whole input, a bound that is exact for the
  usual ``output_size=1``;
* ``Flatten``: a flattened unit keeps the field of the unit it came from
  (flattening only renumbers), but the units of the merged axis no longer lie on
  a regular grid, so only the sizes are kept (reported as ``flat``).

The extent is not always the set of pixels read. A dilated kernel whose taps lie
further apart than the field below it (``d * j > r``) leaves holes: a 3x3
kernel with dilation 2 on the input spans 5x5 but reads 9 of those pixels (the
study text's ``#-#-#`` picture). Below a transposed convolution with stride ``s > 1``
which inputs reach a unit depends on its index modulo ``s``. So each field also
carries the exact pixel sets: ``phases[q]`` is the set of input pixels unit
``q`` reads, for ``q < period``, and unit ``q + m * period`` reads the same set
shifted by ``m * period * j`` pixels (``period`` is 1 unless a strided
transposed convolution lies below). The sets are propagated exactly (the union
of the sets of the units a kernel's taps read) as if the input continued past
its borders; :meth:`AxisField.pixels` clips them to the input. A unit whose
extent lies inside the input reads exactly those pixels; at the border, zero
padding in an inner layer removes some paths, so a border unit reads a subset.

All numbers are exact :class:`fractions.Fraction` (a transposed convolution
makes ``jump`` fractional). The math lives in pure functions over
:class:`AxisField`; :func:`propagate` maps a layer (read through its
attributes: ``kernel_size``, ``stride``, ``padding``, ``dilation``,
``output_padding``; class names for transposed, adaptive, global, flatten and
linear layers) onto the fields of its input tensor.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field as dc_field, replace
from fractions import Fraction
from typing import Sequence, Union

from .._core.window import as_tuple, resolve_padding, same_pads

__all__ = [
    "AxisField", "Flat", "Entry", "input_field", "conv_field", "transposed_field", "global_field",
    "transposed_max_span", "propagate", "input_entries", "field_entries", "is_transposed",
]


@dataclass(frozen=True)
class AxisField:
    """The receptive field of a layer's units along one spatial axis of the model input.

    ``size``, ``jump``, ``start``: the extent recursion (module docstring).
    ``axis`` is the index of the axis among the model input's spatial axes and
    ``input_size`` its length. ``is_global``: every unit sees the whole axis.
    ``period`` and ``phases``: the exact input pixels of units ``0..period-1``
    (unclipped); other units read shifted copies. ``phased``: ``period > 1``
    (a transposed convolution with stride > 1 lies below).
    """

    size: Fraction
    jump: Fraction
    start: Fraction
    axis: int
    input_size: int
    phases: tuple[frozenset[int], ...] = dc_field(repr=False)
    is_global: bool = False

    @property
    def period(self) -> int:
        return len(self.phases)

    @property
    def phased(self) -> bool:
        return self.period > 1

    def centre(self, index: int) -> Fraction:
        """Centre of unit ``index``'s extent: ``start + index * jump``."""
        if self.is_global:
            return Fraction(self.input_size - 1, 2)
        return self.start + index * self.jump

    def bounds(self, index: int) -> tuple[Fraction, Fraction]:
        """``(lo, hi)``: the extent of unit ``index`` in input pixel coordinates, before clipping."""
        if self.is_global:
            return Fraction(0), Fraction(self.input_size - 1)
        c, half = self.centre(index), (self.size - 1) / 2
        return c - half, c + half

    def unit_pixels(self, index: int) -> frozenset[int]:
        """The input pixels unit ``index`` reads, unclipped (as if the input had no border)."""
        if self.is_global:
            return self.phases[0]
        return _unit_set(self.phases, self.jump, index)

    def pixels(self, index: int) -> list[int]:
        """The input pixels unit ``index`` reads, clipped to the input, in order."""
        return sorted(x for x in self.unit_pixels(index) if 0 <= x < self.input_size)

    @property
    def n_read(self) -> int:
        """The most pixels one unit reads along the axis (``size`` unless there are holes)."""
        return max(len(p) for p in self.phases)

    @property
    def dense(self) -> bool:
        """Every unit reads every pixel of its extent (no holes, no phases)."""
        return self.period == 1 and len(self.phases[0]) == self.size


@dataclass(frozen=True)
class Flat:
    """An axis made by flattening axes that carry fields: each unit keeps the field of
    the unit it came from, so the sizes are known, but not a regular ``jump``/``start``."""

    fields: tuple[AxisField, ...]


#: What a tensor axis carries: a field, a flattened mix of fields, or ``None``
#: (batch, channel and feature axes).
Entry = Union[AxisField, Flat, None]


# ------------------------------------------------------------------ the pure math
def _unit_set(phases: tuple[frozenset[int], ...], jump: Fraction, index: int) -> frozenset[int]:
    period = len(phases)
    shift = period * jump  # pixels between unit q and unit q + period: always an integer
    assert shift.denominator == 1, shift
    m, q = divmod(index, period)
    return frozenset(x + m * int(shift) for x in phases[q])


def input_field(axis: int, input_size: int) -> AxisField:
    """The model input: each pixel sees itself (``r = 1, j = 1, start = 0``)."""
    return AxisField(Fraction(1), Fraction(1), Fraction(0), axis, int(input_size), (frozenset({0}),))


def conv_field(field: AxisField, kernel: int, stride: int = 1, dilation: int = 1, pad_before: int = 0) -> AxisField:
    """After a convolution or pooling window along one axis.

    ``r' = r + (k_eff-1) j``, ``j' = j s``, ``start' = start + ((k_eff-1)/2 - p) j`` with
    ``k_eff = (k-1) d + 1``: output unit ``o`` reads input units
    ``o*s - p + t*d`` for ``t < k``, spanning ``o*s - p .. o*s - p + k_eff - 1``,
    centred on ``o*s - p + (k_eff-1)/2``. Its pixels are the union of theirs.

    >>> f = conv_field(input_field(0, 32), kernel=5)          # LeNet's first 5x5 conv
    >>> (int(f.size), int(f.jump), int(f.start))
    (5, 1, 2)
    >>> f = conv_field(input_field(0, 9), kernel=3, dilation=2)  # a 3x3 with dilation 2 spans 5 pixels ...
    >>> int(f.size), f.pixels(0)                                # ... and reads 3 of them
    (5, [0, 2, 4])
    """
    if field.is_global:
        return field
    k_eff = (kernel - 1) * dilation + 1
    period = field.period // math.gcd(field.period, stride)  # units o and o + period read shifted inputs
    phases = tuple(frozenset().union(*(field.unit_pixels(o * stride - pad_before + t * dilation)
                                       for t in range(kernel)))
                   for o in range(period))
    return replace(field,
                   size=field.size + (k_eff - 1) * field.jump,
                   jump=field.jump * stride,
                   start=field.start + (Fraction(k_eff - 1, 2) - pad_before) * field.jump,
                   phases=phases)


def transposed_field(field: AxisField, kernel: int, stride: int = 1, dilation: int = 1,
                     pad_before: int = 0) -> AxisField:
    """After a transposed convolution along one axis.

    A transposed convolution adds ``x[i] * w[t]`` into output ``o = i*s + t*d - p``.
    So output unit ``o`` receives input unit ``i`` through tap ``t`` exactly when
    ``i*s = o + p - t*d``: the candidates lie in the window
    ``(o + p - (k_eff-1)) / s  <=  i  <=  (o + p) / s`` of the input-unit grid,
    an interval ``(k_eff-1)/s`` units wide centred on ``(o + p - (k_eff-1)/2) / s``.
    In input pixels that gives::

        j' = j / s     start' = start + (p - (k_eff-1)/2) * j / s     r' = r + (k_eff-1) * j / s

    ``r'`` is the *hull*: no input pixel outside it reaches the unit. With
    ``s > 1`` only the candidates with ``(o + p - t*d) % s == 0`` exist, so
    which pixels inside the hull reach a unit depends on its phase
    ``(o + p) % s``: the field gets ``period * s`` phases, each the union of
    the pixels of its real inputs (possibly none: with ``d = s = 2`` every
    other output unit gets no input at all, only the bias). The widest set of
    inputs spans :func:`transposed_max_span` input units, ``ceil(k/s) - 1`` for
    ``d = 1``; ``r'`` may be fractional. With ``s = 1`` it is a plain
    convolution (flipped kernel, padding ``k_eff - 1 - p``).

    >>> f = conv_field(input_field(0, 5), kernel=3, stride=2)  # the study text: 5x5 -> 2x2 ...
    >>> g = transposed_field(f, kernel=3, stride=2)            # ... -> 5x5 again
    >>> (int(g.size), int(g.jump), int(g.start))                # unit o is centred on pixel o
    (5, 1, 0)
    >>> [g.pixels(o) for o in range(5)]                         # unit 2 gets both inputs, the others one
    [[0, 1, 2], [0, 1, 2], [0, 1, 2, 3, 4], [2, 3, 4], [2, 3, 4]]
    """
    if field.is_global:
        return field
    k_eff = (kernel - 1) * dilation + 1
    step = field.jump / stride
    period = field.period * stride
    phases = tuple(frozenset().union(*(field.unit_pixels((o + pad_before - t * dilation) // stride)
                                       for t in range(kernel) if (o + pad_before - t * dilation) % stride == 0))
                   for o in range(period))
    return replace(field,
                   size=field.size + (k_eff - 1) * step,
                   jump=step,
                   start=field.start + (pad_before - Fraction(k_eff - 1, 2)) * step,
                   phases=phases)


def transposed_max_span(kernel: int, stride: int, dilation: int = 1) -> int:
    """The widest distance, in input units, between two inputs that reach one output unit
    of a transposed convolution: the largest ``(t2 - t1) * d / s`` over taps with
    ``(t2 - t1) * d`` divisible by ``s``. With ``g = gcd(s, d)`` and ``q = s / g``
    that is ``floor((k-1) / q) * d / g``; ``floor((k-1)/s)`` for ``d = 1``."""
    g = math.gcd(stride, dilation)
    q = stride // g
    return ((kernel - 1) // q) * (dilation // g)


def global_field(field: AxisField) -> AxisField:
    """Every unit sees the whole axis: ``r`` = the input size, centred on the input."""
    n = field.input_size
    return replace(field, size=Fraction(n), jump=Fraction(n), start=Fraction(n - 1, 2), is_global=True,
                   phases=(frozenset(range(n)),))


# ------------------------------------------------------------ tensors and layers
def input_entries(shape: Sequence[int], integer: bool = False) -> tuple[Entry, ...]:
    """Entries of the model input: ``(N, C, *spatial)`` for floating inputs, ``(N, *spatial)``
    for integer ones (token indices feeding an ``Embedding``)."""
    first = 1 if integer else 2
    return tuple(None if a < first else input_field(a - first, n) for a, n in enumerate(shape))


def field_entries(entries: Sequence[Entry] | None) -> tuple[AxisField | Flat, ...]:
    """The entries that carry a field, in the order of the model-input axes."""
    if entries is None:
        return ()
    found = [e for e in entries if e is not None]
    return tuple(sorted(found, key=lambda e: e.axis if isinstance(e, AxisField) else min(f.axis for f in e.fields)))


def _flat_fields(entries: Sequence[Entry]) -> tuple[AxisField, ...]:
    out: list[AxisField] = []
    for e in entries:
        if isinstance(e, AxisField):
            out.append(e)
        elif isinstance(e, Flat):
            out.extend(e.fields)
    return tuple(sorted(out, key=lambda f: f.axis))


def _globalise(entry: Entry) -> Entry:
    if isinstance(entry, AxisField):
        return global_field(entry)
    if isinstance(entry, Flat):
        return Flat(tuple(global_field(f) for f in entry.fields))
    return None


def _n_spatial(module, kernel, in_ndim: int) -> int:
    if isinstance(kernel, (tuple, list)):
        return len(kernel)
    m = re.search(r"(\d)d$", type(module).__name__)
    return int(m.group(1)) if m else max(in_ndim - 2, 1)


def _window_args(module, in_shape: Sequence[int]):
    kernel_attr = module.kernel_size
    n = _n_spatial(module, kernel_attr, len(in_shape))
    kernel = as_tuple(kernel_attr, n, "kernel_size", minimum=1)
    stride_attr = getattr(module, "stride", None)
    stride = kernel if stride_attr is None or stride_attr == () else as_tuple(stride_attr, n, "stride", minimum=1)
    dilation = as_tuple(getattr(module, "dilation", 1) or 1, n, "dilation", minimum=1)
    padding = getattr(module, "padding", 0)
    return n, kernel, stride, dilation, padding


def is_transposed(module) -> bool:
    return bool(getattr(module, "transposed", False)) or "Transpose" in type(module).__name__


def propagate(module, entries: Sequence[Entry] | None, in_shape: Sequence[int],
              out_shape: Sequence[int]) -> tuple[Entry, ...] | None:
    """The entries of a leaf layer's output, given those of its input (``None``: unknown).

    Recognised by attributes and class names, so layers from other modules work
    as long as they use PyTorch's attribute names.
    """
    if entries is None:
        return None
    entries = tuple(entries)
    name = type(module).__name__
    in_ndim, out_ndim = len(in_shape), len(out_shape)
    if len(entries) != in_ndim:
        return None

    if "Flatten" in name:
        start = getattr(module, "start_dim", 1) % in_ndim
        end = getattr(module, "end_dim", -1) % in_ndim
        merged = entries[start:end + 1]
        flat = _flat_fields(merged)
        middle: tuple[Entry, ...] = (Flat(flat),) if flat else (None,)
        return entries[:start] + middle + entries[end + 1:]

    if "Adaptive" in name or "Global" in name:
        out_size = getattr(module, "output_size", None)
        n = len(out_size) if isinstance(out_size, (tuple, list)) else _n_spatial(module, None, in_ndim)
        n = min(n, in_ndim)
        tail = tuple(_globalise(e) for e in entries[in_ndim - n:])
        if out_ndim == in_ndim:
            return entries[:in_ndim - n] + tail
        flat = _flat_fields(tail)  # global pooling that drops the axes: (N, C)
        head = entries[:out_ndim]
        return head[:-1] + ((Flat(flat) if flat else head[-1]),)

    if hasattr(module, "kernel_size"):
        n, kernel, stride, dilation, padding = _window_args(module, in_shape)
        spatial = tuple(in_shape[-n:])
        if is_transposed(module):
            if isinstance(padding, str) and padding.lower() == "same":
                # Keras Conv2DTranspose (cnnkit.functional.conv_transpose2d): the SAME padding of the
                # forward convolution whose input is in * stride long
                pads = tuple(same_pads(i * s, k, s, d) for i, k, s, d in zip(spatial, kernel, stride, dilation))
            else:
                pads = resolve_padding(padding, spatial, kernel, stride, dilation)
            rule = transposed_field
        else:
            pads = resolve_padding(padding, spatial, kernel, stride, dilation)
            rule = conv_field
        tail = []
        for e, k, s, d, (before, _) in zip(entries[-n:], kernel, stride, dilation, pads):
            if isinstance(e, Flat):
                return None  # a window over a flattened axis has no regular geometry
            tail.append(None if e is None else rule(e, k, s, d, before))
        return entries[:-n] + tuple(tail)

    if hasattr(module, "in_features") and hasattr(module, "out_features") or name == "Linear":
        return entries[:-1] + (_globalise(entries[-1]),) if out_ndim == in_ndim else None

    if hasattr(module, "normalized_shape"):  # LayerNorm: mean and variance over the trailing axes
        n = len(as_tuple(module.normalized_shape, len(module.normalized_shape), "normalized_shape")) \
            if isinstance(module.normalized_shape, (tuple, list)) else 1
        return entries[:in_ndim - n] + tuple(_globalise(e) for e in entries[in_ndim - n:])

    if name == "Maxout" and isinstance(getattr(module, "dim", None), int):  # max over blocks of `pieces`
        axis = module.dim % in_ndim
        e = entries[axis]
        if isinstance(e, AxisField):  # along a spatial axis it is a pooling window of `pieces`
            return entries[:axis] + (conv_field(e, module.pieces, module.pieces),) + entries[axis + 1:]
        return entries if e is None else None

    if name in ("Softmax", "LogSoftmax", "Softmin") and isinstance(getattr(module, "dim", None), int):
        axis = module.dim % in_ndim  # normalises along one axis: every unit of that axis matters
        return entries[:axis] + (_globalise(entries[axis]),) + entries[axis + 1:]

    if hasattr(module, "num_embeddings") and hasattr(module, "embedding_dim"):
        return entries + (None,)

    # anything else is taken as pointwise in space when it keeps the spatial shape
    if out_ndim == in_ndim and tuple(out_shape[2:]) == tuple(in_shape[2:]):
        return entries
    return None
