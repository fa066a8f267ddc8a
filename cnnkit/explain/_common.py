"""What every explanation method shares: argument checks, a model left untouched,
the gradient of the target logits with respect to the input or to one layer's output.

The model is never changed: :func:`untouched` puts it in eval mode and stops its
parameters from requiring gradients for the duration of a call (so nothing is
written into their ``.grad``), then restores every module's ``training`` flag
and every parameter's ``requires_grad``. Layer outputs are read through
:func:`cnnkit.analysis.hooks.replace_output`, which restores ``forward``.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from ..analysis.hooks import replace_output
from ..autograd import Tensor, enable_grad, no_grad
from ..nn.module import Module

__all__ = ["as_images", "as_ids", "as_model_input", "untouched", "resolve_layer", "resolve_targets",
           "logits_of", "target_scores", "scores_of", "input_gradient", "layer_gradient", "chunks", "spatial_axes",
           "check_positive_int", "broadcast_baseline", "as_sizes"]


def _array(value, name: str, fn: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - defensive
        raise TypeError(f"{fn}: {name} must be a NumPy array or a cnnkit Tensor, got {type(value).__name__}") from exc
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python floats and lists: float32, as cnnkit.tensor
    return arr


def _param_dtype(model: Module) -> np.dtype | None:
    for p in model.parameters():
        if np.issubdtype(p.dtype, np.floating):
            return p.dtype
    return None


def as_images(model: Module, value, fn: str, name: str = "input") -> np.ndarray:
    """``value`` as a floating array ``(N, C, *S)`` of the model's parameter dtype.

    ``TypeError`` for integer input (token ids: use :func:`cnnkit.explain.token_relevance`)
    or a dtype other than the model's; ``ValueError`` for fewer than 3 axes.
    """
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    x = _array(value, name, fn)
    if np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{fn}: {name} has integer dtype {x.dtype}; for token ids (N, L) use "
                        f"cnnkit.explain.token_relevance (or grad_cam), which attribute through the embedding")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{fn}: {name} must be a floating array (N, C, *S), got dtype {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"{fn}: {name} must have shape (N, C, *S) (a batch, channels, spatial axes), "
                         f"got shape {x.shape}; add the batch axis with x[None]")
    dtype = _param_dtype(model)
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{fn}: {name} is {x.dtype} but the model's parameters are {dtype}: "
                        f"cast the input (x.astype(np.{dtype})) or the model (model.to(np.{x.dtype}))")
    return x


def as_ids(value, fn: str, name: str = "ids") -> np.ndarray:
    """``value`` as integer token ids ``(N, L)``."""
    ids = _array(value, name, fn)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{fn}: {name} must be integer token ids (N, L), got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{fn}: {name} must have shape (N, L), got shape {ids.shape}")
    return ids


def as_model_input(model: Module, value, fn: str) -> np.ndarray:
    """Images ``(N, C, *S)`` (as :func:`as_images`) or token ids ``(N, L)``."""
    arr = _array(value, "input", fn)
    if np.issubdtype(arr.dtype, np.integer):
        return as_ids(arr, fn, "input")
    return as_images(model, arr, fn)


def spatial_axes(x: np.ndarray) -> tuple[int, ...]:
    """The spatial axes of a batch: ``(2, ..)`` for ``(N, C, *S)``, ``(1,)`` for token ids ``(N, L)``."""
    return tuple(range(1, 2)) if np.issubdtype(x.dtype, np.integer) else tuple(range(2, x.ndim))


@contextlib.contextmanager
def untouched(model: Module) -> Iterator[Module]:
    """Run ``model`` in eval mode with parameters that do not require grad; restore both on exit.

    Gradients then flow to the input (or a layer's output) only, and no
    parameter's ``.grad`` is written. Every module's ``training`` flag and every
    parameter's ``requires_grad`` are put back, also when the block raises.
    """
    flags = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in params:
            p.requires_grad = False
        with enable_grad():
            yield model
    finally:
        for m, flag in flags:
            object.__setattr__(m, "training", flag)
        for p, flag in params:
            p.requires_grad = flag


def resolve_layer(model: Module, layer, fn: str) -> tuple[str, Module]:
    """``(name, module)`` for ``layer``: a name from ``model.named_modules()`` or one of its modules."""
    named = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in named or layer == "":
            names = [n for n in named if n]
            raise ValueError(f"{fn}: layer {layer!r} is not a submodule of the model; its layers are {names}")
        return layer, named[layer]
    if isinstance(layer, Module):
        for name, m in named.items():
            if m is layer:
                return name, m
        raise ValueError(f"{fn}: the module {type(layer).__name__} given as layer is not part of the model")
    raise TypeError(f"{fn}: layer must be a layer name (str) or a module of the model, got {type(layer).__name__}")


def logits_of(model: Module, x, fn: str) -> Tensor:
    """``model(x)`` checked to be logits ``(N, K)``."""
    out = model(x if isinstance(x, Tensor) else Tensor(x))
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != len(x):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"{fn}: the model must return logits (N, classes) for N = {len(x)} inputs, got {shape}")
    return out


def resolve_targets(model: Module, x: np.ndarray, target, fn: str) -> np.ndarray:
    """``target`` as int64 ``(N,)``: an int for every sample, one class per sample, or
    ``None`` for the class the model predicts (the argmax of its logits)."""
    n = len(x)
    with untouched(model), no_grad():
        logits = logits_of(model, x, fn).data
    classes = logits.shape[1]
    if target is None:
        return logits.argmax(axis=1).astype(np.int64)
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"{fn}: target must be an int, one int per sample or None, got {target!r}")
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"{fn}: target must be an int, one int per sample or None, got {target!r}")
    if t.ndim == 0:
        t = np.full(n, int(t), dtype=np.int64)
    elif t.shape != (n,):
        raise ValueError(f"{fn}: target must be an int or have one class per sample (shape ({n},)), "
                         f"got shape {t.shape}")
    bad = t[(t < 0) | (t >= classes)]
    if bad.size:
        raise ValueError(f"{fn}: target {int(bad[0])} is not a class of the model (0..{classes - 1})")
    return t.astype(np.int64)


def target_scores(logits: Tensor, targets: np.ndarray) -> Tensor:
    """``logits[i, targets[i]]`` for every sample, ``(N,)``."""
    return logits[np.arange(len(targets)), targets]


def scores_of(model: Module, x: np.ndarray, targets: np.ndarray, fn: str, batch_size: int = 256) -> np.ndarray:
    """``logits[i, targets[i]]`` as an array ``(N,)``, without a graph, in batches. Call inside :func:`untouched`."""
    out = np.empty(len(x), dtype=np.float64)
    with no_grad():
        for sl in chunks(len(x), batch_size):
            out[sl] = target_scores(logits_of(model, x[sl], fn), targets[sl]).data
    return out


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def input_gradient(model: Module, x: np.ndarray, targets: np.ndarray, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (N,), d score_i / d x_i (N, C, *S))`` with ``score_i = logits[i, targets[i]]``.

    One backward pass of ``sum_i score_i``: samples do not interact in eval mode,
    so the gradient of the sum with respect to ``x_i`` is that of ``score_i``.
    Call inside :func:`untouched`.
    """
    xt = Tensor(np.array(x, copy=True), requires_grad=True)
    scores = target_scores(logits_of(model, xt, fn), targets)
    scores.sum().backward()
    grad = xt.grad if xt.grad is not None else np.zeros_like(x)
    return scores.data.copy(), grad


def layer_gradient(model: Module, x: np.ndarray, targets: np.ndarray, layer: Module,
                   fn: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores (N,), A, dS/dA)``: the output ``A`` of ``layer`` and the gradient of the
    target scores with respect to it (one backward pass, as :func:`input_gradient`).

    The layer's output is replaced by a copy that is a leaf requiring grad, so the
    gradient stops there. ``ValueError`` when the layer is not called exactly once.
    Call inside :func:`untouched`.
    """
    captured: list[Tensor] = []

    def capture(out):
        if not isinstance(out, Tensor):
            raise ValueError(f"{fn}: the layer's output is a {type(out).__name__}, not a tensor")
        leaf = Tensor(out.data, requires_grad=True)
        captured.append(leaf)
        return leaf

    with replace_output(layer, capture):
        scores = target_scores(logits_of(model, Tensor(x), fn), targets)
    if len(captured) != 1:
        raise ValueError(f"{fn}: the layer was called {len(captured)} times in one forward pass; "
                         f"choose a layer that runs once")
    scores.sum().backward()
    a = captured[0]
    grad = a.grad if a.grad is not None else np.zeros_like(a.data)
    return scores.data.copy(), a.data, grad


def check_positive_int(value, name: str, fn: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {value!r}")
    return int(value)


def broadcast_baseline(baseline, x: np.ndarray, fn: str) -> np.ndarray:
    """``baseline`` (``None`` = zeros, a number, or an array broadcastable to ``x``) as an array like ``x``."""
    if baseline is None:
        return np.zeros_like(x)
    b = np.asarray(baseline.data if isinstance(baseline, Tensor) else baseline)
    if not np.issubdtype(b.dtype, np.number):
        raise TypeError(f"{fn}: baseline must be a number or an array, got {type(baseline).__name__}")
    try:
        return np.broadcast_to(b, x.shape).astype(x.dtype)
    except ValueError:
        raise ValueError(f"{fn}: baseline of shape {b.shape} does not broadcast to the input's shape {x.shape}") from None


def as_sizes(value, n: int, name: str, fn: str) -> tuple[int, ...]:
    """An int or ``n`` ints, each positive."""
    from .._core.window import as_tuple
    try:
        return as_tuple(value, n, name, minimum=1)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{fn}: {exc}") from None

