"""Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhay et al. 2018), for
convolution layers of any number of spatial axes (1-D text, 2-D images, 3-D).

With ``A`` the output ``(N, K, *S_l)`` of the chosen layer and ``g = dS/dA`` the
gradient of the target logit with respect to it:

* Grad-CAM: ``alpha_k = mean over S_l of g_k``, ``map = ReLU(sum_k alpha_k A_k)``;
* Grad-CAM++ (eq. 19 of the paper, with higher derivatives of ``exp(S)`` written
  through ``g``)::

      a_k(u) = g_k(u)^2 / (2 g_k(u)^2 + sum_v A_k(v) g_k(u)^3)     (0 where g_k(u) = 0)
      w_k = sum_u a_k(u) ReLU(g_k(u)),   map = ReLU(sum_k w_k A_k)

``upsample=False`` returns the map at the layer's resolution ``(N, *S_l)``;
``upsample=True`` resizes it to the input's spatial size ``(N, *S)`` by linear
interpolation with half-pixel centres (:func:`resize_linear`, as
``torch.nn.functional.interpolate(..., align_corners=False)`` and ``cv2.resize``).
The maps are not rescaled: ``pytorch_grad_cam`` scales each to ``[0, 1]``; the
renderers here do that for display.

The input is images ``(N, C, *S)`` or token ids ``(N, L)`` (then ``S = (L,)``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..nn.module import Module
from ._common import as_model_input, layer_gradient, resolve_layer, resolve_targets, spatial_axes, untouched

__all__ = ["grad_cam", "grad_cam_plus_plus", "cam_weights", "layer_cam", "resize_linear", "default_layer", "CAM_METHODS"]

CAM_METHODS = ("grad_cam", "grad_cam++")


def cam_weights(activations: np.ndarray, grads: np.ndarray, method: str = "grad_cam") -> np.ndarray:
    """The channel weights ``(N, K)`` of Grad-CAM (``"grad_cam"``) or Grad-CAM++ (``"grad_cam++"``)."""
    axes = tuple(range(2, grads.ndim))
    if method == "grad_cam":
        return grads.mean(axis=axes)
    if method == "grad_cam++":
        g2 = grads * grads
        total = activations.sum(axis=axes, keepdims=True)
        denom = 2 * g2 + total * g2 * grads
        a = np.divide(g2, denom, out=np.zeros_like(g2), where=(grads != 0) & (denom != 0))
        return (a * np.maximum(grads, 0)).sum(axis=axes)
    raise ValueError(f"cam method must be one of {CAM_METHODS}, got {method!r}")


def layer_cam(activations: np.ndarray, grads: np.ndarray, method: str = "grad_cam") -> np.ndarray:
    """``ReLU(sum_k w_k A_k)`` ``(N, *S_l)`` from a layer's output and its gradient ``(N, K, *S_l)``."""
    if activations.ndim < 3:
        raise ValueError(f"{method}: the layer's output has shape {activations.shape}, without spatial axes; "
                         f"choose a convolution (or pooling) layer")
    w = cam_weights(activations, grads, method)
    cam = np.einsum("nk,nk...->n...", w, activations)
    return np.maximum(cam, 0).astype(activations.dtype)


def resize_linear(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize ``(N, *S_in)`` to ``(N, *size)`` by linear interpolation along each axis.

    Half-pixel centres (output pixel ``o`` samples input coordinate
    ``(o + 0.5) * in / out - 0.5``, clamped to the input), as
    ``torch.nn.functional.interpolate(mode="linear"/"bilinear"/"trilinear", align_corners=False)``.
    """
    out = np.asarray(maps)
    if out.ndim - 1 != len(size):
        raise ValueError(f"resize_linear: maps (N, *S) with {out.ndim - 1} spatial axes cannot take size {tuple(size)}")
    for axis, new in enumerate(size, start=1):
        old = out.shape[axis]
        if new == old:
            continue
        src = np.maximum((np.arange(new) + 0.5) * (old / new) - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), old - 1)
        hi = np.minimum(lo + 1, old - 1)
        frac = (src - lo).astype(out.dtype if np.issubdtype(out.dtype, np.floating) else np.float64)
        shape = [1] * out.ndim
        shape[axis] = new
        frac = frac.reshape(shape)
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def default_layer(model: Module, input, fn: str) -> str:
    """The usual Grad-CAM layer: the rectified output of the model's last convolution (the
    activation module applied to it, LeNet-5's ``act2``), or the convolution itself when
    its activation is not a module of its own (TextCNN applies ``F.relu``)."""
    from ..viz.feature_maps import conv_layer_names, following_activations
    convs = conv_layer_names(model)
    if not convs:
        raise ValueError(f"{fn}: the model has no convolution layer; pass layer= (a layer with spatial axes)")
    if np.issubdtype(input.dtype, np.integer):  # token ids: the text models here apply F.relu
        return convs[-1]
    return following_activations(model, input[:1], [convs[-1]]).get(convs[-1], convs[-1])


def _cam(model: Module, input, target, layer, upsample: bool, method: str) -> np.ndarray:
    x = as_model_input(model, input, method)
    _, module = resolve_layer(model, default_layer(model, x, method) if layer is None else layer, method)
    targets = resolve_targets(model, x, target, method)
    with untouched(model):
        _, a, g = layer_gradient(model, x, targets, module, method)
    cam = layer_cam(a, g, method)
    if upsample:
        size = tuple(x.shape[i] for i in spatial_axes(x))
        if len(size) != cam.ndim - 1:
            raise ValueError(f"{method}: the layer's map {cam.shape} has {cam.ndim - 1} spatial axes, the input "
                             f"{len(size)}; pass upsample=False")
        cam = resize_linear(cam, size)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else a.dtype
    return cam.astype(dtype, copy=False)


def grad_cam(model: Module, input, target=None, layer=None, upsample: bool = True) -> np.ndarray:
    """Grad-CAM of ``layer`` (a name from ``model.named_modules()`` such as ``"conv2"``, or the
    module; ``None``: the rectified output of the last convolution, LeNet-5's ``act2``,
    see :func:`default_layer`).

    Returns ``(N, *S)`` (``upsample=True``, the input's spatial size) or ``(N, *S_layer)``.
    """
    return _cam(model, input, target, layer, upsample, "grad_cam")


def grad_cam_plus_plus(model: Module, input, target=None, layer=None, upsample: bool = True) -> np.ndarray:
    """Grad-CAM++ of ``layer``; shapes as :func:`grad_cam`."""
    return _cam(model, input, target, layer, upsample, "grad_cam++")
