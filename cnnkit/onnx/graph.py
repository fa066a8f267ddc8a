"""``OnnxGraph``: the cnnkit module an imported ONNX graph becomes.

Nodes that match a cnnkit layer are that layer (a child module, placed at the
dotted path its weights or its node scope name: ``conv1``, ``features.0``), so
the model prints, summarises and fine-tunes like one built by hand; the other
nodes are *steps*, small functions on tensors written with cnnkit's ops (so
gradients flow through them too). ``forward`` runs the steps in the graph's
order on a table of named values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autograd import Tensor
from ..nn.module import Module


class Scope(Module):
    """A container that only groups imported layers under a dotted path (``features`` in ``features.0``)."""

    def forward(self, *args):
        raise TypeError("an ONNX scope only groups layers; call the imported model instead")


@dataclass
class Step:
    """One node (or a fused group of nodes) of the graph."""

    node: str  # the ONNX node name (or op type when unnamed)
    op_type: str
    inputs: list[str]  # value names; "" is an absent optional input
    outputs: list[str]
    module: Module | None = None  # a layer: called on the first input
    fn: Callable | None = None  # a graph step: called on all inputs
    alias: bool = False  # Identity: the output is the input


@dataclass(frozen=True)
class IOSpec:
    """A graph input or output: name, dtype and shape (``None`` for symbolic dimensions)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None


class OnnxGraph(Module):
    """A model read from ONNX by :func:`cnnkit.onnx.load`; ``model(x)`` runs it.

    ``inputs`` / ``outputs`` describe the graph's tensors (symbolic dimensions as
    ``None``); ``opset`` and ``producer`` come from the file. One input and one
    output give ``model(x) -> Tensor``; several outputs give a tuple.
    """

    def __init__(self, inputs: list[IOSpec], outputs: list[IOSpec], opset: int, producer: str):
        super().__init__()
        self.inputs, self.outputs, self.opset, self.producer = inputs, outputs, opset, producer
        self.steps: list[Step] = []
        self.constants: dict[str, np.ndarray] = {}  # non-float constants (shapes, axes, indices)
        #: value name -> (module path, attribute) of the parameter or buffer (float constants: non-persistent
        #: buffers of this module) that graph steps read; parameters go in as they are, so gradients reach them
        self.state_of: dict[str, tuple[str, str]] = {}

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The first input's shape with symbolic dimensions (the batch) as 1, or ``None``."""
        shape = self.inputs[0].shape
        return None if shape is None else tuple(1 if d is None else d for d in shape)

    @property
    def input_dtype(self) -> np.dtype:
        return self.inputs[0].dtype

    def _input(self, spec: IOSpec, value) -> Tensor:
        t = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
        if spec.dtype.kind == "f" and t.dtype.kind != "f":  # any precision: the model may have been .double()d
            raise TypeError(f"input {spec.name!r} must be floating ({spec.dtype} in the file), got {t.dtype}")
        if spec.dtype.kind in "iu" and t.dtype.kind not in "iu":
            raise TypeError(f"input {spec.name!r} must hold integers ({spec.dtype}), got {t.dtype}")
        if spec.shape is not None and (t.ndim != len(spec.shape) or any(
                d is not None and d != n for d, n in zip(spec.shape, t.shape))):
            want = "[" + ", ".join("N" if d is None else str(d) for d in spec.shape) + "]"
            raise ValueError(f"input {spec.name!r} must have shape {want}, got {tuple(t.shape)}")
        return t

    def forward(self, *args):
        if len(args) != len(self.inputs):
            raise TypeError(f"the imported model takes {len(self.inputs)} input(s) "
                            f"({', '.join(s.name for s in self.inputs)}), got {len(args)}")
        env: dict[str, Tensor] = {s.name: self._input(s, v) for s, v in zip(self.inputs, args)}
        for name, arr in self.constants.items():
            env[name] = Tensor._wrap(arr)
        for name, (path, attr) in self.state_of.items():
            owner = self.get_submodule(path)
            param = owner._parameters.get(attr)
            env[name] = param if param is not None else Tensor._wrap(owner._buffers[attr])
        for step in self.steps:
            values = [env[n] if n else None for n in step.inputs]
            if step.alias:
                env[step.outputs[0]] = values[0]
                continue
            try:
                out = step.module(values[0]) if step.module is not None else step.fn(*values)
            except (ValueError, TypeError, IndexError) as exc:
                raise type(exc)(f"ONNX node {step.node!r} ({step.op_type}): {exc}") from exc
            outs = out if isinstance(out, tuple) else (out,)
            for name, value in zip(step.outputs, outs):
                if name:
                    env[name] = value
        result = tuple(env[s.name] for s in self.outputs)
        return result[0] if len(result) == 1 else result

    def extra_repr(self) -> str:
        def shape(s: IOSpec) -> str:
            return "?" if s.shape is None else "[" + ", ".join("N" if d is None else str(d) for d in s.shape) + "]"
        layers = sum(s.module is not None for s in self.steps)
        ins = ", ".join(f"{s.name} {shape(s)} {s.dtype}" for s in self.inputs)
        outs = ", ".join(f"{s.name} {shape(s)}" for s in self.outputs)
        return (f"inputs: {ins}; outputs: {outs}; opset {self.opset}; "
                f"{layers} layers, {len(self.steps) - layers} graph steps")
