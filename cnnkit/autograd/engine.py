"""Reverse-mode walk: topological order (iterative, so deep nets do not hit the
recursion limit), reversed, with ``+=`` accumulation of gradients.

Every edge's gradient is checked against the shape of the value it belongs to,
so a wrong backward fails where it happens, naming the op; and before an op's
backward runs, the tensors it saved are checked for in-place changes since the
forward pass (:meth:`Function.check_saved_versions`).
"""
from __future__ import annotations

import numpy as np


def topological_order(root) -> list:
    """Tensors reachable from ``root`` through ops, inputs before outputs."""
    from .tensor import Tensor

    order: list = []
    visited: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._op is not None:
            for parent in node._op.inputs:
                if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def backward(root, grad: np.ndarray | None = None) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    from .tensor import Tensor

    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad (no graph was recorded)")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs; got shape {root.shape}, pass grad="
            )
        grad = np.ones_like(root.data)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"grad has shape {grad.shape}, expected {root.shape} (the tensor's shape)")

    grads: dict[int, np.ndarray] = {id(root): grad}
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._op is None or node._retains_grad:
            node.grad = g.copy() if node.grad is None else node.grad + g
        op = node._op
        if op is None:
            continue
        op.check_saved_versions()
        input_grads = op.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(op.inputs):
            raise RuntimeError(f"{op.name}.backward returned {len(input_grads)} gradients for {len(op.inputs)} inputs")
        for parent, pg, needed in zip(op.inputs, input_grads, op.needs_input_grad):
            if not needed or pg is None:
                continue
            if pg.shape != parent.shape:
                raise RuntimeError(
                    f"{op.name}.backward produced a gradient of shape {pg.shape} for an input of shape {parent.shape}"
                )
            if pg.dtype != parent.dtype:
                pg = pg.astype(parent.dtype, copy=False)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg
            else:
                grads[key] = pg
