"""The explorer's work: plain functions from checked NumPy input to JSON-ready dicts.

:mod:`cnnkit.serve.app` calls each of them in a worker thread (never on the event loop),
so concurrent clients are served while one of them waits for a forward pass. Every number
they return comes from cnnkit itself:

* digits: :func:`cnnkit.data.to_mnist_digit` (a drawing: ink box scaled to 20x20, centre
  of mass at 14,14, as MNIST made its digits) or :func:`cnnkit.data.as_mnist_digit` (an
  uploaded picture), then :func:`cnnkit.data.prepare_mnist` (pad to 32x32, normalise),
  exactly as in training;
* activations: one forward pass recorded by :func:`cnnkit.analysis.hooks.run_recorded`;
  probabilities: :func:`cnnkit.functional.softmax` of the model's output;
* filtering: :func:`cnnkit.filtering.filter2d`, :func:`cnnkit.kernels.separate`,
  :func:`cnnkit.filtering.to_display`;
* tables: :func:`cnnkit.analysis.summary` (receptive fields included);
* animation frames: :func:`cnnkit.animate.frame_data`; explanations: :mod:`cnnkit.explain`.

Activations and feature maps are sent rounded to :data:`DECIMALS` decimals (they are drawn
as colours; the probabilities are sent unrounded).
"""
from __future__ import annotations

import importlib
import importlib.util
from fractions import Fraction

import numpy as np

from .. import functional as F
from ..analysis.hooks import run_recorded
from ..analysis.summary import describe_field, summary
from ..analysis.receptive_field import AxisField
from ..data import as_mnist_digit, prepare_mnist, to_mnist_digit
from ..viz.feature_maps import conv_layer_names, following_activations
from .models import ModelEntry
from .validate import RequestError

__all__ = ["DECIMALS", "MAX_MAPS", "digit_from_drawing", "digit_from_picture", "predict", "layer_output",
           "model_table", "filter_picture", "filter_probe", "animation_frames", "explanation", "feature_status"]

#: Activations are rounded to this many decimals before they are sent.
DECIMALS = 4
#: At most this many channels of one layer are sent to the Model page.
MAX_MAPS = 64


def _nested(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=np.float64), DECIMALS).tolist()


def _optional_module(name: str, issue: str):
    """``cnnkit.animate`` / ``cnnkit.explain``, or a 501 saying that this build lacks it."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise RequestError(f"this cnnkit has no {name} ({issue}): the panel needs it", 501) from None


def feature_status() -> dict[str, bool]:
    """Which optional parts of cnnkit this build has (the pages hide what is missing)."""
    return {name.split(".")[-1]: importlib.util.find_spec(name) is not None
            for name in ("cnnkit.animate", "cnnkit.explain")}


# ------------------------------------------------------------------ digits
def digit_from_drawing(drawing: np.ndarray) -> np.ndarray:
    """Strokes drawn on a canvas (white ink on black, 0..255, any size) -> MNIST-style uint8 28x28."""
    if drawing.max() - drawing.min() <= 0 or drawing.max() < 255 * 0.1:
        raise RequestError("the drawing is empty: draw a digit first")
    return to_mnist_digit(drawing, invert=False)


def digit_from_picture(picture: np.ndarray) -> np.ndarray:
    """An uploaded picture of one digit (dark on light is inverted) -> MNIST-style uint8 28x28."""
    try:
        return as_mnist_digit(picture)
    except ValueError as exc:
        raise RequestError(f"the picture holds no digit cnnkit can find: {exc}") from None


def model_input(entry: ModelEntry, digit: np.ndarray) -> np.ndarray:
    """The network input for a 28x28 digit: ``prepare_mnist`` for a LeNet-5; for another
    one-channel image model, the digit scaled to [0, 1] and resized to its input size."""
    if entry.kind == "digits":
        return prepare_mnist(digit)
    if entry.kind == "image":
        from .images import resize
        h, w = entry.input_shape[2:]
        picture = np.clip(np.rint(digit), 0, 255).astype(np.uint8)
        if picture.shape != (h, w):
            picture = resize(picture, h, w, "bilinear")
        return (picture.astype(np.float32) / 255)[None, None]
    raise RequestError(f"model {entry.id} takes input {list(entry.input_shape or [])} ({entry.dtype}), not a "
                       f"picture: the explorer shows its table only")


# ----------------------------------------------------------------- predict
def _weighted(module) -> bool:
    return getattr(module, "_parameters", {}).get("weight") is not None


def layer_plan(entry: ModelEntry) -> list[dict]:
    """The layers the Draw page shows, in forward order: every convolution and linear layer
    (after the activation applied to it, when there is one) and every pooling layer; the
    layer whose output is the model's output is marked ``"role": "logits"``."""
    if "plan" in entry.cache:
        return entry.cache["plan"]
    model = entry.pool.model
    x = np.zeros(entry.input_shape, dtype=np.float32)
    with entry.pool.lease() as replica:
        calls = run_recorded(replica, x, "layer plan")
        leaves = [c for c in calls if c.name and c.is_leaf]
        shown = [c.name for c in leaves if _weighted(c.module) or "Pool" in c.type_name]
        after = following_activations(replica, x, shown)
    types = {name: type(m).__name__ for name, m in model.named_modules()}
    final = next((c.name for c in leaves if c.output is calls[0].output), None)
    plan = []
    for name in shown:
        out = next(c.output for c in leaves if c.name == after.get(name, name))
        plan.append({"name": name, "type": types[name], "shows": after.get(name, name),
                     "activation": types.get(after[name]) if name in after else None,
                     "shape": list(out.shape[1:]), "role": "logits" if name == final else "features"})
    entry.cache["plan"] = plan
    return plan


def predict(entry: ModelEntry, digit: np.ndarray, activations: bool = True) -> dict:
    """Class probabilities (and the shown layers' outputs) of a digits model for one digit.

    Returns ``{"predicted", "probabilities": [K], "digit": 28x28 (the model's input before
    padding), "layers": [plan], "activations": {name: nested lists (C, H, W) or (F,)}}``.
    """
    if entry.kind != "digits":
        raise RequestError(f"the Draw page needs a LeNet-5 (a digit classifier); model {entry.id} is "
                           f"{entry.title}")
    x = prepare_mnist(digit)
    plan = layer_plan(entry)
    with entry.pool.lease() as model:
        calls = run_recorded(model, x, "predict")
    logits = calls[0].output.data
    probabilities = F.softmax(logits, dim=1).numpy()[0]
    out = {"predicted": int(probabilities.argmax()), "probabilities": probabilities.astype(float).tolist(),
           "logits": logits[0].astype(float).tolist(),
           "digit": np.asarray(digit).astype(float).tolist(), "layers": plan}
    if activations:
        by_name: dict[str, np.ndarray] = {}
        for c in calls:
            if c.name and c.name not in by_name and c.output is not None:
                by_name[c.name] = c.output.data
        out["activations"] = {view["name"]: _nested(by_name[view["shows"]][0]) for view in plan}
    return out


# -------------------------------------------------------------- model page
def _axis_json(f) -> dict | None:
    if not isinstance(f, AxisField):
        return None
    return {"size": float(f.size), "jump": float(f.jump), "start": float(f.start), "n_read": f.n_read,
            "global": f.is_global, "phased": f.phased, "input_size": f.input_size}


def _frac(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def cam_layers(entry: ModelEntry) -> tuple[list[str], str | None]:
    """Layers Grad-CAM can read (leaf layers whose output keeps the input's spatial axes), and the
    default: the rectified output of the last convolution (Selvaraju et al. use the last conv layer's
    feature maps, after its ReLU), else the last convolution."""
    if "cam" in entry.cache:
        return entry.cache["cam"]
    names, default = [], None
    if entry.input_shape is not None and len(entry.input_shape) >= 3 and np.dtype(entry.dtype).kind == "f":
        x = np.zeros(entry.input_shape, dtype=np.float32)
        with entry.pool.lease() as model:
            calls = run_recorded(model, x, "cam layers")
            convs = conv_layer_names(model)
            after = following_activations(model, x, convs[-1:]) if convs else {}
        names = [c.name for c in calls if c.name and c.is_leaf and c.output is not None
                 and c.output.ndim == len(entry.input_shape)]
        names = list(dict.fromkeys(names))
        default = after.get(convs[-1], convs[-1]) if convs else (names[-1] if names else None)
    entry.cache["cam"] = (names, default)
    return names, default


def model_table(entry: ModelEntry) -> dict:
    """The summary table of ``entry`` (:func:`cnnkit.analysis.summary`) as JSON: one row per
    module call with shapes, parameters, multiply-adds and the receptive field (the table's
    text, plus the numbers per axis so a page can draw a unit's field)."""
    if "table" in entry.cache:
        return entry.cache["table"]
    if entry.input_shape is None:
        raise RequestError(f"model {entry.id} gives no input shape, so no table")
    with entry.pool.lease() as model:
        s = summary(model, entry.input_shape, dtype=np.dtype(entry.dtype), depth=10 ** 6)
    rows = []
    for row in s.rows:
        size, jump, start = describe_field(row.field)
        axes = [_axis_json(f) for f in row.field] if row.field else []
        rows.append({"name": row.name, "type": row.type, "depth": row.depth, "leaf": row.is_leaf,
                     "input_shape": list(row.input_shape) if row.input_shape else None,
                     "output_shape": list(row.output_shape) if row.output_shape else None,
                     "params": row.params, "trainable": row.trainable_params, "macs": row.macs,
                     "rf": {"size": size, "jump": jump, "start": start},
                     "field": axes if axes and all(a is not None for a in axes) else None})
    table = {"model": entry.describe(), "rows": rows, "text": str(s),
             "totals": {"params": s.total_params, "trainable": s.trainable_params, "macs": s.total_macs,
                        "param_bytes": s.param_bytes, "activation_bytes": s.activation_bytes},
             "conv_layers": conv_layer_names(entry.pool.model)}
    table["cam_layers"], table["cam_default"] = cam_layers(entry)
    entry.cache["table"] = table
    return table


def layer_output(entry: ModelEntry, digit: np.ndarray, layer: str) -> dict:
    """What ``layer`` outputs for the digit: ``maps`` ``(C, H, W)`` (at most :data:`MAX_MAPS`
    channels) for spatial outputs, ``vector`` ``(F,)`` otherwise; plus ``input`` (the picture
    the model sees, ``(H, W)``) and the prediction when the model is a classifier."""
    names = {name for name, _ in entry.pool.model.named_modules() if name}
    if layer not in names:
        raise RequestError(f"model {entry.id} has no layer {layer!r:.60}; its layers: {', '.join(sorted(names))}")
    x = model_input(entry, digit)
    with entry.pool.lease() as model:
        calls = run_recorded(model, x, "layer output")
    call = next(c for c in calls if c.name == layer)
    arr = np.asarray(call.output.data)[0]
    out = {"layer": layer, "type": call.type_name, "shape": list(arr.shape), "input": _nested(x[0, 0])}
    if arr.ndim >= 2:
        maps = arr.reshape(arr.shape[0], arr.shape[1], -1) if arr.ndim == 2 else arr
        out["maps"] = _nested(maps[:MAX_MAPS]) if arr.ndim == 3 else _nested(arr[None])
        out["channels_shown"] = min(arr.shape[0], MAX_MAPS) if arr.ndim == 3 else 1
    else:
        out["vector"] = _nested(arr)
    convs = conv_layer_names(entry.pool.model)
    if entry.id == "seed-kernels" and convs and layer == convs[0]:   # the study text's classic kernels, by name
        from ..analysis.zoo import seed_kernel_bank
        out["channel_names"] = list(seed_kernel_bank()[0])
    final = np.asarray(calls[0].output.data)
    if final.ndim == 2 and final.shape[1] > 1:
        probs = F.softmax(final, dim=1).numpy()[0]
        out["predicted"], out["probabilities"] = int(probs.argmax()), probs.astype(float).tolist()
    return out


#: The attribution methods of the Model page (``grad_cam++`` is :func:`cnnkit.explain.grad_cam_plus_plus`,
#: the others are the :mod:`cnnkit.explain` functions of the same names).
EXPLAIN_METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "occlusion", "grad_cam", "grad_cam++")
#: Integrated gradients' steps and occlusion's window / stride in the explorer (small: answers in well under 1 s).
IG_STEPS, OCCLUSION_WINDOW, OCCLUSION_STRIDE = 32, 4, 2


def explanation(entry: ModelEntry, digit: np.ndarray, method: str, target: int | None, layer: str | None) -> dict:
    """An attribution map for the digit, at the input's resolution ``(H, W)``, from :mod:`cnnkit.explain`:
    ``saliency`` ``|d logit / d input|``, ``input_x_gradient`` ``|x * gradient|``, ``integrated_gradients``
    ``|IG|`` from a black picture (:data:`IG_STEPS` midpoint steps), ``occlusion`` the score lost when a
    :data:`OCCLUSION_WINDOW`-pixel square turns black (only losses), all maxed over channels; ``grad_cam``
    and ``grad_cam++`` at ``layer`` (default: the last convolution's rectified output), upsampled."""
    explain = _optional_module("cnnkit.explain", "issue 12")
    x = model_input(entry, digit)
    with entry.pool.lease() as model:
        final = run_recorded(model, x, "explain")[0].output.data
        classes = final.shape[1] if final.ndim == 2 else 0
        if classes < 2:
            raise RequestError(f"model {entry.id} is not a classifier (output {list(final.shape)}): nothing to explain")
        if target is not None and not 0 <= target < classes:
            raise RequestError(f"target must be a class in 0..{classes - 1}, got {target}")
        cls = int(final[0].argmax()) if target is None else target
        if method in ("grad_cam", "grad_cam++"):
            names, default = cam_layers(entry)
            layer = layer or default
            if layer not in names:
                raise RequestError(f"Grad-CAM needs a layer with spatial maps; {entry.id} has {', '.join(names) or 'none'}"
                                   f", got {layer!r:.40}")
            cam = explain.grad_cam if method == "grad_cam" else explain.grad_cam_plus_plus
            raw = np.asarray(cam(model, x, cls, layer, upsample=True))[0]
        else:
            layer = None
            if method == "saliency":
                attr = explain.saliency(model, x, cls)
            elif method == "input_x_gradient":
                attr = explain.input_x_gradient(model, x, cls)
            else:
                black = model_input(entry, np.zeros_like(digit))  # the baseline: the blank canvas as the model sees it
                if method == "integrated_gradients":
                    attr = explain.integrated_gradients(model, x, cls, baseline=black, steps=IG_STEPS)
                else:
                    attr = np.maximum(explain.occlusion(model, x, cls, window=OCCLUSION_WINDOW,
                                                        stride=OCCLUSION_STRIDE, baseline=black), 0)
            raw = np.abs(np.asarray(attr))[0].max(axis=0)
    return {"method": method, "target": cls, "layer": layer, "map": _nested(raw), "input": _nested(x[0, 0]),
            "range": [float(raw.min()), float(raw.max())]}


# ----------------------------------------------------------------- kernels
def filter_picture(image: np.ndarray, kernel: np.ndarray, border: str, mode: str) -> dict:
    """Filter ``image`` with ``kernel`` (:func:`cnnkit.filtering.filter2d`) and say how it is
    shown: ``result`` (uint8 for display), ``rule`` (``"abs"``: weights sum to 0, shown as
    ``|result|`` scaled to its 99.5th percentile; ``"clip"``: rounded and clipped to 0..255),
    the raw result's range and whether the kernel is separable, with its two factors."""
    from ..filtering import display_rule, filter2d, to_display
    from ..kernels import format_kernel, separate

    result = filter2d(image, kernel, border=border, mode=mode)
    rule = display_rule(kernel)
    factors = separate(kernel)
    kh, kw = kernel.shape
    return {
        "result": to_display(result, rule),
        "rule": rule,
        "range": [float(result.min()), float(result.max())],
        "kernel": kernel.tolist(), "kernel_text": format_kernel(kernel), "kernel_sum": float(kernel.sum()),
        "separable": None if factors is None else {"column": factors[0].tolist(), "row": factors[1].tolist()},
        "multiplies": {"direct": kh * kw, "separable": (kh + kw) if factors is not None else None},
    }


def filter_probe(image: np.ndarray, kernel: np.ndarray, border: str, mode: str, y: int, x: int) -> dict:
    """The arithmetic of one output pixel of :func:`filter_picture`: the ``(kh, kw)`` patch of the
    image under the kernel (cells past the edge filled by ``border``), the weights as applied
    (turned 180 degrees for ``mode="convolve"``), their products, and ``value``: the result of
    :func:`cnnkit.filtering.filter2d` at ``(y, x)``, which equals the products' sum."""
    from ..filtering import border_indices, filter2d
    if image.ndim != 2:
        raise RequestError("the arithmetic of one pixel is shown for grey images: tick 'grey'")
    h, w = image.shape
    if not (0 <= y < h and 0 <= x < w):
        raise RequestError(f"pixel ({y}, {x}) is outside the {h}x{w} image")
    kh, kw = kernel.shape
    weights, (ay, ax) = kernel, (kh // 2, kw // 2)
    if mode == "convolve":
        weights, (ay, ax) = kernel[::-1, ::-1], (kh - 1 - kh // 2, kw - 1 - kw // 2)
    rows = border_indices(np.arange(y - ay, y - ay + kh), h, border)
    cols = border_indices(np.arange(x - ax, x - ax + kw), w, border)
    patch = image[np.maximum(rows, 0)][:, np.maximum(cols, 0)].astype(np.float64)
    patch[rows < 0] = 0
    patch[:, cols < 0] = 0
    inside_r = (np.arange(y - ay, y - ay + kh) >= 0) & (np.arange(y - ay, y - ay + kh) < h)
    inside_c = (np.arange(x - ax, x - ax + kw) >= 0) & (np.arange(x - ax, x - ax + kw) < w)
    value = float(filter2d(image, kernel, border=border, mode=mode)[y, x])
    return {"y": y, "x": x, "patch": patch.tolist(), "weights": np.asarray(weights, dtype=np.float64).tolist(),
            "products": (patch * weights).tolist(), "sum": float((patch * weights).sum()), "value": value,
            "outside": (~(inside_r[:, None] & inside_c[None, :])).tolist(), "border": border, "mode": mode}


# -------------------------------------------------------------- arithmetic
def _window_module(op: str, params: dict, ceil_mode: bool):
    """The one-layer cnnkit module of a frame-data configuration (1-D or 2-D), for its receptive field."""
    from .. import nn
    k, s, d = params["kernel_size"], params["stride"], params["dilation"]
    pads = tuple(tuple(p) for p in params["padding"])
    dim = op[-2:]  # "1d" | "2d"
    if dim not in ("1d", "2d"):  # a two-stage op (separable): its field is the stages' together, not one layer's
        return None
    if op.startswith("conv") and not op.startswith("conv_transpose"):
        return getattr(nn, f"Conv{dim}")(1, 1, k, stride=s, padding=pads, dilation=d, bias=False)
    symmetric = tuple(lo for lo, hi in pads) if all(lo == hi for lo, hi in pads) else None
    if symmetric is None:
        return None
    if op.startswith("conv_transpose"):
        return getattr(nn, f"ConvTranspose{dim}")(1, 1, k, stride=s, padding=symmetric, dilation=d, bias=False,
                                                  output_padding=params.get("output_padding") or 0)
    if op.startswith("max_pool"):
        return getattr(nn, f"MaxPool{dim}")(k, stride=s, padding=symmetric, dilation=d, ceil_mode=ceil_mode)
    return getattr(nn, f"AvgPool{dim}")(k, stride=s, padding=symmetric, ceil_mode=ceil_mode)


def animation_frames(op: str, options: dict) -> dict:
    """:func:`cnnkit.animate.frame_data` of ``op`` with ``options`` (its keyword arguments),
    as its ``to_dict()``, plus ``receptive_field``: per axis the field of one output cell
    (:func:`cnnkit.analysis.summary` of the same layer)."""
    animate = _optional_module("cnnkit.animate", "issue 11")
    data = animate.frame_data(op, **options).to_dict()
    module = _window_module(op, data["params"], bool(options.get("ceil_mode", False)))
    field = None
    if module is not None:
        spatial = tuple(np.shape(data["input"])[1:])
        row = summary(module, (1, 1) + spatial, depth=10 ** 6).leaf_rows[-1]
        size, jump, start = describe_field(row.field)
        field = {"text": {"size": size, "jump": jump, "start": start},
                 "axes": [{"size": _frac(f.size), "jump": _frac(f.jump), "start": _frac(f.start),
                           "n_read": f.n_read, "phased": f.phased} for f in row.field if isinstance(f, AxisField)]}
    data["receptive_field"] = field
    return data
