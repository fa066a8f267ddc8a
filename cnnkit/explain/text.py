"""Which words drove a text model's decision: one relevance per token, ``(N, L)``.

For a model that embeds token ids ``(N, L)`` with an :class:`~cnnkit.nn.Embedding`
into ``E (N, L, D)`` (TextCNN), and ``S`` the target logit:

* ``"input_x_gradient"`` (gradient x embedding): ``r_j = sum_d E_jd dS/dE_jd``;
* ``"integrated_gradients"``: integrated gradients on the embeddings from the
  baseline ``E' = 0`` (the padding vector of Kim's CNN), summed over ``d``:
  ``r_j = sum_d (E - E')_jd sum_k w_k dS/dE_jd (E' + a_k (E - E'))``; completeness:
  ``sum_j r_j = S(E) - S(E')`` up to the Riemann error;
* ``"grad_cam"`` / ``"grad_cam++"``: the map of each 1-D convolution
  (:func:`cnnkit.explain.cam.layer_cam`), one value per window position ``t``,
  given to every token the window reads (its receptive field, from
  :func:`cnnkit.analysis.receptive_field`): ``r_j = sum_l sum_{t : j in field_l(t)} cam_l(t)``,
  summed over the chosen layers (default: every convolution; TextCNN's windows 3, 4, 5).

Padding positions are included (their embedding is 0, so the gradient methods
give them 0); the CLI drops them when it prints a sentence.
"""
from __future__ import annotations

import numpy as np

from ..analysis import receptive_field
from ..analysis.hooks import replace_output
from ..analysis.receptive_field import AxisField
from ..autograd import Tensor
from ..nn.module import Module
from ..nn.sparse import Embedding
from ._common import as_ids, layer_gradient, logits_of, resolve_layer, resolve_targets, target_scores, untouched
from .cam import layer_cam
from .gradients import path_sum

__all__ = ["token_relevance", "TEXT_METHODS", "window_tokens"]

TEXT_METHODS = ("input_x_gradient", "integrated_gradients", "grad_cam", "grad_cam++")


def _embedding(model: Module, embedding, fn: str) -> Module:
    if embedding is not None:
        return resolve_layer(model, embedding, fn)[1]
    found = [m for m in model.modules() if isinstance(m, Embedding)]
    if len(found) != 1:
        raise ValueError(f"{fn}: the model has {len(found)} Embedding layers; name the one to attribute "
                         f"through with embedding=")
    return found[0]


def _embedding_gradient(model: Module, ids: np.ndarray, targets: np.ndarray, emb: Module, fn: str,
                        values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, E, dS/dE)`` with the embedding's output replaced by ``values`` when given."""
    held: list[Tensor] = []

    def leaf(out):
        t = Tensor(np.array(out.data if values is None else values, copy=True), requires_grad=True)
        held.append(t)
        return t

    with replace_output(emb, leaf):
        scores = target_scores(logits_of(model, ids, fn), targets)
    if len(held) != 1:
        raise ValueError(f"{fn}: the embedding was called {len(held)} times in one forward pass")
    scores.sum().backward()
    e = held[0]
    return scores.data.copy(), e.data, (e.grad if e.grad is not None else np.zeros_like(e.data))


def window_tokens(model: Module, layer_name: str, length: int, dtype=np.int64) -> np.ndarray:
    """``M (L_layer, L)``: ``M[t, j] = 1`` when unit ``t`` of the 1-D layer reads token ``j``
    (its receptive field in the input, clipped to the sentence)."""
    fields = {lf.name: lf for lf in receptive_field(model, (1, length), dtype=dtype)}
    lf = fields.get(layer_name)
    if lf is None or lf.field is None or len(lf.field) != 1 or not isinstance(lf.field[0], AxisField):
        raise ValueError(f"token_relevance: cannot follow the token span of layer {layer_name!r} "
                         f"(its receptive field is {None if lf is None else lf.field})")
    axis, units = lf.field[0], lf.output_shape[-1]
    m = np.zeros((units, length), dtype=np.float64)
    for t in range(units):
        m[t, axis.pixels(t)] = 1.0
    return m


def token_relevance(model: Module, ids, target=None, method: str = "input_x_gradient", *, layer=None,
                    embedding=None, steps: int = 50, rule: str = "middle", batch_size: int = 256) -> np.ndarray:
    """One relevance per token ``(N, L)`` (the embedding's dtype); see the module docstring.

    ``layer``: for the CAM methods, a layer name / module or a list of them (default:
    every convolution of the model). ``embedding``: the Embedding to attribute
    through (default: the model's only one). ``steps``, ``rule``, ``batch_size``:
    for ``"integrated_gradients"`` (as :func:`cnnkit.explain.integrated_gradients`).
    """
    fn = "token_relevance"
    x = as_ids(ids, fn)
    if method not in TEXT_METHODS:
        raise ValueError(f"{fn}: method must be one of {TEXT_METHODS}, got {method!r}")
    targets = resolve_targets(model, x, target, fn)
    if method in ("grad_cam", "grad_cam++"):
        return _cam_tokens(model, x, targets, method, layer)
    emb = _embedding(model, embedding, fn)
    with untouched(model):
        if method == "input_x_gradient":
            _, e, g = _embedding_gradient(model, x, targets, emb, fn)
            return (e * g).sum(axis=-1).astype(e.dtype)
        _, e, _ = _embedding_gradient(model, x, targets, emb, fn)

        def grad_at(i: np.ndarray, a: np.ndarray) -> np.ndarray:
            path = a.reshape(-1, 1, 1).astype(e.dtype) * e[i]  # from the baseline E' = 0
            return _embedding_gradient(model, x[i], targets[i], emb, fn, values=path)[2]

        return (e * path_sum(len(x), steps, rule, batch_size, grad_at)).sum(axis=-1).astype(e.dtype)


def _cam_tokens(model: Module, x: np.ndarray, targets: np.ndarray, method: str, layer) -> np.ndarray:
    from ..viz.feature_maps import conv_layer_names
    fn = "token_relevance"
    layers = conv_layer_names(model) if layer is None else (list(layer) if isinstance(layer, (list, tuple)) else [layer])
    if not layers:
        raise ValueError(f"{fn}: the model has no convolution layer for {method}")
    out = None
    for spec in layers:
        name, module = resolve_layer(model, spec, fn)
        with untouched(model):
            _, a, g = layer_gradient(model, x, targets, module, fn)
        cam = layer_cam(a, g, method)
        if cam.ndim != 2:
            raise ValueError(f"{fn}: layer {name!r} gives maps of shape {cam.shape[1:]}, not one axis of tokens")
        tokens = cam.astype(np.float64) @ window_tokens(model, name, x.shape[1], x.dtype)
        out = tokens if out is None else out + tokens
    return out.astype(a.dtype)
