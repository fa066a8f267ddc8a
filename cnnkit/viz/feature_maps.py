"""Feature maps and kernels as pictures.

:func:`feature_maps` runs a model once (eval mode, no graph) and returns the
output of the chosen layers, recorded with the same forward wrapping as
:func:`cnnkit.summary` (:mod:`cnnkit.analysis.hooks`). :func:`save_feature_grid`
and :func:`save_kernel_grid` draw them with matplotlib, an optional extra
(``pip install cnnkit[plot]``), through its object-oriented API (no pyplot
state, no display needed).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..analysis.hooks import run_recorded
from ..autograd import Tensor
from ..io.atomic import atomic_write
from ..nn.module import Module

__all__ = ["feature_maps", "save_feature_grid", "save_kernel_grid", "conv_layer_names", "following_activations",
           "ACTIVATION_TYPES"]

#: Module types counted as activations by :func:`following_activations`.
ACTIVATION_TYPES = ("ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Maxout", "Softmax", "LogSoftmax")


def _figure(fn_name: str):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{fn_name} needs matplotlib: pip install cnnkit[plot]") from exc
    return Figure


def _as_batch(image, model: Module) -> Tensor:
    arr = image.data if isinstance(image, Tensor) else np.asarray(image)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"feature_maps: image must be a numeric array, got dtype {arr.dtype}")
    convs = conv_layer_names(model)
    first = dict(model.named_modules())[convs[0]] if convs else None
    if first is not None and len(first.weight.shape) == 3:  # a 1-D model: signals (N, C, L) or (C, L)
        if arr.ndim == 2:
            return Tensor(arr[None])
        if arr.ndim != 3:
            raise ValueError(f"feature_maps: a 1-D model takes (C, L) or (N, C, L), got shape {arr.shape}")
        return Tensor(arr)
    if arr.ndim == 2:
        arr = arr[None, None]  # (H, W) -> (1, 1, H, W)
    elif arr.ndim == 3:
        arr = arr[None]  # (C, H, W) -> (1, C, H, W)
    elif arr.ndim != 4:
        raise ValueError(f"feature_maps: image must be (H, W), (C, H, W) or (N, C, H, W), got shape {arr.shape}")
    return Tensor(arr)


def conv_layer_names(model: Module) -> list[str]:
    """Names of the convolution layers (weighted modules with a ``kernel_size``), in definition order."""
    return [name for name, m in model.named_modules()
            if name and hasattr(m, "kernel_size") and m._parameters.get("weight") is not None]


def feature_maps(model: Module, image, layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The outputs of ``layers`` when ``model`` sees ``image``: layer name -> array ``(N, C, H, W)``.

    ``image``: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``; for a model whose
    first convolution is 1-D, ``(C, L)`` or ``(N, C, L)``. It is not cast: give it
    the model's dtype. ``layers``: dotted module names (containers
    allowed); ``None`` means every leaf layer whose output still has spatial
    axes (``ndim >= 3``). A layer called twice appears as ``name`` and ``name#2``.
    The model runs in eval mode under ``no_grad``; the arrays are copies.
    """
    x = _as_batch(image, model)
    names = {name for name, _ in model.named_modules() if name}
    wanted = None if layers is None else list(layers)
    if wanted is not None:
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ValueError(f"feature_maps: layers {unknown} are not in the model; "
                             f"its layers are {sorted(names)}")
    calls = run_recorded(model, x, "feature_maps")
    out: dict[str, np.ndarray] = {}
    for call in calls:
        arr = call.output.data if isinstance(call.output, Tensor) else call.output
        if not isinstance(arr, np.ndarray) or not call.name:
            continue
        if wanted is None and not (call.is_leaf and arr.ndim >= 3):
            continue
        if wanted is not None and call.name not in wanted:
            continue
        key, k = call.name, 2
        while key in out:
            key, k = f"{call.name}#{k}", k + 1
        out[key] = np.array(arr, copy=True)
    if wanted is not None:
        return {n: out[n] for n in wanted if n in out} | {k: v for k, v in out.items() if k not in wanted}
    return out


def following_activations(model: Module, image, layers: Iterable[str]) -> dict[str, str]:
    """For each of ``layers``, the name of the activation module (:data:`ACTIVATION_TYPES`) that is
    applied directly to its output in a forward pass on ``image``, when there is one:
    ``{"conv1": "act1", ...}``. Layers whose output goes elsewhere first are left out."""
    wanted = set(layers)
    calls = run_recorded(model, _as_batch(image, model), "following_activations")
    produced = {id(c.output): c.name for c in calls if c.name in wanted and c.output is not None}
    found: dict[str, str] = {}
    for call in calls:
        if call.type_name in ACTIVATION_TYPES and call.args and id(call.args[0]) in produced:
            found.setdefault(produced[id(call.args[0])], call.name)
    return found


def _save(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (a failed save leaves no partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "picture") as handle:
        fig.savefig(handle, format="png")
    return path


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def save_feature_grid(activations, path: str | Path, title: str | None = None, max_maps: int = 64,
                      cmap: str = "viridis", batched: bool = True,
                      channel_names: Mapping[int, str] | None = None, input_image=None) -> Path:
    """Save one layer's feature maps as a PNG grid, one tile per channel.

    ``activations``: ``(N, C, H, W)`` (sample 0 is drawn) or 1-D maps ``(N, C, L)``
    (drawn as one channels x length image), as :func:`feature_maps` returns them;
    with ``batched=False``, ``(C, H, W)`` or ``(C, L)``.
    Each channel is scaled to its own min..max (a constant channel is drawn flat
    and labelled so); at most ``max_maps`` channels are drawn. The title names the
    layer and the shape; ``channel_names`` adds a name to a channel's label.
    ``input_image`` (2-D maps only): an ``(H, W)`` picture drawn as the first tile,
    labelled "input", so a map can be compared with what produced it.
    """
    if not isinstance(max_maps, int) or isinstance(max_maps, bool) or max_maps < 1:
        raise ValueError(f"save_feature_grid: max_maps must be a positive int, got {max_maps!r}")
    a = np.asarray(activations.data if isinstance(activations, Tensor) else activations, dtype=np.float64)
    shape = a.shape
    if batched:
        if a.ndim not in (3, 4):
            raise ValueError(f"save_feature_grid: activations must be (N, C, H, W) or (N, C, L) "
                             f"(or pass batched=False), got shape {shape}")
        a = a[0]
    elif a.ndim not in (2, 3):
        raise ValueError(f"save_feature_grid: activations must be (C, H, W) or (C, L) with batched=False, "
                         f"got shape {shape}")
    Figure = _figure("save_feature_grid")
    heading = title or "feature maps"
    if a.ndim == 2:  # (C, L): 1-D feature maps as one image, rows are channels
        fig = Figure(figsize=(8, 1.5 + 0.2 * min(a.shape[0], max_maps)), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        rows = a[:max_maps]
        lo, hi = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
        im = ax.imshow((rows - lo) / np.where(hi > lo, hi - lo, 1), aspect="auto", cmap=cmap, interpolation="nearest")
        ax.set_xlabel("position")
        ax.set_ylabel("channel")
        fig.colorbar(im, ax=ax, label="each channel scaled to its min..max")
        fig.suptitle(f"{heading}\nshape {list(shape)}", fontsize=11)
    else:
        channels = a.shape[0]
        n = min(channels, max_maps)
        first = 0
        if input_image is not None:
            picture = np.asarray(input_image, dtype=np.float64)
            if picture.ndim != 2:
                raise ValueError(f"save_feature_grid: input_image must be (H, W), got shape {picture.shape}")
            first = 1
        rows, cols = _grid(n + first)
        tile = max(1.0, min(2.0, 10.0 / cols))
        fig = Figure(figsize=(max(cols * tile, 5.0), rows * tile + 0.9), dpi=100)  # wide enough for the title
        if first:
            ax = fig.add_subplot(rows, cols, 1)
            ax.imshow(picture, cmap="gray", interpolation="nearest")
            ax.set_title("input", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        for c in range(n):
            ax = fig.add_subplot(rows, cols, c + 1 + first)
            m = a[c]
            lo, hi = float(m.min()), float(m.max())
            ax.imshow((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m), cmap=cmap, vmin=0, vmax=1,
                      interpolation="nearest")
            name = f" {channel_names[c]}" if channel_names and c in channel_names else ""
            ax.set_title(f"ch {c}{name}" + ("" if hi > lo else " (const)"), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        note = (f"channels 0-{n - 1} of {channels}" if n < channels
                else "1 channel" if channels == 1 else f"{channels} channels")
        fig.suptitle(f"{heading}\nshape {list(shape)}: {note}, each scaled to its own min..max", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def save_kernel_grid(conv_weight, path: str | Path, title: str | None = None, max_kernels: int = 64,
                     names: Mapping[int, str] | None = None) -> Path:
    """Save a convolution's kernels as a PNG grid.

    ``conv_weight``: ``(O, I, kH, kW)`` or ``(O, I, k)`` (PyTorch layout; a
    Parameter, Tensor or array). With ``I == 3`` each output's kernel is one RGB
    tile (scaled together); otherwise one tile per ``(out, in)`` pair on a
    diverging colormap centred on 0 (red positive, blue negative), with the
    values written in when the kernel is at most 5x5. ``names`` labels output
    kernels (e.g. ``{1: "edge"}``).
    """
    w = np.asarray(conv_weight.data if isinstance(conv_weight, Tensor) else conv_weight, dtype=np.float64)
    if w.ndim == 3:
        w = w[:, :, None, :]
    if w.ndim != 4:
        raise ValueError(f"save_kernel_grid: conv_weight must be (O, I, kH, kW) or (O, I, k), got shape {w.shape}")
    Figure = _figure("save_kernel_grid")
    o, i, kh, kw = w.shape
    rgb = i == 3
    tiles = [(a, None) for a in range(o)] if rgb else [(a, b) for a in range(o) for b in range(i)]
    tiles = tiles[:max_kernels]
    rows, cols = _grid(len(tiles))
    size = max(1.1, min(2.2, 12.0 / cols))
    fig = Figure(figsize=(max(cols * size, 5.0), rows * size + 0.9), dpi=100)
    annotate = kh * kw <= 25 and len(tiles) <= 36
    for t, (a, b) in enumerate(tiles):
        ax = fig.add_subplot(rows, cols, t + 1)
        label = (names or {}).get(a, f"out {a}")
        if rgb:
            k = w[a].transpose(1, 2, 0)
            m = float(np.abs(k).max()) or 1.0
            ax.imshow(0.5 + 0.5 * k / m, interpolation="nearest")
        else:
            k = w[a, b]
            m = float(np.abs(k).max()) or 1.0
            ax.imshow(k, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
            if i > 1:
                label += f", in {b}"
            if annotate:
                for (y, x), v in np.ndenumerate(k):
                    ax.text(x, y, f"{v:.2g}", ha="center", va="center", fontsize=7,
                            color="white" if abs(v) > 0.6 * m else "black")
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    shown = f"{len(tiles)} of {o if rgb else o * i}" if len(tiles) < (o if rgb else o * i) else f"{len(tiles)}"
    fig.suptitle(f"{title or 'kernels'}  weight {list(w.shape)}\n{shown} kernels"
                 + ("" if rgb else ", red > 0 > blue"), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
