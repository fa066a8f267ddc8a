"""Pictures of the explanation data: overlays, coloured sentences, the depth grid, the sanity figure.

Everything here draws arrays computed by the other modules of :mod:`cnnkit.explain`
and computes nothing of its own beyond scaling for display. Pure NumPy helpers
(:func:`overlay`, :func:`token_colours`, :func:`ansi_sentence`, :func:`html_sentence`)
return arrays and strings; the ``save_*`` functions draw with matplotlib (the
``plot`` extra) and write PNGs atomically.

Colour conventions: signed maps (saliency, input x gradient, integrated gradients,
occlusion, token relevance) are red where the input raises the target logit and
blue where it lowers it, scaled by the largest absolute value; non-negative maps
(Grad-CAM, Grad-CAM++) use the ``inferno`` colormap, yellow at their maximum.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .._optional import require

__all__ = ["SIGNED", "overlay", "token_colours", "ansi_sentence", "html_sentence", "save_explanation",
           "save_overview", "save_sentence_png", "save_depth_grid", "save_sanity_figure", "display_map"]

#: Methods whose maps have a sign (the CAMs are non-negative).
SIGNED = frozenset({"saliency", "input_x_gradient", "integrated_gradients", "occlusion"})
RED, BLUE, WHITE = np.array([0.84, 0.15, 0.16]), np.array([0.13, 0.40, 0.67]), np.ones(3)
TITLES = {"saliency": "saliency (gradient)", "input_x_gradient": "input x gradient",
          "integrated_gradients": "integrated gradients", "occlusion": "occlusion", "grad_cam": "Grad-CAM",
          "grad_cam++": "Grad-CAM++"}


def _figure(purpose: str):
    return require("matplotlib.figure", extra="plot", purpose=purpose).Figure


def _save(fig, path) -> Path:
    from ..viz.feature_maps import _save as save_png
    return save_png(fig, path)


def to_unit(image) -> np.ndarray:
    """An image scaled to ``[0, 1]`` by its own min and max (a constant image gives zeros)."""
    a = np.asarray(image, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def display_map(attr: np.ndarray) -> np.ndarray:
    """A map ``(C, *S)`` or ``(*S)`` for display: ``(*S)``, summed over channels for ``(C, *S)``
    (the sign is kept: the picture shows where the input raised or lowered the logit)."""
    a = np.asarray(attr, dtype=np.float64)
    return a.sum(axis=0) if a.ndim == 3 else a


def _signed_colours(values: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb (..., 3), strength (...))``: red for positive, blue for negative, by ``|v| / scale``."""
    v = np.asarray(values, dtype=np.float64)
    m = float(np.abs(v).max()) if scale is None else float(scale)
    s = np.clip(v / m, -1, 1) if m > 0 else np.zeros_like(v)
    rgb = np.where(s[..., None] >= 0, RED, BLUE)
    return rgb, np.abs(s)


def overlay(image, heat, signed: bool, alpha: float = 0.85) -> np.ndarray:
    """The grey ``image`` ``(H, W)`` with ``heat`` ``(H, W)`` laid over it, RGB ``(H, W, 3)`` in [0, 1].

    The image is dimmed to greys ``0.15..0.6`` so that every heat colour stands out on
    it; each pixel then mixes that grey with the heat colour with weight
    ``alpha * strength`` (strength = ``|heat| / max |heat|``), so cold pixels show the
    image alone. ``signed``: red / blue by sign; otherwise the ``inferno`` colormap
(from its dark red at weak heat to yellow at the maximum), as the map panels.
    """
    grey = (0.15 + 0.45 * to_unit(image))[..., None] * np.ones(3)
    h = np.asarray(heat, dtype=np.float64)
    if h.shape != grey.shape[:2]:
        raise ValueError(f"overlay: heat {h.shape} and image {grey.shape[:2]} must have the same shape")
    if signed:
        colour, strength = _signed_colours(h)
    else:
        m = float(h.max())
        strength = np.clip(h / m, 0, 1) if m > 0 else np.zeros_like(h)
        cmap = require("matplotlib", extra="plot", purpose="overlay").colormaps["inferno"]
        colour = cmap(0.35 + 0.65 * strength)[..., :3]
    w = alpha * strength[..., None]
    return (1 - w) * grey + w * colour


def token_colours(relevance) -> np.ndarray:
    """RGB ``(L, 3)`` in [0, 1] for token relevances ``(L,)``: white at 0, red (for the
    target class) or blue (against it) at the largest ``|r|``."""
    rgb, strength = _signed_colours(np.asarray(relevance, dtype=np.float64))
    return (1 - strength[:, None]) * WHITE + strength[:, None] * rgb


def ansi_sentence(tokens: Sequence[str], relevance) -> str:
    """The tokens with 24-bit ANSI background colours (:func:`token_colours`), black text."""
    parts = []
    for tok, (r, g, b) in zip(tokens, token_colours(relevance)):
        parts.append(f"\x1b[48;2;{round(255 * r)};{round(255 * g)};{round(255 * b)}m\x1b[38;2;0;0;0m{tok}\x1b[0m")
    return " ".join(parts)


def html_sentence(tokens: Sequence[str], relevance, title: str = "", note: str = "") -> str:
    """A standalone HTML page with each token on its :func:`token_colours` background; the
    relevance is in each token's ``title`` (tooltip) and ``data-relevance`` attribute."""
    spans = []
    for tok, rel, (r, g, b) in zip(tokens, np.asarray(relevance, dtype=np.float64), token_colours(relevance)):
        spans.append(f'<span class="tok" style="background: rgb({round(255 * r)}, {round(255 * g)}, '
                     f'{round(255 * b)})" title="{rel:+.4f}" data-relevance="{rel:.6g}">{html.escape(tok)}</span>')
    head = f"<h1>{html.escape(title)}</h1>\n" if title else ""
    foot = f'<p class="note">{html.escape(note)}</p>\n' if note else ""
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            + html.escape(title or "token relevance") + "</title>\n<style>body{font-family:sans-serif;margin:2em}"
            ".tok{padding:0.15em 0.25em;margin:0.1em;border-radius:0.2em;line-height:2.2em}"
            ".note{color:#555}</style></head>\n<body>\n" + head + "<p class=\"sentence\">" + " ".join(spans)
            + "</p>\n" + foot + "</body></html>\n")


def _map_panel(fig, ax, heat: np.ndarray, signed: bool, label: str = "") -> None:
    if signed:
        m = float(np.abs(heat).max()) or 1.0
        im = ax.imshow(heat, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
    else:
        im = ax.imshow(heat, cmap="inferno", vmin=0, vmax=float(heat.max()) or 1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)


def _bare(ax, title: str = "", size: int = 9) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=size)


def save_explanation(path, image, attr, method: str, title: str = "") -> Path:
    """One method's picture: the input, the map (with its scale) and the overlay, side by side.

    ``image`` ``(H, W)`` (what is shown as the input), ``attr`` the method's map for
    that sample (``(C, H, W)`` or ``(H, W)``).
    """
    Figure = _figure("save_explanation")
    heat = display_map(attr)
    signed = method in SIGNED
    fig = Figure(figsize=(8.4, 3.0), dpi=100)
    axes = fig.subplots(1, 3)
    axes[0].imshow(to_unit(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    _bare(axes[0], "input")
    _map_panel(fig, axes[1], heat, signed, "> 0: raises the logit" if signed else "")
    _bare(axes[1], TITLES.get(method, method))
    axes[2].imshow(overlay(image, heat, signed), interpolation="nearest")
    _bare(axes[2], "overlay")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def save_overview(path, image, maps: Mapping[str, np.ndarray], title: str = "") -> Path:
    """The input and every method's overlay in one row (``maps``: method -> map of one sample)."""
    Figure = _figure("save_overview")
    n = len(maps) + 1
    fig = Figure(figsize=(1.9 * n, 2.5), dpi=100)
    axes = fig.subplots(1, n)
    axes[0].imshow(to_unit(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    _bare(axes[0], "input")
    for ax, (method, attr) in zip(axes[1:], maps.items()):
        ax.imshow(overlay(image, display_map(attr), method in SIGNED), interpolation="nearest")
        _bare(ax, TITLES.get(method, method))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def save_sentence_png(path, tokens: Sequence[str], relevance, title: str = "", width: float = 7.5) -> Path:
    """The coloured sentence as a PNG (for pages that cannot show HTML colours), wrapped to ``width`` inches."""
    Figure = _figure("save_sentence_png")
    colours = token_colours(relevance)
    fig = Figure(figsize=(width, 1.0), dpi=110)
    agg = require("matplotlib.backends.backend_agg", extra="plot", purpose="save_sentence_png")
    renderer = agg.FigureCanvasAgg(fig).get_renderer()  # to measure the words
    size, pad = 13, 4.0  # font size (points), padding (pixels)
    dpi = fig.dpi
    x, line, lines = pad, 0, [[]]
    placed = []
    for tok, colour in zip(tokens, colours):
        t = fig.text(0, 0, tok, fontsize=size, family="DejaVu Sans")
        w = t.get_window_extent(renderer).width + 2 * pad
        t.remove()
        if x + w > width * dpi - pad and lines[-1]:
            x, line = pad, line + 1
            lines.append([])
        placed.append((tok, colour, x, line))
        lines[-1].append(tok)
        x += w + pad
    line_h = 2.0 * size * dpi / 72
    top = (1.6 if title else 0.6) * size * dpi / 72
    height = (top + line_h * (line + 1) + pad * 3) / dpi
    fig.set_size_inches(width, height)
    H = height * dpi
    if title:
        fig.text(pad / (width * dpi), 1 - 0.8 * size * dpi / 72 / H, title, fontsize=10, color="#333", va="center")
    for tok, colour, x0, ln in placed:
        y = 1 - (top + line_h * (ln + 0.5)) / H
        fig.text((x0 + pad) / (width * dpi), y, tok, fontsize=size, family="DejaVu Sans", va="center",
                 bbox=dict(boxstyle="round,pad=0.25", facecolor=tuple(colour), edgecolor="none"))
    return _save(fig, path)


def save_depth_grid(path, grid, title: str = "", columns: int = 10, tile: float = 0.8) -> Path:
    """The depth grid: per layer, every unit's optimised input (each scaled to its own range)
    on the whole input canvas with the unit's receptive field drawn as a red box, to scale.
    Layers whose field is at most a quarter of the input also get a row of the field alone,
    enlarged. ``tile``: inches per picture."""
    Figure = _figure("save_depth_grid")
    from matplotlib.patches import Rectangle

    gap, head, top = 0.1, 0.32, (0.5 if title else 0.15)
    size = grid.input_shape[1:]
    blocks = []  # (layer, rows of units, zoomed?)
    for layer in grid.layers:
        rows = math.ceil(len(layer.units) / columns)
        zoom = layer.field_size is not None and all(f * 4 <= n for f, n in zip(layer.field_size, size))
        blocks.append((layer, rows, zoom))
    height = top + sum(head + (rows * (2 if zoom else 1)) * (tile + gap) + (head * 0.7 if zoom else 0)
                       for _, rows, zoom in blocks) + gap
    width = columns * (tile + gap) + gap
    fig = Figure(figsize=(width, height), dpi=100)
    if title:
        fig.text(gap / width, 1 - 0.25 / height, title, fontsize=10, va="center")
    y = height - top

    def place(k: int, row_top: float):
        r, c = divmod(k, columns)
        return fig.add_axes([(gap + c * (tile + gap)) / width, (row_top - (r + 1) * (tile + gap) + gap) / height,
                             tile / width, tile / height])

    for layer, rows, zoom in blocks:
        field = ("the whole input" if layer.field_size is None
                 else "x".join(str(s) for s in layer.field_size) + " pixels of the input")
        gain = np.median([u.final - u.start for u in layer.units])
        fig.text(gap / width, (y - head / 2) / height,
                 f"{layer.name}: {len(layer.units)} units, receptive field {field}; "
                 f"median activation {np.median([u.start for u in layer.units]):+.2f} -> "
                 f"{np.median([u.final for u in layer.units]):+.2f} ({gain:+.2f})", fontsize=9, va="center")
        y -= head
        for k, u in enumerate(layer.units):
            ax = place(k, y)
            pattern = u.pattern[0] if u.pattern.ndim == 3 else u.pattern
            ax.imshow(to_unit(pattern), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if u.box is not None and layer.field_size is not None:
                (r0, r1), (c0, c1) = u.box
                ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                                       edgecolor=(1.0, 0.15, 0.15), linewidth=0.9))
            _bare(ax)
            ax.text(0.03, 0.97, str(u.channel), transform=ax.transAxes, fontsize=7, color="yellow", va="top")
        y -= rows * (tile + gap)
        if zoom:
            fig.text(gap / width, (y - head * 0.35) / height, "the same, the receptive field alone, enlarged:",
                     fontsize=8, va="center", color="#444")
            y -= head * 0.7
            for k, u in enumerate(layer.units):
                (r0, r1), (c0, c1) = u.box
                ax = place(k, y)
                pattern = u.pattern[0] if u.pattern.ndim == 3 else u.pattern
                ax.imshow(to_unit(pattern[r0:r1 + 1, c0:c1 + 1]), cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
                _bare(ax)
            y -= rows * (tile + gap)
    return _save(fig, path)


def save_sanity_figure(path, results: Sequence, image, sample: int = 0, title: str = "") -> Path:
    """Adebayo et al.'s Fig. 2 kind: one row per method (``SanityResult``): the input, the trained
    model's map and each cascading step's map for ``sample`` (``|map|``, each scaled to its own
    maximum), and the shuffled-label model's map when there is one; below, per step, the
    Spearman rank correlation and the SSIM with the trained map, averaged over the samples."""
    Figure = _figure("save_sanity_figure")
    first = results[0]
    has_data = any(r.data_randomization is not None for r in results)
    steps = [name if k == 0 else f"+{name}" for k, name in enumerate(first.layers)]
    heads = ["input", "trained"] + steps + (["shuffled"] if has_data else [])
    cols, n = len(heads), len(results)
    cell = 1.15
    fig = Figure(figsize=(cols * cell + 1.4, n * cell + 4.0), dpi=100)
    grid = fig.add_gridspec(n + 2, cols, height_ratios=[cell] * n + [0.5, 2.6], left=0.1, right=0.98,
                            top=1 - 0.85 / (n * cell + 4.0), bottom=0.08, hspace=0.12, wspace=0.06)
    for i, r in enumerate(results):
        cells = [None, r.original[sample]] + [m[sample] for m in r.maps]
        if has_data:
            cells.append(None if r.data_randomization is None else r.data_randomization.maps[sample])
        for j, cell_map in enumerate(cells):
            ax = fig.add_subplot(grid[i, j])
            _bare(ax, heads[j] if i == 0 else "", size=8)
            if j == 0:
                ax.imshow(to_unit(image), cmap="gray", interpolation="nearest")
                ax.set_ylabel(TITLES.get(r.method, r.method).replace(" (gradient)", ""), fontsize=8)
            elif cell_map is not None:
                a = display_map(cell_map)
                a = np.abs(a) if r.absolute else a
                m = float(np.abs(a).max()) or 1.0
                ax.imshow(a / m, cmap="inferno" if r.absolute else "RdBu_r", vmin=0 if r.absolute else -1, vmax=1,
                          interpolation="nearest")
            else:
                ax.set_axis_off()
    x = np.arange(len(steps) + 1)
    labels = ["trained"] + steps
    half = cols // 2
    panels = [fig.add_subplot(grid[n + 1, :half]), fig.add_subplot(grid[n + 1, half:])]
    for ax, what, key in zip(panels, ("Spearman rank correlation", "SSIM"), ("correlations", "ssim")):
        for k, r in enumerate(results):
            ys = np.r_[1.0, getattr(r, key)]
            ax.plot(x, ys, "o-", color=f"C{k}", markersize=4, label=TITLES.get(r.method, r.method))
            if r.data_randomization is not None:
                d = r.data_randomization.correlation if key == "correlations" else r.data_randomization.ssim
                ax.plot([x[-1] + 1], [d], "D", color=f"C{k}", markersize=5)
        ax.axhline(0, color="#888", linewidth=0.8)
        ticks = labels + (["shuffled"] if has_data else [])
        ax.set_xticks(np.arange(len(ticks)))
        ax.set_xticklabels(ticks, fontsize=7, rotation=30)
        ax.set_ylim(-0.3, 1.05)
        ax.set_title(f"{what} with the trained map", fontsize=9)
        ax.tick_params(labelsize=7)
    panels[0].legend(fontsize=7, loc="lower left", ncol=2)
    what = "|maps|" if first.absolute else "maps"
    fig.text(0.5, 1 - 0.32 / (n * cell + 4.0), (title + "\n" if title else "")
             + f"layers re-initialised from the logits down, cumulatively; {what} of input 0 shown, each scaled "
             f"to its own maximum; curves: mean over {len(first.targets)} inputs",
             ha="center", va="center", fontsize=9)
    return _save(fig, path)
