"""``Function``: one differentiable operation with explicit saved state.

An op subclasses :class:`Function` and implements

* ``forward(self, *arrays, **params) -> ndarray`` on raw NumPy arrays, saving
  whatever backward needs on ``self`` (``self.save(...)`` or attributes);
* ``backward(self, grad_output) -> tuple`` with one entry per positional input:
  the gradient as an array, or ``None`` where ``self.needs_input_grad[i]`` is
  false (nobody asked for it, so it is not computed).

``Op.apply(*inputs, **params)`` runs forward, and when gradients are enabled and
some input requires them, links the output to the op for the backward walk.
Inputs may be :class:`~cnnkit.Tensor`, NumPy arrays or Python scalars; only
tensors with ``requires_grad`` receive gradients.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import grad_mode, trace


class Function:
    """Base class of every differentiable op (see module docstring)."""

    #: True for each positional input that needs a gradient.
    needs_input_grad: tuple[bool, ...] = ()
    #: The positional inputs (tensors or constants), kept for the backward walk.
    inputs: tuple[Any, ...] = ()

    def save(self, *values: Any) -> None:
        """Keep arrays needed by :meth:`backward`."""
        self.saved = values

    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> tuple[np.ndarray | None, ...]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @classmethod
    def apply(cls, *inputs: Any, **params: Any):
        from .tensor import Tensor

        op = cls()
        needs = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        track = grad_mode.is_grad_enabled() and any(needs)
        op.needs_input_grad = needs
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        out = op.forward(*arrays, **params)
        result = Tensor._wrap(out, requires_grad=track)
        if track:
            op.inputs = inputs
            result._op = op
        if trace.is_tracing():  # cnnkit.autograd.trace: the ONNX exporter's record of the ops
            trace.record(op, inputs, params, result)
        return result

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"
