"""``export(model, path, example_input)``: trace a module at the level of cnnkit's ops
and write the ONNX model.

How it works:

1. The model runs in eval mode under ``no_grad`` on the example input while
   :func:`cnnkit.autograd.trace.trace` records every op and
   :func:`cnnkit.analysis.hooks.record_calls` says which module's ``forward`` ran it.
   Any :class:`~cnnkit.nn.Module` works, also custom ones that call
   :mod:`cnnkit.functional` or tensor methods.
2. It runs a second time on an input with one more sample (``dynamic_batch``) or
   with the samples rolled (fixed batch), floats negated. Both traces must run the same ops on the
   same parameters and constants: a difference means that the forward depends on
   the batch size or on the input's values in a way ONNX cannot express
   (Python control flow on values, arrays computed outside cnnkit's ops), and is
   an :class:`ExportError` naming the op and the module. Dimensions that change
   between the two traces are the symbolic batch dimension ``N``.
3. Each recorded op becomes ONNX node(s) through :mod:`cnnkit.onnx.table`.
   Parameters and buffers become initializers named by their ``state_dict`` keys;
   other constants are named after the node that reads them. Every traced tensor
   gets a ``value_info`` with its shape (``N`` for the batch), so viewers such as
   Netron show the shapes between layers.
4. ``onnx.shape_inference`` (strict) and ``onnx.checker.check_model(full_check=True)``
   must accept the model before it is written (atomically).

Ops that cannot be exported (losses, dropout in training mode, batch norm
without running statistics, the indices of max pooling) raise :class:`ExportError`
naming the op and the module path.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__
from ..analysis.hooks import record_calls
from ..autograd import Tensor, no_grad, trace
from ..io.atomic import atomic_write
from ..nn.module import Module
from . import ops_nn, ops_tensor  # noqa: F401  (fill the table)
from .table import ExportError, exporter_for, onnx

helper, numpy_helper = onnx.helper, onnx.numpy_helper

__all__ = ["export", "DEFAULT_OPSET", "MIN_OPSET", "ExportError"]

#: The newest opset that both the installed ``onnx`` (1.23: 28) and ``onnxruntime``
#: (1.32: "official support for domain ai.onnx is till opset 28") support.
DEFAULT_OPSET = 28
#: The oldest opset the exporter writes (reductions take their axes as an input from 18 on).
MIN_OPSET = 18
BATCH = "N"
#: Model ``metadata_props`` key: JSON with the initializers that are the model's parameters ("parameters",
#: "frozen": requires_grad=False) and buffers, so that :func:`cnnkit.onnx.load` makes them the same again.
STATE_KEY = "cnnkit.state"


# ------------------------------------------------------------------- tracing
@dataclass
class _Trace:
    x: Tensor
    records: list
    output: Any


def _innermost(calls) -> Any:
    """The innermost module call still running (calls are listed by start; open ones have ``order < 0``)."""
    for call in reversed(calls):
        if call.order < 0:
            return call
    return None


def _run(model: Module, x: np.ndarray) -> _Trace:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    xt = Tensor(x)
    try:
        with no_grad(), record_calls(model) as calls, trace.trace(where=lambda: _innermost(calls)) as records:
            out = model(xt)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"export: the forward pass on an input of shape {x.shape} failed: {exc}") from exc
    finally:
        for m, flag in flags:
            object.__setattr__(m, "training", flag)
    return _Trace(xt, records, out)


def _where(rec) -> str:
    call = rec.where
    if call is None or not call.name:
        return "<model>" if call is None else f"<model> ({call.type_name})"
    return f"'{call.name}' ({call.type_name})"


# ------------------------------------------------------------ comparisons
def _key(value, ids: dict[int, Any]):
    """What a positional input or a parameter is: a traced value, a state entry, or a constant."""
    if isinstance(value, Tensor):
        if id(value) in ids:
            return ids[id(value)]
        value = value.data
    if isinstance(value, np.ndarray):
        if id(value) in ids:
            return ids[id(value)]
        return ("const", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, tuple):
        return tuple(_key(v, ids) for v in value)
    if isinstance(value, np.generic):
        return ("const", value.dtype.str, (), value.tobytes())
    return ("py", repr(value))


def _ids(t: _Trace, state: dict[int, str]) -> dict[int, Any]:
    ids: dict[int, Any] = {id(t.x): ("input",), id(t.x.data): ("input",)}
    ids.update({k: ("state", v) for k, v in state.items()})
    for i, rec in enumerate(t.records):
        for j, out in enumerate(rec.outputs):
            if isinstance(out, Tensor):
                ids[id(out)] = ids[id(out.data)] = ("op", i, j)
    return ids


class _Comparison:
    """Trace 2 must run the same ops as trace 1 on the same values, parameters and constants."""

    def __init__(self, t1: _Trace, t2: _Trace, state: dict[int, str], dynamic: bool):
        self.t1, self.t2 = t1, t2
        self.what = (f"a batch of {t1.x.shape[0]} and one of {t2.x.shape[0]}" if dynamic
                     else "two inputs of the same shape with different values")
        self.hint = "; export with dynamic_batch=False if only the batch size matters" if dynamic else ""
        self.ids1, self.ids2 = _ids(t1, state), _ids(t2, state)

    def same_ops(self, k: int) -> None:
        """Op ``k`` is the same op in both traces (and, at the end, both have as many)."""
        r1, r2 = self.t1.records, self.t2.records
        if k < len(r1) and k < len(r2) and type(r1[k].op) is type(r2[k].op):
            return
        where = f", {r1[k].op.name} in module {_where(r1[k])}" if k < len(r1) else ""
        raise ExportError(f"export: the forward pass runs different ops for {self.what} (from op {k} on{where}): "
                          "Python control flow that depends on the input cannot be written as ONNX" + self.hint)

    def same_inputs(self, k: int) -> None:
        a, b = self.t1.records[k], self.t2.records[k]
        entry = exporter_for(type(a.op))
        skip = entry.batch_params if entry is not None else ()
        slots = [(f"input {i}", x, y) for i, (x, y) in enumerate(zip(a.inputs, b.inputs))]
        slots += [(f"parameter {n!r}", a.params[n], b.params.get(n)) for n in a.params if n not in skip]
        for label, x, y in slots:
            kx, ky = _key(x, self.ids1), _key(y, self.ids2)
            if kx != ky:
                consts = isinstance(kx, tuple) and kx[:1] == ("const",)
                why = ("it is a constant computed outside cnnkit's ops (e.g. from .data, .item() or NumPy) "
                       "and would be frozen into the file" if consts else "the graph differs")
                raise ExportError(f"export: {label} of {a.op.name} in module {_where(a)} differs between "
                                  f"{self.what}: {why}{self.hint}")


def _sym_shape(s1: tuple[int, ...], s2: tuple[int, ...] | None, n1: int, n2: int | None) -> tuple:
    """Trace 1's shape with the dimensions that change with the batch made symbolic."""
    if s2 is None:
        return tuple(s1)
    out = []
    for d1, d2 in zip(s1, s2):
        if d1 == d2:
            out.append(int(d1))
        elif (d1, d2) == (n1, n2):
            out.append(BATCH)
        else:
            out.append(None)  # depends on the batch, not equal to it: an unnamed dimension
    return tuple(out)


# ------------------------------------------------------------------ writer
class _Writer:
    """Builds the graph from trace 1 (trace 2 gives the dynamic dimensions)."""

    def __init__(self, model: Module, t1: _Trace, t2: _Trace | None, opset: int, dynamic: bool):
        self.t1, self.t2, self.opset, self.dynamic = t1, t2, opset, dynamic
        self.comparison = None
        self.nodes: list = []
        self.inits: dict[str, Any] = {}
        self.value_info: dict[str, Any] = {}
        self.names: dict[int, str] = {}
        self.state: dict[int, tuple[str, np.ndarray]] = {}
        self.forbidden: dict[int, str] = {}
        self.taken: set[str] = set()
        for key, p in model.named_parameters():
            self.state.setdefault(id(p), (key, p.data))
            self.state.setdefault(id(p.data), (key, p.data))
        for key, b in model.named_buffers():
            self.state.setdefault(id(b), (key, b))
        if t2 is not None:
            self.comparison = _Comparison(t1, t2, {i: key for i, (key, _) in self.state.items()}, dynamic)
        self.n1 = int(t1.x.shape[0]) if t1.x.ndim else 1
        self.n2 = int(t2.x.shape[0]) if (t2 is not None and dynamic) else None

    # names
    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def sym(self, s1, s2) -> tuple:
        return _sym_shape(tuple(s1), None if (s2 is None or not self.dynamic) else tuple(s2), self.n1, self.n2)

    def add_value_info(self, name: str, dtype, shape) -> None:
        self.value_info[name] = (np.dtype(dtype), shape)

    def build(self, input_name: str = "input", output_name: str = "output"):
        t1, t2 = self.t1, self.t2
        x = t1.x
        self.taken.update({input_name, output_name})
        self.names[id(x)] = self.names[id(x.data)] = input_name
        in_shape = self.sym(x.shape, t2.x.shape if t2 is not None else None)
        for i, rec in enumerate(t1.records):
            if self.comparison is not None:
                self.comparison.same_ops(i)
            self._export_op(rec, t2.records[i] if t2 is not None else None)  # its own errors first: more specific
            if self.comparison is not None:
                self.comparison.same_inputs(i)
        if self.comparison is not None and len(t2.records) != len(t1.records):
            self.comparison.same_ops(len(t1.records))
        out = t1.output
        if isinstance(out, (tuple, list)):
            raise ExportError(f"export: the model returns {len(out)} values; ONNX export supports one output tensor")
        if not isinstance(out, Tensor) or id(out) not in self.names:
            raise ExportError("export: the model's output was not computed by cnnkit ops from the input "
                              f"(got {type(out).__name__}); nothing to export")
        final = self.names[id(out)]
        produced = {o for n in self.nodes for o in n.output}
        if final in produced:
            self._rename(final, output_name)
        else:  # the input itself or a parameter
            self.nodes.append(helper.make_node("Identity", [final], [output_name], name=self.unique("/Identity")))
        out_shape = self.sym(out.shape, t2.output.shape if t2 is not None else None)
        self.value_info.pop(output_name, None)
        graph = helper.make_graph(
            self.nodes, "cnnkit",
            [helper.make_tensor_value_info(input_name, helper.np_dtype_to_tensor_dtype(x.dtype), in_shape)],
            [helper.make_tensor_value_info(output_name, helper.np_dtype_to_tensor_dtype(out.dtype), out_shape)],
            initializer=list(self.inits.values()),
            value_info=[helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(d), s)
                        for n, (d, s) in self.value_info.items() if n != input_name])
        return graph

    def _rename(self, old: str, new: str) -> None:
        for node in self.nodes:
            for seq in (node.input, node.output):
                for k, v in enumerate(seq):
                    if v == old:
                        seq[k] = new
        if old in self.value_info:
            self.value_info[new] = self.value_info.pop(old)

    def _export_op(self, rec, rec2) -> None:
        entry = exporter_for(type(rec.op))
        if entry is None:
            raise ExportError(f"export: op {rec.op.name} in module {_where(rec)} has no ONNX export "
                              f"(see cnnkit.onnx.coverage() for the ops that have one)")
        ctx = ExportContext(self, rec, rec2)
        result = entry.to_onnx(rec, ctx)
        names = list(result) if isinstance(result, (tuple, list)) else [result]
        for j, out in enumerate(rec.outputs):
            if not isinstance(out, Tensor):
                continue
            if j >= len(names):
                self.forbidden[id(out)] = self.forbidden[id(out.data)] = \
                    f"output {j} of {rec.op.name} in module {_where(rec)}"
                continue
            self.names[id(out)] = self.names[id(out.data)] = names[j]
            out2 = rec2.outputs[j] if rec2 is not None else None
            if names[j] not in self.value_info and names[j] not in self.inits:
                self.add_value_info(names[j], out.dtype, self.sym(out.shape, out2.shape if out2 is not None else None))


class ExportContext:
    """What a table entry's ``to_onnx(rec, ctx)`` uses to add nodes for one recorded op."""

    def __init__(self, writer: _Writer, rec, rec2):
        self.w, self.rec, self.rec2 = writer, rec, rec2
        self.opset = writer.opset
        call = rec.where
        self.scope = f"/{call.name}" if call is not None and call.name else ""

    # ------------------------------------------------------------ errors
    def fail(self, message: str) -> ExportError:
        """An :class:`ExportError` naming this op and its module (``raise ctx.fail(...)``)."""
        return ExportError(f"export: {self.rec.op.name} in module {_where(self.rec)}: {message}")

    def need_opset(self, minimum: int, what: str) -> None:
        if self.opset < minimum:
            raise self.fail(f"{what} needs opset {minimum} or newer, exporting opset {self.opset}")

    # ------------------------------------------------------------ shapes
    def shape(self, value) -> tuple[int, ...]:
        """Trace 1's concrete shape of an input (a positional index or the value itself)."""
        v = self.rec.inputs[value] if isinstance(value, int) else value
        return tuple(np.shape(v.data if isinstance(v, Tensor) else v))

    @property
    def out(self) -> Tensor:
        return self.rec.outputs[0]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(self.out.shape)

    def dynamic_axes(self, value=None) -> set[int]:
        """Axes of the output (or of positional input ``value``) that change with the batch."""
        if self.rec2 is None or not self.w.dynamic:
            return set()
        if value is None:
            a, b = self.out.shape, self.rec2.outputs[0].shape
        else:
            a, b = self.shape(value), tuple(np.shape(getattr(self.rec2.inputs[value], "data", self.rec2.inputs[value])))
        return {k for k, (p, q) in enumerate(zip(a, b)) if p != q}

    # ------------------------------------------------------------ values
    def value_dtype(self, value) -> np.dtype:
        v = self.rec.inputs[value] if isinstance(value, int) else value
        return np.asarray(v.data if isinstance(v, Tensor) else v).dtype

    def is_const(self, value) -> bool:
        """True when an input is not computed from the graph input (a parameter, buffer or constant)."""
        v = self.rec.inputs[value] if isinstance(value, int) else value
        if v is None:
            return True
        ids = (id(v), id(v.data)) if isinstance(v, Tensor) else (id(v),)
        return not any(i in self.w.names for i in ids)

    def inp(self, value, dtype=None, hint: str | None = None) -> str:
        """The ONNX name of an input (positional index or the value): a traced tensor,
        an initializer named by its state_dict key, or a new constant; ``""`` for ``None``.
        ``dtype`` casts constants (and adds a ``Cast`` node for traced values)."""
        v = self.rec.inputs[value] if isinstance(value, int) else value
        if hint is None:
            hint = f"{self.rec.op.name}_input_{value}" if isinstance(value, int) else f"{self.rec.op.name}_const"
        if v is None:
            return ""
        w = self.w
        ids = (id(v), id(v.data)) if isinstance(v, Tensor) else (id(v),)
        for i in ids:
            if i in w.forbidden:
                raise self.fail(f"reads {w.forbidden[i]}, which cannot be exported")
        for i in ids:
            if i in w.names:
                name = w.names[i]
                src = np.dtype(v.dtype) if isinstance(v, Tensor) else np.asarray(v).dtype
                if dtype is not None and np.dtype(dtype) != src:
                    return self.node("Cast", [name], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))
                return name
        for i in ids:
            if i in w.state:
                key, arr = w.state[i]
                if dtype is not None and np.dtype(dtype) != arr.dtype:
                    return self.const(arr.astype(dtype), f"{key}:{np.dtype(dtype)}")
                if key not in w.inits:
                    w.inits[key] = numpy_helper.from_array(_contiguous(arr), key)
                    w.taken.add(key)
                return key
        arr = v.data if isinstance(v, Tensor) else v
        if not isinstance(arr, np.ndarray):
            arr = np.asarray(arr, dtype=dtype if dtype is not None else self._scalar_dtype(arr))
        return self.const(arr if dtype is None else arr.astype(dtype), hint)

    def _scalar_dtype(self, value):
        if isinstance(value, (bool, np.bool_)):
            return np.bool_
        if isinstance(value, (int, np.integer)):
            return np.int64
        out = np.dtype(self.out.dtype)
        return out if np.issubdtype(out, np.floating) else np.float32

    def const(self, array, hint: str) -> str:
        """A new initializer holding ``array``, named ``{scope}/{op}_{hint}``."""
        name = self.w.unique(f"{self.scope}/{self.rec.op.name}_{hint}")
        self.w.inits[name] = numpy_helper.from_array(_contiguous(array), name)
        return name

    def ints(self, values, hint: str) -> str:
        """An int64 1-D initializer (axes, shapes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def node(self, op_type: str, inputs, n_out: int = 1, metadata: dict[str, str] | None = None, **attrs):
        """Add a node named ``{scope}/{op_type}`` (made unique); returns its output name(s).
        ``metadata``: ``metadata_props`` for the importer (hints such as an adaptive pool's output size)."""
        name = self.w.unique(f"{self.scope}/{op_type}")
        outputs = [f"{name}_output_{k}" for k in range(n_out)]
        self.w.taken.update(outputs)
        node = helper.make_node(op_type, list(inputs), outputs, name=name,
                                **{k: _attr(v) for k, v in attrs.items() if v is not None})
        for key, value in (metadata or {}).items():
            node.metadata_props.add(key=key, value=value)
        self.w.nodes.append(node)
        return outputs[0] if n_out == 1 else outputs


def _contiguous(array) -> np.ndarray:
    """A C-contiguous array of the same shape (``np.ascontiguousarray`` turns 0-d into 1-d)."""
    arr = np.asarray(array)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _attr(value):
    """Attribute values as the plain Python types ``onnx.helper`` expects."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (tuple, list)):
        return [_attr(v) for v in value]
    return value


# -------------------------------------------------------------------- API
def _example(example_input) -> np.ndarray:
    arr = example_input.data if isinstance(example_input, Tensor) else np.asarray(example_input)
    if not isinstance(example_input, (Tensor, np.ndarray)) and arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python floats: float32, as cnnkit.tensor
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"export: example_input must be a numeric array or Tensor, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"export: example_input must have a batch axis first with at least one sample, "
                         f"got shape {arr.shape}")
    return arr


def _second_input(x: np.ndarray, dynamic: bool) -> np.ndarray | None:
    """The input of the second trace: one more sample (the last one first) with a dynamic batch, else
    the samples rolled; floats also negated, so that sums, means and signs change. ``None`` when
    nothing would change (one integer sample, fixed batch)."""
    y = np.concatenate([x[-1:], x], axis=0) if dynamic else np.roll(x, 1, axis=0)
    if np.issubdtype(x.dtype, np.floating):
        return -y
    return y if dynamic or x.shape[0] > 1 else None


def export(model: Module, path: str | os.PathLike | None, example_input, opset: int | None = None,
           dynamic_batch: bool = True):
    """Trace ``model`` on ``example_input`` and write it as an ONNX model to ``path``.

    ``example_input``: an array or Tensor with the batch axis first (float for
    images and signals, integers for token indices). ``opset``: the ONNX opset
    (default :data:`DEFAULT_OPSET`, the newest that onnx and onnxruntime here
    support; at least :data:`MIN_OPSET`). ``dynamic_batch``: the batch dimension is
    symbolic (``N``) in the input, the output and every ``value_info``, so one file
    runs any batch size; otherwise every shape is the example's.

    The graph has one input ``"input"`` and one output ``"output"``; initializers
    are named by the model's ``state_dict`` keys. The model is validated with
    ``onnx.checker.check_model(full_check=True)`` and written atomically; ``path=None``
    only returns it. Returns the ``onnx.ModelProto``.

    Raises :class:`ExportError` (a ``ValueError``) naming the op and the module path
    for anything that cannot be exported.
    """
    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    if opset is None:
        opset = DEFAULT_OPSET
    if not isinstance(opset, (int, np.integer)) or isinstance(opset, bool) or not MIN_OPSET <= opset <= DEFAULT_OPSET:
        raise ValueError(f"export: opset must be an int from {MIN_OPSET} to {DEFAULT_OPSET}, got {opset!r}")
    if not isinstance(dynamic_batch, (bool, np.bool_)):
        raise TypeError(f"export: dynamic_batch must be a bool, got {dynamic_batch!r}")
    x = _example(example_input)
    t1 = _run(model, x)
    other = _second_input(x, bool(dynamic_batch))
    with np.errstate(all="ignore"):  # e.g. log of the negated input: the values do not matter, the ops do
        t2 = _run(model, other) if other is not None else None
    writer = _Writer(model, t1, t2, int(opset), bool(dynamic_batch))
    graph = writer.build()
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="cnnkit", producer_version=__version__,
                              doc_string=f"{type(model).__name__} exported by cnnkit.onnx.export")
    inits = {i.name for i in graph.initializer}
    params = [(k, p) for k, p in model.named_parameters() if k in inits]
    helper.set_model_props(proto, {STATE_KEY: json.dumps({
        "parameters": [k for k, _ in params], "frozen": [k for k, p in params if not p.requires_grad],
        "buffers": [k for k, _ in model.named_buffers() if k in inits]})})
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    try:
        proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:  # a bug here, not the user's
        raise ExportError(f"export: the ONNX model written for {type(model).__name__} does not validate "
                          f"(please report this): {exc}") from exc
    if path is not None:
        with atomic_write(path, "ONNX model") as handle:
            handle.write(proto.SerializeToString())
    return proto
