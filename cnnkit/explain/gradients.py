"""Gradient attributions: saliency, input x gradient, integrated gradients.

For a model ``f`` returning logits and a target class ``c`` per sample, with
``S(x) = f(x)[c]`` the target logit (before the softmax, as Simonyan et al. and
Captum):

* ``saliency``: ``dS/dx`` (Simonyan, Vedaldi & Zisserman 2014), signed. Simonyan's
  picture is ``max_c |dS/dx_c|``; Captum's ``Saliency`` returns ``|dS/dx|`` by
  default. Both are a renderer's step here (:mod:`cnnkit.explain.render`), so the
  array keeps the sign;
* ``input_x_gradient``: ``x * dS/dx`` (Shrikumar et al. 2016);
* ``integrated_gradients``: ``(x - x') * integral_0^1 dS/dx (x' + a (x - x')) da``
  (Sundararajan, Taly & Yan 2017) from the baseline ``x'`` (zeros by default),
  with the integral approximated by a Riemann sum over ``steps`` points (rules
  below). *Completeness*: the attributions of a sample sum to ``S(x) - S(x')``
  up to the discretisation error, which ``return_delta=True`` reports.

Every function takes a batch ``(N, C, *S)`` (NumPy array or Tensor, of the
model's dtype) and returns a NumPy array of the same shape and dtype; ``target``
is an int, one class per sample, or ``None`` for the predicted class.
"""
from __future__ import annotations

import numpy as np

from ..nn.module import Module
from ._common import (as_images, broadcast_baseline, check_positive_int, chunks, input_gradient, resolve_targets,
                      scores_of, untouched)

__all__ = ["saliency", "input_x_gradient", "integrated_gradients", "riemann_points", "path_sum", "RULES"]

#: Riemann rules for :func:`integrated_gradients`.
RULES = ("left", "right", "middle", "trapezoid")


def saliency(model: Module, input, target=None) -> np.ndarray:
    """``dS/dx``: the gradient of the target logit with respect to the input, ``(N, C, *S)``."""
    x = as_images(model, input, "saliency")
    targets = resolve_targets(model, x, target, "saliency")
    with untouched(model):
        return input_gradient(model, x, targets, "saliency")[1]


def input_x_gradient(model: Module, input, target=None) -> np.ndarray:
    """``x * dS/dx``, ``(N, C, *S)`` (gradient times input)."""
    x = as_images(model, input, "input_x_gradient")
    targets = resolve_targets(model, x, target, "input_x_gradient")
    with untouched(model):
        return x * input_gradient(model, x, targets, "input_x_gradient")[1]


def riemann_points(steps: int, rule: str = "middle") -> tuple[np.ndarray, np.ndarray]:
    """``(alphas, weights)``: the ``steps`` points in ``[0, 1]`` and their weights (summing to 1).

    * ``left``:  ``a_k = k / m``, ``k = 0..m-1``, weights ``1/m``;
    * ``right``: ``a_k = k / m``, ``k = 1..m`` (Sundararajan et al.'s eq. 3), weights ``1/m``;
    * ``middle``: ``a_k = (k + 1/2) / m``, weights ``1/m`` (error O(1/m^2) where the
      integrand is smooth);
    * ``trapezoid``: ``a_k = k / (m - 1)``, ``k = 0..m-1``, weights ``1/(m-1)``, halved at both ends
      (``steps >= 2``).
    """
    m = check_positive_int(steps, "steps", "integrated_gradients")
    if rule == "left":
        return np.arange(m) / m, np.full(m, 1 / m)
    if rule == "right":
        return np.arange(1, m + 1) / m, np.full(m, 1 / m)
    if rule == "middle":
        return (np.arange(m) + 0.5) / m, np.full(m, 1 / m)
    if rule == "trapezoid":
        if m < 2:
            raise ValueError(f"integrated_gradients: the trapezoid rule needs steps >= 2, got {m}")
        w = np.full(m, 1 / (m - 1))
        w[[0, -1]] /= 2
        return np.arange(m) / (m - 1), w
    raise ValueError(f"integrated_gradients: rule must be one of {RULES}, got {rule!r}")


def path_sum(n: int, steps: int, rule: str, batch_size: int, grad_at) -> np.ndarray:
    """``sum_k w_k grad_at(i, a_k)`` for every sample ``i < n``: the Riemann sum of
    :func:`riemann_points` over a straight path, evaluated in batches of ``batch_size``
    (sample, point) rows. ``grad_at(samples (B,), alphas (B,))`` returns the gradients
    ``(B, ...)`` at those points. Returns float64 ``(n, ...)``."""
    alphas, weights = riemann_points(steps, rule)
    batch = check_positive_int(batch_size, "batch_size", "integrated_gradients")
    m = len(alphas)
    rows_sample, rows_point = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)  # row r: sample r // m, point r % m
    total = None
    for sl in chunks(n * m, batch):
        i, k = rows_sample[sl], rows_point[sl]
        g = grad_at(i, alphas[k])
        if total is None:
            total = np.zeros((n,) + g.shape[1:], dtype=np.float64)
        np.add.at(total, i, weights[k].reshape((-1,) + (1,) * (g.ndim - 1)) * g)
    return total


def integrated_gradients(model: Module, input, target=None, baseline=None, steps: int = 50, *,
                         rule: str = "middle", batch_size: int = 256, return_delta: bool = False):
    """Integrated gradients from ``baseline`` (default zeros) to ``input``, ``(N, C, *S)``.

    ``attr = (x - x') * sum_k w_k dS/dx (x' + a_k (x - x'))`` with the points and
    weights of :func:`riemann_points` (``rule``, default the midpoint rule).
    ``baseline``: a number or an array broadcastable to the input. The ``N * steps``
    gradients are computed in batches of ``batch_size`` rows.

    With ``return_delta=True`` returns ``(attr, delta)``, ``delta`` ``(N,)`` float64:
    ``sum(attr_i) - (S(x_i) - S(x'_i))``, the completeness gap (Captum's
    "convergence delta").
    """
    fn = "integrated_gradients"
    x = as_images(model, input, fn)
    base = broadcast_baseline(baseline, x, fn)
    targets = resolve_targets(model, x, target, fn)
    diff = x - base

    def grad_at(i: np.ndarray, a: np.ndarray) -> np.ndarray:
        points = base[i] + a.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype) * diff[i]
        return input_gradient(model, points, targets[i], fn)[1]

    with untouched(model):
        attr = (diff * path_sum(len(x), steps, rule, batch_size, grad_at)).astype(x.dtype)
        if not return_delta:
            return attr
        gap = scores_of(model, x, targets, fn) - scores_of(model, base, targets, fn)
    delta = attr.reshape(len(x), -1).sum(axis=1, dtype=np.float64) - gap
    return attr, delta
