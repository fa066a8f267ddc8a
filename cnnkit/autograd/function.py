"""``Function``: one differentiable operation with explicit saved state.

An op subclasses :class:`Function` and implements

* ``forward(self, *arrays, **params)`` on raw NumPy arrays, returning one array,
  or a tuple of arrays when the op has several results (max pooling's values and
  indices). ``self.recording`` tells it whether a graph is being recorded: when
  it is false, backward will never run, so forward may skip what only backward
  needs. It saves what backward needs on ``self`` (``self.save(...)`` or attributes);
* ``backward(self, grad_output) -> tuple`` with one entry per positional input:
  the gradient as an array, or ``None`` where ``self.needs_input_grad[i]`` is
  false (nobody asked for it, so it is not computed).

``Op.apply(*inputs, **params)`` runs forward and, when recording, links the
result to the op for the backward walk. Inputs may be :class:`~cnnkit.Tensor`,
NumPy arrays or Python scalars; only tensors with ``requires_grad`` receive gradients.

Several results: ``apply`` returns a tuple of tensors; only the FIRST is
differentiable (linked to the op, ``backward`` receives its gradient); the
others are plain tensors that do not require grad (indices, masks, statistics),
as ``torch.max(x, dim)``'s indices.

In-place changes: every tensor has a version (``Tensor._version``), raised by
each in-place op (``zero_``, ``copy_``, ``t[i] = v``, optimizer steps,
``load_state_dict``). When recording, ``apply`` notes the version of every
tensor whose memory the op kept for backward (an input it saved, or its own
result); backward raises ``RuntimeError`` if one of them was modified in place
since (PyTorch's rule and message). A result that is a view of an input (reshape,
permute, indexing) shares that input's version, as in PyTorch.

NumPy arrays passed to an op are not tracked (writes to a NumPy array cannot be
seen). These ops keep a reference to an array argument until backward, so such an
array must not be modified in place before backward runs (pass a copy if you must):

* ``conv1d/2d/3d``, ``conv_transpose1d/2d/3d`` and ``linear``: the input and the weight;
* ``batch_norm`` in eval mode: the input and the weight; ``layer_norm``: the weight;
* ``binary_cross_entropy_with_logits``: the input, the target, ``weight`` and ``pos_weight``;
* ``embedding``: the indices; indexing ``t[index_array]`` and ``where``: the index / the condition;
* tensor arithmetic with an array operand: ``*``, ``/``, ``**`` and ``@`` keep both operands,
  ``log`` and ``abs`` their input.

Every other op keeps only arrays it made itself (masks, argmax positions, its own
result); the running statistics of batch norm are copied, as cnnkit updates them in place.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import grad_mode, trace


class Function:
    """Base class of every differentiable op (see module docstring)."""

    #: True for each positional input that needs a gradient.
    needs_input_grad: tuple[bool, ...] = ()
    #: True when forward runs for a recorded graph (backward may follow).
    recording: bool = False
    #: The positional inputs (tensors or constants), kept for the backward walk.
    inputs: tuple[Any, ...] = ()
    #: ``(version counter, version at forward, description)`` of each tensor whose memory backward reads.
    saved_versions: tuple = ()

    def save(self, *values: Any) -> None:
        """Keep arrays needed by :meth:`backward`."""
        self.saved = values

    def forward(self, *args: Any, **kwargs: Any):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> tuple[np.ndarray | None, ...]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @classmethod
    def apply(cls, *inputs: Any, **params: Any):
        from .tensor import Tensor

        op = cls()
        op.needs_input_grad = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        op.recording = grad_mode.is_grad_enabled() and any(op.needs_input_grad)
        out = op.forward(*[t.data if isinstance(t, Tensor) else t for t in inputs], **params)
        first, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
        result = Tensor._wrap(first, requires_grad=op.recording, views=inputs)
        if op.recording:
            op.inputs = inputs
            op.saved_versions = _saved_versions(op, inputs, result)
            result._op = op
        out = (result,) + tuple(Tensor._wrap(r) for r in rest) if rest else result
        if trace.is_tracing():  # cnnkit.autograd.trace: the ONNX exporter's record of the ops
            trace.record(op, inputs, params, out)
        return out

    def check_saved_versions(self) -> None:
        """``RuntimeError`` (PyTorch's message) when a tensor backward reads was modified in place."""
        for counter, expected, data, index in self.saved_versions:
            if counter[0] != expected:
                role = "the output" if index < 0 else f"input {index}"
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{data.dtype} {data.shape}], {role} of {self.name}, is at version {counter[0]}; "
                    f"expected version {expected} instead. Hint: do not change it in place (zero_, copy_, "
                    f"t[...] = ..., optimizer.step()) between the forward pass and backward()")

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    base = a.base
    while isinstance(base, np.ndarray):
        a, base = base, base.base
    return a


def _saved_versions(op: Function, inputs, result) -> tuple:
    """``(version counter, version now, data, input index or -1 for the result)`` of
    each tensor whose memory ``op`` kept for backward: the tensor inputs and the
    result that share memory with an array among ``op``'s attributes. (Run for every
    recorded op, so it stays cheap: the messages are built only on failure.)"""
    attrs = op.__dict__
    kept = [v for v in attrs.values() if isinstance(v, np.ndarray)]
    saved = attrs.get("saved")
    if saved:
        kept += [v for v in saved if isinstance(v, np.ndarray)]
    if not kept:
        return ()
    roots = {id(_root(v)) for v in kept}
    out = []
    for index, t in enumerate(inputs):
        counter = getattr(t, "_version_counter", None)  # a Tensor (a NumPy array or a number has none)
        if counter is not None and id(_root(t.data)) in roots and any(np.may_share_memory(t.data, v) for v in kept):
            out.append((counter, counter[0], t.data, index))
    data = result.data
    if id(_root(data)) in roots and any(np.may_share_memory(data, v) for v in kept):
        out.append((result._version_counter, result._version_counter[0], data, -1))
    return tuple(out)
