"""``load(path) -> nn.Module``: read an ONNX model into cnnkit layers.

The file is validated before anything is built: its size, the protobuf parse,
no external data files, the opset (:data:`MIN_IMPORT_OPSET` to
:data:`~cnnkit.onnx.export.DEFAULT_OPSET` of the default domain, no other
domains), ``onnx.checker.check_model(full_check=True)``. Every failure, and
every operator or attribute that cannot be read, is a ``ValueError`` naming
the file and the node, operator or attribute; a malformed file never crashes.

Then each node goes through the table (:mod:`cnnkit.onnx.table`): nodes that
match a layer become that layer with its weights as Parameters (trainable);
others become steps of :class:`~cnnkit.onnx.graph.OnnxGraph`. Steps whose
inputs are all constants are evaluated once, at load time (constant folding).
The model is returned in eval mode.
"""
from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..autograd import Tensor, no_grad
from ..nn.module import Module
from ..nn.parameter import Parameter
from . import ops_nn, ops_tensor  # noqa: F401  (fill the table)
from .export import DEFAULT_OPSET, STATE_KEY
from .graph import IOSpec, OnnxGraph, Scope, Step
from .table import importer_for, onnx, patterns

helper, numpy_helper = onnx.helper, onnx.numpy_helper

__all__ = ["load", "MIN_IMPORT_OPSET", "MAX_BYTES"]

#: The oldest opset read (13 fixed Softmax to one axis and moved Squeeze's axes to an input).
MIN_IMPORT_OPSET = 13
#: The largest file read: protobuf's own limit for one message.
MAX_BYTES = 2 ** 31 - 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "value"


# -------------------------------------------------------------- validation
def _read(source, max_bytes: int) -> tuple[Any, str]:
    if isinstance(source, onnx.ModelProto):
        return source, "the ONNX model"
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "the ONNX bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {path} not found")
        size = path.stat().st_size
        if size == 0:
            raise ValueError(f"{path}: the file is empty, not an ONNX model")
        if size > max_bytes:
            raise ValueError(f"{path}: {size:,} bytes is more than the {max_bytes:,} bytes read (max_bytes)")
        data = path.read_bytes()
    else:
        raise TypeError(f"load: expected a path, bytes or an onnx.ModelProto, got {type(source).__name__}")
    if len(data) > max_bytes:
        raise ValueError(f"{label}: {len(data):,} bytes is more than the {max_bytes:,} bytes read (max_bytes)")
    try:
        proto = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends: a malformed file
        raise ValueError(f"{label}: not an ONNX model (the protobuf does not parse: {exc})") from None
    return proto, label


def _tensors(proto) -> list:
    out = list(proto.graph.initializer)
    for node in proto.graph.node:
        out += [a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    return out


def _validate(proto, label: str) -> int:
    """Check the model before use; returns the default domain's opset."""
    if not proto.HasField("graph") or not proto.graph.output:
        raise ValueError(f"{label}: not an ONNX model (no graph, or a graph without outputs)")
    for t in _tensors(proto):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise ValueError(f"{label}: tensor {t.name!r} is stored in an external data file, which cnnkit does not read")
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    if "ai.onnx" not in opsets:
        raise ValueError(f"{label}: the model imports no opset of the default ONNX domain")
    opset = opsets["ai.onnx"]
    if not MIN_IMPORT_OPSET <= opset <= DEFAULT_OPSET:
        raise ValueError(f"{label}: opset {opset} is not supported (cnnkit reads opsets {MIN_IMPORT_OPSET} "
                         f"to {DEFAULT_OPSET})")
    for node in proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise ValueError(f"{label}: node {node.name!r} uses operator {node.op_type!r} of domain {node.domain!r}; "
                             "only the default ONNX domain is supported")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # ValidationError, InferenceError, and C++ errors surfaced as Python ones
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{label}: not a valid ONNX model ({type(exc).__name__}: {first})") from None
    return opset


def _shape_of(type_proto) -> tuple[int | None, ...] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in type_proto.tensor_type.shape.dim)


def _spec(value_info, label: str) -> IOSpec:
    elem = value_info.type.tensor_type.elem_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    except Exception:
        raise ValueError(f"{label}: graph input/output {value_info.name!r} has an unsupported element type {elem}") from None
    return IOSpec(value_info.name, dtype, _shape_of(value_info.type))


# ----------------------------------------------------------------- builder
class Builder:
    """What a table entry's ``from_onnx(node, b)`` uses to turn one node into a layer or a step."""

    def __init__(self, proto, label: str, opset: int):
        self.proto, self.label, self.opset = proto, label, opset
        g = proto.graph
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True).graph
        self.shapes = {vi.name: _shape_of(vi.type) for vi in list(inferred.value_info) + list(inferred.input)
                       + list(inferred.output)}
        self.consts: dict[str, np.ndarray] = {}
        for init in g.initializer:
            self.consts[init.name] = self._array(init, f"initializer {init.name!r}")
            self.shapes[init.name] = self.consts[init.name].shape
        init_names = set(self.consts)
        self.model = OnnxGraph([_spec(v, label) for v in g.input if v.name not in init_names],
                               [_spec(v, label) for v in g.output], opset, proto.producer_name)
        if not self.model.inputs:
            raise ValueError(f"{label}: the graph has no inputs")
        self.graph_outputs = {v.name for v in g.output}
        self.users: dict[str, list] = {}
        self.producer: dict[str, Any] = {}
        for node in g.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)
            for name in node.output:
                self.producer[name] = node
        self.claimed: set[int] = set()
        self.params: dict[tuple, Parameter] = {}
        self.rng = np.random.default_rng(0)  # layers' throwaway initial weights: cnnkit's generator stays untouched
        self._read_state(proto, init_names)

    def _read_state(self, proto, init_names: set[str]) -> None:
        """Which initializers are parameters (trainable in graph steps too) and buffers: what a cnnkit
        file says (:data:`~cnnkit.onnx.export.STATE_KEY`), else float initializers named like parameters
        (``fc.weight``, ``scale``; not ``onnx::Mul_12`` or ``/conv/Constant``)."""
        meta = {p.key: p.value for p in proto.metadata_props}
        floats = {n for n in init_names if self.consts[n].dtype.kind == "f"}
        self.frozen: set[str] = set()
        self.buffer_names: set[str] = set()
        if STATE_KEY in meta:
            try:
                state = json.loads(meta[STATE_KEY])
                self.param_names = set(state["parameters"]) & floats
                self.frozen = set(state["frozen"]) & self.param_names
                self.buffer_names = set(state["buffers"]) & init_names
                return
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{self.label}: model metadata {STATE_KEY!r} is not valid") from None
        self.param_names = {n for n in floats if _PARAM_NAME.fullmatch(n)}

    def _array(self, tensor, what: str) -> np.ndarray:
        try:
            arr = numpy_helper.to_array(tensor)
        except Exception as exc:
            raise ValueError(f"{self.label}: {what} cannot be read: {exc}") from None
        if arr.dtype.kind not in "biuf" or arr.dtype == np.float16:
            raise ValueError(f"{self.label}: {what} has dtype {arr.dtype}; cnnkit reads float32/float64, ints and bools")
        return arr

    # -------------------------------------------------------- for entries
    def fail(self, node, message: str) -> ValueError:
        return ValueError(f"{self.label}: node {node.name or '(unnamed)'!r} ({node.op_type}): {message}")

    def peek(self, node) -> dict[str, Any]:
        """The node's attributes as Python values, unchecked."""
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def attrs(self, node, **spec) -> dict[str, Any]:
        """The node's attributes with defaults from ``spec`` (name -> default); an attribute
        not in ``spec`` is an error naming it (it would change the result)."""
        out = dict(spec)
        for a in node.attribute:
            if a.name not in spec:
                raise self.fail(node, f"attribute {a.name!r} is not supported")
            value = helper.get_attribute_value(a)
            out[a.name] = value.decode() if isinstance(value, bytes) else (list(value) if isinstance(
                value, (list, tuple)) or type(value).__name__ == "RepeatedScalarContainer" else value)
        return out

    def has(self, node, i: int) -> bool:
        return len(node.input) > i and node.input[i] != ""

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def static_shape(self, name: str) -> tuple[int | None, ...] | None:
        return self.shapes.get(name)

    def rank(self, name: str) -> int | None:
        shape = self.shapes.get(name)
        return None if shape is None else len(shape)

    def consumers(self, name: str) -> list:
        return [n for n in self.users.get(name, []) if id(n) not in self.claimed]

    def is_graph_output(self, name: str) -> bool:
        return name in self.graph_outputs

    def is_used(self, name: str) -> bool:
        return bool(name) and (name in self.graph_outputs or bool(self.users.get(name)))

    def param(self, name: str, transpose: bool = False, reshape: tuple | None = None) -> Parameter:
        """The initializer ``name`` as a Parameter (one per name and layout, so tied weights stay tied)."""
        key = (name, transpose, reshape)
        if key not in self.params:
            arr = self.consts[name]
            arr = arr.T if transpose else arr
            self.params[key] = Parameter(arr.reshape(reshape) if reshape is not None else arr,
                                         requires_grad=name not in self.frozen)
        return self.params[key]

    def build(self, node, cls, *args, **kwargs) -> Module:
        """``cls(*args, **kwargs)`` (with a throwaway generator for its initial weights); a ValueError naming the node."""
        if "generator" in inspect.signature(cls).parameters:
            kwargs["generator"] = self.rng
        try:
            return cls(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise self.fail(node, f"cannot be built as {cls.__name__}: {exc}") from None

    def layer(self, node, module: Module, inputs=None, outputs=None, params=(), claim=None) -> None:
        """Add ``module`` as a layer fed by ``inputs[0]`` (default: the node's first input)."""
        for n in claim or [node]:
            self.claimed.add(id(n))
        self._place(module, node, [p for p in params if p])
        self.model.steps.append(Step(node.name or node.op_type, node.op_type, list(inputs or node.input[:1]),
                                     list(outputs or node.output), module=module))

    def step(self, node, fn: Callable, inputs=None, outputs=None) -> None:
        """Add a graph step ``fn(*inputs) -> Tensor | tuple``; evaluated now when every input is a constant."""
        self.claimed.add(id(node))
        inputs = list(inputs if inputs is not None else node.input)
        outputs = list(outputs if outputs is not None else node.output)
        state = self.param_names | self.buffer_names  # steps on parameters run each time (gradients reach them)
        if all(not n or (n in self.consts and n not in state) for n in inputs):
            try:
                with no_grad():
                    out = fn(*[Tensor._wrap(self.consts[n]) if n else None for n in inputs])
            except (ValueError, TypeError, IndexError) as exc:
                raise self.fail(node, f"cannot be evaluated on its constant inputs: {exc}") from None
            for name, value in zip(outputs, out if isinstance(out, tuple) else (out,)):
                if name:
                    self.consts[name] = np.asarray(value.data if isinstance(value, Tensor) else value)
                    self.shapes[name] = self.consts[name].shape
            return
        self.model.steps.append(Step(node.name or node.op_type, node.op_type, inputs, outputs, fn=fn))

    def alias(self, node, src: str, dst: str) -> None:
        self.claimed.add(id(node))
        if src in self.consts:
            self.consts[dst] = self.consts[src]
            return
        self.model.steps.append(Step(node.name or node.op_type, node.op_type, [src], [dst], alias=True))

    def constant_node(self, node) -> None:
        self.claimed.add(id(node))
        attrs = self.peek(node)
        if len(attrs) != 1:
            raise self.fail(node, f"needs exactly one value attribute, got {sorted(attrs)}")
        (name, value), = attrs.items()
        if name == "value":
            arr = self._array(value, f"the value of Constant node {node.name!r}")
        elif name in ("value_float", "value_floats"):
            arr = np.asarray(value, dtype=np.float32)
        elif name in ("value_int", "value_ints"):
            arr = np.asarray(value, dtype=np.int64)
        else:
            raise self.fail(node, f"attribute {name!r} is not supported")
        self.consts[node.output[0]] = arr
        self.shapes[node.output[0]] = arr.shape

    # ------------------------------------------------------------- placing
    def _place(self, module: Module, node, params: list[str]) -> None:
        candidates = []
        for p in params:
            if "." in p:
                candidates.append(p.rsplit(".", 1)[0].split("."))
        parts = [c for c in node.name.split("/") if c]
        if len(parts) >= 2:
            candidates.append(parts[-2].split("."))
        base = re.sub(r"[^A-Za-z0-9_]+", "_", parts[-1] if parts else node.op_type).strip("_").lower() or "layer"
        if len(parts) >= 2:
            base = re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts)).strip("_").lower()
        def add(owner: Module, name: str) -> None:
            owner.add_module(name, module)
        for path in candidates:
            if all(_NAME.fullmatch(c) for c in path) and self._attach(path, add):
                return
        k = 0
        while not self._attach([base if k == 0 else f"{base}_{k}"], add):
            k += 1

    def _attach(self, path: list[str], add: Callable[[Module, str], None]) -> bool:
        """``add(owner, path[-1])`` on the module at ``path[:-1]`` (Scopes created as needed) when the name is free."""
        owner: Module = self.model
        for part in path[:-1]:
            child = owner._modules.get(part)
            if child is None:
                if not self._free(owner, part):
                    return False
                child = Scope()
                owner.add_module(part, child)
            elif not isinstance(child, Scope):
                return False
            owner = child
        if not self._free(owner, path[-1]):
            return False
        add(owner, path[-1])
        return True

    @staticmethod
    def _free(owner: Module, name: str) -> bool:
        if name in owner._modules or name in owner._parameters or name in owner._buffers:
            return False
        return not hasattr(type(owner), name) and name not in owner.__dict__

    # ------------------------------------------------------------- building
    def build_model(self) -> OnnxGraph:
        for node in self.proto.graph.node:
            if id(node) in self.claimed:
                continue
            entry = importer_for(node.op_type)
            try:
                if any(p(node, self) for p in patterns()):
                    continue
                if entry is None:
                    raise self.fail(node, f"operator {node.op_type} is not supported "
                                          "(cnnkit.onnx.coverage() lists the ones that are)")
                entry.from_onnx(node, self)
            except ValueError:
                raise
            except (IndexError, KeyError, TypeError, AttributeError) as exc:  # a node the checker let through
                raise self.fail(node, f"cannot be read ({type(exc).__name__}: {exc})") from None
        self._prune()
        self._keep_constants()
        self.model.eval()
        return self.model

    def _prune(self) -> None:
        """Drop steps whose outputs nothing reads (what a pattern took over, such as Linear's weight Transpose)."""
        live = set(self.graph_outputs)
        kept = []
        for step in reversed(self.model.steps):
            if any(o in live for o in step.outputs):
                kept.append(step)
                live.update(n for n in step.inputs if n)
        self.model.steps = kept[::-1]

    def _keep_constants(self) -> None:
        """The constants, parameters and buffers the graph steps read, where ``forward`` finds them."""
        needed = {n for s in self.model.steps if s.module is None for n in s.inputs if n in self.consts}
        needed |= {s.name for s in self.model.outputs if s.name in self.consts}
        needed |= {s.inputs[0] for s in self.model.steps if s.module is not None and s.inputs[0] in self.consts}
        for name in sorted(needed):
            arr = self.consts[name]
            if name in self.param_names or name in self.buffer_names:
                parts = name.split(".")
                if not (all(_NAME.fullmatch(p) for p in parts) and self._attach_tensor(name, parts)):
                    self._attach_tensor(name, [self._free_name(f"param_{_sanitize(name)}")])
            elif arr.dtype.kind == "f":
                attr = self._free_name(f"const_{_sanitize(name)}")
                self.model.register_buffer(attr, np.array(arr), persistent=False)
                self.model.state_of[name] = ("", attr)
            else:
                self.model.constants[name] = arr

    def _free_name(self, base: str) -> str:
        k = 0
        while not self._free(self.model, base if k == 0 else f"{base}_{k}"):
            k += 1
        return base if k == 0 else f"{base}_{k}"

    def _attach_tensor(self, name: str, path: list[str]) -> bool:
        """Register the initializer ``name`` as a parameter (or buffer) at ``path``."""
        def add(owner: Module, attr: str) -> None:
            if name in self.param_names:
                owner.register_parameter(attr, self.param(name))
            else:
                owner.register_buffer(attr, np.array(self.consts[name]))
            self.model.state_of[name] = (".".join(path[:-1]), attr)
        return self._attach(path, add)


def load(source, *, max_bytes: int = MAX_BYTES) -> OnnxGraph:
    """Read an ONNX model (a path, its bytes or an ``onnx.ModelProto``) into a cnnkit module.

    Nodes that match cnnkit layers become those layers, with their weights as
    trainable Parameters, at the dotted paths their initializer or node names give
    (a model written by :func:`cnnkit.onnx.export` comes back with its own
    ``state_dict`` keys); the rest runs as steps of an
    :class:`~cnnkit.onnx.graph.OnnxGraph`. Files written by ``torch.onnx.export``
    for PyTorch CNNs built from the same operators load too.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the
    file and the node, operator or attribute for anything else (``max_bytes``
    bounds the file size).
    """
    proto, label = _read(source, max_bytes)
    opset = _validate(proto, label)
    return Builder(proto, label, opset).build_model()
