"""The gallery: Dumoulin & Visin's convolution-arithmetic set (each with its transposed
counterpart), then the study text's own examples, written as GIFs with an ``index.html``
that lists every animation with its configuration, formula and the command that makes it.

Their sizes follow "A guide to convolution arithmetic for deep learning" (2016): e.g.
"padding, strides (odd)" is a 6x6 input, 3x3 kernel, stride 2, padding 1; its
transposed counterpart is drawn as cnnkit computes it, with padding 1 at the top/left
and 2 at the bottom/right of the zero-inserted input (the fix of conv_arithmetic issue #11).
"""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io.atomic import atomic_write
from .animation import animate

__all__ = ["GalleryEntry", "GALLERY", "gallery", "cli_command"]


@dataclass(frozen=True)
class GalleryEntry:
    name: str
    caption: str
    op: str
    options: dict = field(default_factory=dict)


_README_POOL = [[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 4]]  # README's pooling example
_SHARED_MAX = [[1, 0, 2, 1, 0], [3, 2, 4, 0, 1], [0, 5, 9, 6, 2], [2, 1, 7, 3, 0], [1, 0, 2, 4, 1]]
_EDGE = [[3, 3, 2, 0, 0], [3, 3, 3, 0, 1], [2, 3, 3, 1, 0], [3, 3, 3, 0, 0], [3, 2, 3, 0, 1]]

_ARITHMETIC = [
    ("no_padding_no_strides", "No padding, unit strides", dict(input_size=4, kernel_size=3),
     dict(input_size=2, kernel_size=3)),
    ("arbitrary_padding_no_strides", "Arbitrary padding (2), unit strides", dict(input_size=5, kernel_size=4, padding=2),
     dict(input_size=6, kernel_size=4, padding=2)),
    ("same_padding_no_strides", "Half (same) padding, unit strides", dict(input_size=5, kernel_size=3, padding="same"),
     dict(input_size=5, kernel_size=3, padding=1)),
    ("full_padding_no_strides", "Full padding (k - 1), unit strides", dict(input_size=5, kernel_size=3, padding=2),
     dict(input_size=7, kernel_size=3, padding=2)),
    ("no_padding_strides", "No padding, stride 2", dict(input_size=5, kernel_size=3, stride=2),
     dict(input_size=2, kernel_size=3, stride=2)),
    ("padding_strides", "Padding 1, stride 2", dict(input_size=5, kernel_size=3, stride=2, padding=1),
     dict(input_size=3, kernel_size=3, stride=2, padding=1)),
    ("padding_strides_odd", "Padding 1, stride 2, an odd fit (6x6)",
     dict(input_size=6, kernel_size=3, stride=2, padding=1),
     dict(input_size=3, kernel_size=3, stride=2, padding=1, output_padding=1)),
    ("dilation", "Dilation 2, no padding, unit strides", dict(input_size=7, kernel_size=3, dilation=2),
     dict(input_size=3, kernel_size=3, dilation=2)),
]


def _entries() -> list[GalleryEntry]:
    out = []
    for name, caption, conv, transposed in _ARITHMETIC:
        out.append(GalleryEntry(name, caption, "conv2d", conv))
    for name, caption, conv, transposed in _ARITHMETIC:
        out.append(GalleryEntry(f"{name}_transposed", f"{caption}, transposed (direct view: zeros inserted, "
                                "padded, kernel rotated)", "conv_transpose2d", transposed))
    out += [
        GalleryEntry("seed_transposed_scatter", "The study text's example back: 2x2 -> 5x5, each input pixel spreads "
                     "its 9 weighted values, stride 2 apart over the output (scatter view)", "conv_transpose2d",
                     dict(input_size=2, kernel_size=3, stride=2, view="scatter")),
        GalleryEntry("seed_stride2_backward", "The study text's 5x5 -> 2x2 convolution, backward: the input gradient "
                     "is the transposed convolution of the output gradient", "conv2d",
                     dict(input_size=5, kernel_size=3, stride=2, backward=True)),
        GalleryEntry("seed_dilation_1d", "The study text's # - # - #: a 3-tap kernel with dilation 2 sees 5 cells",
                     "conv1d", dict(input_size=9, kernel_size=3, dilation=2)),
        GalleryEntry("seed_sobel_separable", "Sobel as [1,2,1]^T (x) [1,0,-1]: a 3x1 pass, then a 1x3 pass "
                     "(6 weights instead of 9) on an image with an edge", "separable",
                     dict(input=_EDGE, kernel=([1, 2, 1], [1, 0, -1]))),
        GalleryEntry("seed_depthwise_separable", "Depthwise-separable: a 3x3 filter per channel, then 1x1 mixing "
                     "(2 -> 4 channels here; the study text's 16 -> 32 counts are on the frame)", "depthwise-separable",
                     dict(input_size=4, kernel_size=3, channels=2)),
        GalleryEntry("seed_max_pool_backward", "Max pooling backward: each upstream gradient goes to its "
                     "window's maximum", "max_pool2d", dict(input=_README_POOL, kernel_size=2, backward=True)),
        GalleryEntry("seed_avg_pool_backward", "Mean pooling backward on the same input and gradient: spread "
                     "evenly", "avg_pool2d", dict(input=_README_POOL, kernel_size=2, backward=True)),
        GalleryEntry("max_pool_overlap_backward", "Max pooling with overlapping windows (3x3, stride 2): the "
                     "shared maximum collects every window's gradient", "max_pool2d",
                     dict(input=_SHARED_MAX, kernel_size=3, stride=2, backward=True)),
        GalleryEntry("max_pool_ceil_mode", "Max pooling 2x2, stride 2, ceil_mode: a last window hanging "
                     "over the edge", "max_pool2d", dict(input_size=5, kernel_size=2, ceil_mode=True)),
        GalleryEntry("avg_pool_padding", "Mean pooling 3x3, stride 2, padding 1: the divisor counts the "
                     "padding (PyTorch's count_include_pad)", "avg_pool2d",
                     dict(input_size=5, kernel_size=3, stride=2, padding=1)),
        GalleryEntry("grouped_conv", "Grouped convolution: 4 input channels in 2 groups, each group making one "
                     "of the 2 output channels (half the weights)", "conv2d",
                     dict(input_size=4, channels=4, out_channels=2, groups=2)),
        GalleryEntry("avg_pool_padding_exclude", "The same mean pooling with count_include_pad=False: each "
                     "window divides by its input cells only", "avg_pool2d",
                     dict(input_size=5, kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ]
    return out


#: name -> entry, in the order of the index page.
GALLERY: dict[str, GalleryEntry] = {e.name: e for e in _entries()}


def _option_text(value) -> str:
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
        return "x".join(map(str, value))
    return str(value)


def cli_command(op: str, options: dict, out: str) -> str:
    """The ``cnnkit animate`` command line that draws ``op`` with ``options``."""
    flags = {"input_size": "--input", "kernel_size": "--kernel", "stride": "--stride", "padding": "--padding",
             "dilation": "--dilation", "output_padding": "--output-padding", "channels": "--channels",
             "seed": "--seed", "view": "--view", "out_channels": "--out-channels", "groups": "--groups"}
    parts = ["cnnkit", "animate", op]
    for key, value in options.items():
        if key in flags:
            parts += [flags[key], _option_text(value)]
        elif key in ("backward", "ceil_mode") and value:
            parts.append("--" + key.replace("_", "-"))
        elif key == "count_include_pad" and not value:
            parts.append("--no-count-include-pad")
        elif key == "input":
            parts += ["--input-values", f"'{json.dumps(value, separators=(',', ':'))}'"]
        elif key == "kernel":
            parts += ["--kernel-values", f"'{json.dumps(value, separators=(',', ':'))}'"]
    return " ".join(parts + ["--out", out])


def gallery(out_dir: str | os.PathLike, names=None, fps: float = 2) -> list[Path]:
    """Write every :data:`GALLERY` animation (or those in ``names``) to ``out_dir`` as
    ``NAME.gif``, then ``index.html``; returns the paths written, the index last."""
    chosen = list(GALLERY) if names is None else list(names)
    unknown = [n for n in chosen if n not in GALLERY]
    if unknown:
        raise ValueError(f"unknown gallery names {unknown}; known: {', '.join(GALLERY)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for name in chosen:
        entry = GALLERY[name]
        anim = animate(entry.op, fps=fps, **entry.options)
        path = out / f"{name}.gif"
        anim.save(path)
        written.append(path)
        rows.append((entry, anim))
    index = out / "index.html"
    with atomic_write(index, "gallery index") as handle:
        handle.write(_index_html(rows).encode("utf-8"))
    return written + [index]


def _index_html(rows) -> str:
    items = []
    for entry, anim in rows:
        d = anim.data
        esc = html.escape
        items.append(
            f'<section id="{entry.name}"><h2>{esc(entry.caption)}</h2>\n'
            f'<img src="{entry.name}.gif" alt="{esc(d.title)}">\n'
            f"<p><b>{esc(d.title)}</b><br>{esc(d.output_size_formula)}<br>{len(anim)} frames</p>\n"
            f"<pre>{esc(cli_command(entry.op, entry.options, entry.name + '.gif'))}</pre></section>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>cnnkit animate gallery</title>"
            "<style>body{font-family:sans-serif;max-width:1250px;margin:auto}section{margin:2em 0}"
            "img{max-width:100%;border:1px solid #ccc}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}"
            "</style></head><body><h1>cnnkit animate gallery</h1>\n"
            "<p>Every number is computed by cnnkit's own operations (cnnkit.functional) and checked in its tests. "
            "The first sixteen follow Dumoulin &amp; Visin, <i>A guide to convolution arithmetic for deep "
            "learning</i> (2016); the rest are the study text's own examples.</p>\n"
            + "\n".join(items) + "\n</body></html>\n")
