"""``summary``: a torchinfo-style table of a model, with receptive fields.

One forward pass of a random input of ``input_shape`` (batch included, like
torchinfo's ``input_size``) runs under :func:`cnnkit.no_grad` in eval mode
(each module's ``training`` flag is restored afterwards); every module call is
recorded (:mod:`cnnkit.analysis.hooks`) and turned into a row.

Counting conventions (per row, whole batch):

* parameters: trainable (``requires_grad``) and not; buffers (running
  statistics) are not parameters, as in torchinfo; a parameter shared by two
  layers is counted once in the totals;
* multiply-adds (MACs) — the multiplications that meet an accumulation, bias
  additions not included:

  - convolution: ``output elements * (C_in / groups) * prod(kernel)``;
  - transposed convolution: ``input elements * (C_out / groups) * prod(kernel)``
    (each input value is multiplied by every kernel tap once);
  - ``Linear``: ``output elements * in_features``;
  - normalisation layers (batch, layer norm): one per output element (the
    affine ``x * a + b`` left after folding the statistics, eval mode);
  - pooling, activations, dropout, embedding lookups, reshapes: 0.

  Deliberate differences from torchinfo 1.8: torchinfo adds the bias to conv and
  linear layers (``+ N * C_out * prod(out spatial)`` resp. ``+ N * out_features``),
  counts a transposed convolution as if every *output* saw the whole kernel
  (``N * prod(out spatial) * weight.size``), counts batch norm as ``N * 2C`` and
  an embedding as ``N * its parameter count``;
* memory: input bytes, activation bytes (the outputs of every leaf layer of the
  forward pass, as stored; torchinfo reports twice that, "forward/backward"),
  parameter bytes and buffer bytes;
* receptive field: per spatial axis of the input, size / jump / start
  (:mod:`cnnkit.analysis.receptive_field`), followed through the forward pass
  by tensor identity (and, for tensors made by functional ops inside a
  ``forward``, by the most recent layer output of the same shape, or whose axis
  sizes match one to one).
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator, Sequence

import numpy as np

from ..autograd import Tensor
from ..nn.module import Module
from .hooks import Call, first_array, run_recorded, shape_of
from .receptive_field import AxisField, Flat, field_entries, input_entries, is_transposed, propagate

__all__ = ["summary", "Summary", "LayerRow", "LayerField", "receptive_field", "layer_macs"]


# ---------------------------------------------------------------- counting
def layer_macs(module: Module, in_shape: Sequence[int] | None, out_shape: Sequence[int] | None) -> int:
    """Multiply-adds of one call of a leaf layer (see the module docstring for the rules)."""
    if in_shape is None or out_shape is None:
        return 0
    weight = module._parameters.get("weight") if hasattr(module, "_parameters") else None
    name = type(module).__name__
    if weight is not None and hasattr(module, "kernel_size") and weight.ndim >= 3:
        per_unit = int(weight.shape[1]) * math.prod(weight.shape[2:])
        return math.prod(in_shape if is_transposed(module) else out_shape) * per_unit
    if weight is not None and hasattr(module, "in_features"):
        return math.prod(out_shape) * int(module.in_features)
    if "Norm" in name:
        return math.prod(out_shape)
    return 0


def _param_counts(module: Module) -> tuple[int, int]:
    total = trainable = 0
    for p in module.parameters():
        total += p.size
        trainable += p.size if p.requires_grad else 0
    return total, trainable


# -------------------------------------------------------------------- rows
@dataclass
class LayerRow:
    """One module call.

    ``params`` counts the module's parameters, children included; ``macs`` is
    the layer's own count for a leaf and the sum of the leaf calls below it for
    a container. ``field`` holds the receptive field of the output's units:
    one :class:`AxisField` (or :class:`Flat`) per input axis that still has
    one, ``()`` when no axis carries a field, ``None`` when it is unknown.
    """

    name: str
    type: str
    depth: int
    is_leaf: bool
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params: int
    trainable_params: int
    macs: int
    output_bytes: int
    field: tuple[AxisField | Flat, ...] | None
    collapsed: bool = False

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type})" if self.name else self.type

    @property
    def rf_size(self) -> tuple[Fraction, ...] | None:
        """Receptive-field size per input axis (``None`` when unknown or flattened)."""
        if not self.field or any(isinstance(e, Flat) for e in self.field):
            return None
        return tuple(e.size for e in self.field)


@dataclass
class LayerField:
    """The receptive field of one leaf layer's output (see :func:`receptive_field`)."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    field: tuple[AxisField | Flat, ...] | None


@dataclass
class Summary:
    """The result of :func:`summary`: ``rows`` (visible module calls) and totals; ``str()``
    renders the table. Iterating yields the rows; ``summary["features.0"]`` finds one."""

    rows: list[LayerRow]
    input_shape: tuple[int, ...]
    dtype: np.dtype
    total_params: int
    trainable_params: int
    total_macs: int
    input_bytes: int
    activation_bytes: int
    param_bytes: int
    buffer_bytes: int
    leaf_rows: list[LayerRow]

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(f"no layer named {key!r}; layers: {[r.name for r in self.rows]}")
        return self.rows[key]

    def __str__(self) -> str:
        return render(self)

    def _repr_html_(self) -> str:
        """The table inline in Jupyter: the text table, escaped, in a ``<pre>`` block."""
        return f"<pre>{html.escape(render(self))}</pre>"


# --------------------------------------------------------- field tracking
def _lookup(arr, known: dict[int, Any], history: list[tuple[Any, Any]]):
    """The field entries of ``arr``: by identity, else a recent layer output of the same
    shape (a functional op such as ``F.relu`` in a ``forward``), else the most recent
    output whose tracked axes match ``arr``'s axes by size, one to one (a permute).
    What the fallbacks find is remembered for ``arr``, so a tensor fed to several
    layers is resolved once."""
    if arr is None:
        return None
    if id(arr) in known:
        return known[id(arr)]
    found = _match(tuple(arr.shape), history)
    known[id(arr)] = found
    history.append((arr, found))
    return found


def _match(shape: tuple[int, ...], history: list[tuple[Any, Any]]):
    for t, entries in reversed(history):
        if tuple(t.shape) == shape:
            return entries
    for t, entries in reversed(history):
        if not entries or all(e is None for e in entries) or len(t.shape) < 2 or t.shape[0] != shape[0]:
            continue
        out: list = [None] * len(shape)
        for axis, e in enumerate(entries):
            if e is None:
                continue
            matches = [b for b in range(1, len(shape)) if shape[b] == t.shape[axis]]
            if len(matches) != 1 or out[matches[0]] is not None:
                break
            out[matches[0]] = e
        else:
            return tuple(out)
    return None


def _trace_fields(calls: list[Call], x, integer_input: bool) -> dict[int, tuple | None]:
    """Output entries per call index, walking the calls in completion order."""
    known: dict[int, Any] = {id(x): input_entries(x.shape, integer_input)}
    history: list[tuple[Any, Any]] = [(x, known[id(x)])]
    result: dict[int, tuple | None] = {}
    for index in sorted(range(len(calls)), key=lambda i: calls[i].order):
        call = calls[index]
        inp, out = first_array(call.args), first_array(call.output)
        if out is None:
            result[index] = None
            continue
        if call.is_leaf:
            entries = propagate(call.module, _lookup(inp, known, history), tuple(inp.shape) if inp is not None else (),
                                tuple(out.shape))
        else:
            entries = _lookup(out, known, history)
        result[index] = entries
        known[id(out)] = entries
        history.append((out, entries))
    return result


# ------------------------------------------------------------------ summary
def _make_input(input_shape, dtype, seed: int) -> Tensor:
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in input_shape):
        raise ValueError(f"summary: input_shape must be a non-empty tuple of positive ints "
                         f"(batch included, e.g. (1, 1, 32, 32)), got {input_shape!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"summary: dtype must be a NumPy dtype such as float32 or int64, got {dtype!r}") from exc
    if np.issubdtype(dtype, np.floating):
        data = np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(dtype)
    elif np.issubdtype(dtype, np.integer):
        data = np.zeros(tuple(input_shape), dtype=dtype)  # index 0 is valid for any Embedding
    else:
        raise TypeError(f"summary: dtype must be a floating or integer dtype, got {dtype}")
    return Tensor(data)


def _subtree_macs(calls: list[Call], macs: dict[int, int], index: int) -> int:
    call = calls[index]
    if call.is_leaf:
        return macs[index]
    return sum(_subtree_macs(calls, macs, c) for c in call.children)


def summary(model: Module, input_shape: Sequence[int] | None = None, dtype=np.float32, depth: int = 3, *,
            input_data=None, seed: int = 0) -> Summary:
    """Summarise ``model`` for an input of ``input_shape`` (batch included), as torchinfo.

    Returns a :class:`Summary`: rows with dotted names (``"features.0"``), input
    and output shapes, parameters (trainable / non-trainable), multiply-adds and
    the receptive field per spatial axis (size, jump, start); totals of
    parameters, MACs and memory. ``str(summary(...))`` is the table. Rows deeper
    than ``depth`` are folded into their container (the totals do not change).
    ``dtype`` is the input's (integer for token indices); ``input_data`` (an
    array or Tensor) replaces the random input.

    >>> from cnnkit import nn
    >>> s = summary(nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.Conv2d(1, 1, 3, bias=False)), (1, 1, 9, 9))
    >>> s.total_params, s["1"].rf_size                # two 3x3 see what one 5x5 sees, with 18 weights
    (18, (Fraction(5, 1), Fraction(5, 1)))
    """
    if not isinstance(depth, (int, np.integer)) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"summary: depth must be a non-negative int, got {depth!r}")
    if input_data is not None:
        x = input_data if isinstance(input_data, Tensor) else Tensor(np.asarray(input_data))
        input_shape = tuple(x.shape)
    else:
        x = _make_input(input_shape, dtype, seed)
    calls = run_recorded(model, x, "summary")
    fields = _trace_fields(calls, x, np.issubdtype(x.dtype, np.integer))

    macs: dict[int, int] = {}
    for i, call in enumerate(calls):
        macs[i] = layer_macs(call.module, shape_of(call.args), shape_of(call.output)) if call.is_leaf else 0

    all_rows: list[LayerRow] = []
    for i, call in enumerate(calls):
        out = first_array(call.output)
        params, trainable = _param_counts(call.module)
        entries = fields.get(i)
        all_rows.append(LayerRow(
            name=call.name, type=call.type_name, depth=call.depth, is_leaf=call.is_leaf,
            input_shape=shape_of(call.args), output_shape=shape_of(call.output),
            params=params, trainable_params=trainable, macs=_subtree_macs(calls, macs, i),
            output_bytes=int(np.asarray(out).nbytes) if out is not None else 0,
            field=None if entries is None else field_entries(entries),
            collapsed=(not call.is_leaf and call.depth == depth)))
    rows = [r for r in all_rows if r.depth <= depth]
    leaf_rows = [r for r in all_rows if r.is_leaf]

    unique = list(model.parameters())
    return Summary(
        rows=rows, input_shape=tuple(int(n) for n in input_shape), dtype=np.dtype(x.dtype),
        total_params=sum(p.size for p in unique),
        trainable_params=sum(p.size for p in unique if p.requires_grad),
        total_macs=sum(r.macs for r in leaf_rows),
        input_bytes=int(x.data.nbytes),
        activation_bytes=sum(r.output_bytes for r in leaf_rows),
        param_bytes=sum(p.data.nbytes for p in unique),
        buffer_bytes=sum(int(np.asarray(b).nbytes) for b in model.buffers()),
        leaf_rows=leaf_rows,
    )


def receptive_field(model: Module, input_shape: Sequence[int], dtype=np.float32) -> list[LayerField]:
    """The receptive field of every leaf layer's output, in forward order.

    >>> from cnnkit import nn
    >>> [tuple(int(a.size) for a in lf.field) for lf in receptive_field(nn.Conv2d(1, 1, 3, dilation=2), (1, 1, 9, 9))]
    [(5, 5)]
    """
    s = summary(model, input_shape, dtype, depth=10 ** 6)
    return [LayerField(r.name, r.type, r.output_shape, r.field) for r in s.leaf_rows]


# ---------------------------------------------------------------- rendering
def _frac(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{float(f):.4g}"


def describe_field(field: tuple[AxisField | Flat, ...] | None) -> tuple[str, str, str]:
    """``(size, jump, start)`` as table text: ``"5x5"``, ``"1x1"``, ``"2, 2"``."""
    if field is None:
        return "?", "?", "?"
    if not field:
        return "-", "-", "-"
    flat = [f for e in field for f in (e.fields if isinstance(e, Flat) else (e,))]
    if all(f.is_global for f in flat):
        return "global " + "x".join(str(f.input_size) for f in flat), "-", "-"
    mark = "*" if any(f.phased for f in flat) else ""
    size = "x".join("all" if f.is_global else _frac(f.size) for f in flat) + mark
    if not all(f.is_global or f.n_read == f.size for f in flat):  # holes, or phases
        size += " (" + "x".join(str(f.n_read) for f in flat) + " read)"
    if any(isinstance(e, Flat) for e in field):
        return size + " flat", "-", "-"
    jump = "x".join("-" if f.is_global else _frac(f.jump) for f in flat)
    start = ", ".join("-" if f.is_global else _frac(f.start) for f in flat)
    return size, jump, start


def _shape(s) -> str:
    return "--" if s is None else str(list(s))


def _tree_labels(rows: list[LayerRow]) -> list[str]:
    labels = []
    for i, row in enumerate(rows):
        if row.depth == 0:
            labels.append(row.label)
            continue
        parts = []
        for level in range(1, row.depth + 1):
            # is there a later row at this level before the tree climbs above it?
            later = False
            for nxt in rows[i + 1:]:
                if nxt.depth < level:
                    break
                if nxt.depth == level:
                    later = True
                    break
            if level < row.depth:
                parts.append("│  " if later else "   ")
            else:
                parts.append("├─" if later else "└─")
        labels.append("".join(parts) + row.label)
    return labels


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 10_000 else f"{n / 1e3:.2f} kB"


def render(s: Summary) -> str:
    """The table: header, one line per row, totals."""
    header = ["Layer (type)", "Input shape", "Output shape", "Param #", "Mult-adds",
              "RF size", "RF jump", "RF start"]
    right = {3, 4}
    body = []
    for label, row in zip(_tree_labels(s.rows), s.rows):
        own = row.is_leaf or row.collapsed
        params = f"{row.params:,}" if own and row.params else "--"
        if own and row.params and row.non_trainable_params:
            params += " (frozen)" if row.trainable_params == 0 else f" ({row.non_trainable_params:,} frozen)"
        macs = f"{row.macs:,}" if own and row.macs else "--"
        body.append([label, _shape(row.input_shape), _shape(row.output_shape), params, macs,
                     *describe_field(row.field)])
    widths = [max(len(line[c]) for line in [header] + body) for c in range(len(header))]

    def fmt(cells):
        return "  ".join(c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [rule, fmt(header), rule] + [fmt(b) for b in body] + [rule]
    lines += [
        f"Total params: {s.total_params:,}",
        f"Trainable params: {s.trainable_params:,}",
        f"Non-trainable params: {s.non_trainable_params:,}",
        f"Total mult-adds: {s.total_macs:,} ({s.total_macs / 1e6:.2f} M)",
        rule,
        f"Input: {_mb(s.input_bytes)} ({list(s.input_shape)}, {s.dtype})",
        f"Activations (all leaf outputs, forward): {_mb(s.activation_bytes)}",
        f"Params: {_mb(s.param_bytes)}" + (f"; buffers: {_mb(s.buffer_bytes)}" if s.buffer_bytes else ""),
        rule,
        "RF: receptive field per input axis in pixels; jump: pixels between neighbouring units;",
        "start: centre of unit 0's field (pixel i has centre i). 'global': the whole input;",
        "'flat': flattened units keep their own fields; '(AxB read)': holes in the field, a unit reads at most AxB pixels.",
    ]
    if any(r.field is None for r in s.rows):
        lines.append("?: the field could not be followed (a tensor made inside a forward by a functional op "
                     "such as pooling or cat).")
    if any(f.phased for r in s.rows for e in (r.field or ()) for f in (e.fields if isinstance(e, Flat) else (e,))):
        lines.append("*: below a transposed convolution with stride > 1 the field is a hull; "
                     "which pixels inside it a unit reads depends on its index mod the stride.")
    return "\n".join(lines)
