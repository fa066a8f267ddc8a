"""A labelled contact sheet of an image filtered by several kernels (Pillow only).

:func:`kernel_sheet` filters one image with each kernel (full resolution), turns
every result into pixels by :func:`cnnkit.filtering.to_display` (edge kernels:
``|r|`` scaled so its 99.5th percentile is white; blurs, sharpen, identity: clipped to ``[0, 255]``), and lays
the original and the results out on a grid, each captioned with the kernel's
name, its matrix and the display rule. Only ``PIL.ImageDraw`` and Pillow's
default font are used (no matplotlib).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._optional import require
from .filtering import display_rule, filter2d, to_display
from .kernels import SEED_KERNELS, _fraction_scale, as_kernel, get_kernel

__all__ = ["SheetPanel", "kernel_panels", "kernel_sheet", "render_sheet"]

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (105, 105, 105)
ACCENT = (30, 90, 170)


@dataclass
class SheetPanel:
    """One cell of the sheet: the displayable pixels (uint8 ``(H, W)`` / ``(H, W, 3)``),
    a title, an optional kernel matrix to draw and a note line."""

    pixels: np.ndarray
    title: str
    kernel: np.ndarray | None = None
    note: str = ""


def kernel_panels(image: np.ndarray, names: Sequence[str] = SEED_KERNELS, border: str = "reflect101",
                  mode: str = "correlate", percentile: float = 99.5) -> list[SheetPanel]:
    """The original image and one panel per kernel name (filtered with
    :func:`filter2d`, shown by :func:`display_rule`)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"kernel_sheet expects a uint8 image, got dtype {image.dtype}")
    panels = [SheetPanel(image, "original", None, f"{image.shape[1]}x{image.shape[0]}, "
                         f"{'RGB' if image.ndim == 3 else 'grayscale'}")]
    for name in names:
        k = get_kernel(name)
        rule = display_rule(k)
        pixels = to_display(filter2d(image, k, border=border, mode=mode), rule, percentile=percentile)
        note = (f"shown as |r|, p{percentile:g} = white" if rule == "abs" else "shown clipped to [0, 255]")
        panels.append(SheetPanel(pixels, name, k, note))
    return panels


# ----------------------------------------------------------------- drawing
def _font(size: int):
    ImageFont = require("PIL.ImageFont", extra="image", purpose="the contact sheet")
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def _text_width(draw, text: str, font) -> float:
    return draw.textlength(text, font=font)


def _wrap(draw, text: str, font, width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` pixels
    (a single word longer than ``width`` gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(draw, f"{lines[-1]} {word}", font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _matrix_cells(kernel: np.ndarray) -> tuple[list[list[str]], str]:
    """Cell strings and a prefix such as ``"1/16 x"`` (empty for integer matrices)."""
    k = as_kernel(kernel).astype(np.float64)
    d = _fraction_scale(k)
    if d is not None:
        cells = [[str(int(v)) for v in row] for row in np.rint(k * d)]
        return cells, ("" if d == 1 else f"1/{d}")
    return [[f"{v:.3g}" for v in row] for row in k], ""


def _matrix_size(draw, kernel: np.ndarray, font, line: int) -> tuple[int, int]:
    cells, prefix = _matrix_cells(kernel)
    col_w = max(_text_width(draw, c, font) for row in cells for c in row)
    ncol = len(cells[0])
    pre_w = _text_width(draw, prefix, font) + 20 if prefix else 0
    return int(pre_w + 12 + ncol * (col_w + 10) + 2), line * len(cells)


def _draw_matrix(draw, xy: tuple[int, int], kernel: np.ndarray, font, line: int) -> None:
    """Right-aligned numbers in columns between square brackets, prefixed by the scale."""
    cells, prefix = _matrix_cells(kernel)
    x, y = xy
    col_w = max(_text_width(draw, c, font) for row in cells for c in row)
    height = line * len(cells)
    if prefix:  # "1/9 x", the cross drawn with lines (the default font lacks the glyph)
        draw.text((x, y + height / 2), prefix, font=font, fill=INK, anchor="lm")
        x += _text_width(draw, prefix, font) + 6
        cy, s = y + height / 2, 3
        draw.line([(x, cy - s), (x + 2 * s, cy + s)], fill=INK, width=1)
        draw.line([(x, cy + s), (x + 2 * s, cy - s)], fill=INK, width=1)
        x += 2 * s + 8
    width = 12 + len(cells[0]) * (col_w + 10)
    for bx, tick in ((x, 5), (x + width, -5)):  # the brackets
        draw.line([(bx + tick, y), (bx, y), (bx, y + height), (bx + tick, y + height)], fill=INK, width=2)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            right = x + 6 + (c + 1) * (col_w + 10) - 4
            draw.text((right, y + r * line + line / 2), cell, font=font, fill=INK, anchor="rm")


def render_sheet(panels: Sequence[SheetPanel], columns: int = 4, tile: int = 384, title: str = "",
                 subtitle: str = ""):
    """Lay ``panels`` out on a grid (``columns`` wide, tiles scaled to at most
    ``tile`` pixels a side) with their captions; returns a ``PIL.Image`` (RGB)."""
    Image = require("PIL.Image", extra="image", purpose="the contact sheet")
    ImageDraw = require("PIL.ImageDraw", extra="image", purpose="the contact sheet")
    if not panels:
        raise ValueError("render_sheet needs at least one panel")
    if columns < 1 or tile < 16:
        raise ValueError(f"columns must be >= 1 and tile >= 16, got columns={columns}, tile={tile}")
    title_font, name_font, body_font = _font(22), _font(17), _font(14)
    pad, gap, line = 16, 8, 18
    h0, w0 = panels[0].pixels.shape[:2]
    scale = min(1.0, tile / max(h0, w0))
    tw, th = max(1, round(w0 * scale)), max(1, round(h0 * scale))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    max_rows = max((p.kernel.shape[0] for p in panels if p.kernel is not None), default=0)
    caption_h = 24 + (max_rows * line + gap if max_rows else 0) + 20
    cell_w = max([tw] + [_matrix_size(probe, p.kernel, body_font, line)[0] for p in panels if p.kernel is not None])
    cell_h = th + gap + caption_h
    rows = -(-len(panels) // columns)
    sheet_w = pad + columns * (cell_w + pad)
    title_lines = _wrap(probe, title, title_font, sheet_w - 2 * pad)
    subtitle_lines = _wrap(probe, subtitle, body_font, sheet_w - 2 * pad)
    title_h = 30 * len(title_lines) + (10 if title_lines else 0) + 20 * len(subtitle_lines) + (4 if subtitle_lines else 0)
    sheet = Image.new("RGB", (sheet_w, title_h + pad + rows * (cell_h + pad)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    ty = pad + 4
    for text in title_lines:
        draw.text((pad, ty), text, font=title_font, fill=INK)
        ty += 30
    ty += 6 if title_lines else 0
    for text in subtitle_lines:
        draw.text((pad, ty), text, font=body_font, fill=MUTED)
        ty += 20
    for n, panel in enumerate(panels):
        r, c = divmod(n, columns)
        x = pad + c * (cell_w + pad)
        y = title_h + pad + r * (cell_h + pad)
        pixels = np.asarray(panel.pixels)
        img = Image.fromarray(pixels).convert("RGB")
        if img.size != (tw, th):
            img = img.resize((tw, th), Image.LANCZOS)
        ix = x + (cell_w - tw) // 2
        sheet.paste(img, (ix, y))
        draw.rectangle([ix - 1, y - 1, ix + tw, y + th], outline=(200, 200, 200))
        ty = y + th + gap
        draw.text((x, ty), panel.title, font=name_font, fill=ACCENT)
        ty += 24
        if panel.kernel is not None:
            _draw_matrix(draw, (x + 2, ty), panel.kernel, body_font, line)
            ty += panel.kernel.shape[0] * line + gap
        if panel.note:
            draw.text((x, ty), panel.note, font=body_font, fill=MUTED)
    return sheet


def kernel_sheet(image: np.ndarray, names: Sequence[str] = SEED_KERNELS, border: str = "reflect101",
                 mode: str = "correlate", columns: int = 4, tile: int = 384, title: str | None = None,
                 percentile: float = 99.5):
    """Filter ``image`` (uint8 ``(H, W)`` or ``(H, W, 3)``) with each named kernel
    and render the labelled contact sheet (a ``PIL.Image``)."""
    panels = kernel_panels(image, names, border, mode, percentile)
    if title is None:
        title = "The classic kernels" if tuple(names) == SEED_KERNELS else f"{len(names)} kernels"
        title += f", filtered with cnnkit.filtering.filter2d ({mode}, border={border})"
    subtitle = (f"Edge kernels (weights sum to 0): |result| scaled so its {percentile:g}th percentile is white. "
                "Other kernels: result rounded and clipped to [0, 255]. Each kernel's matrix is shown below its image.")
    return render_sheet(panels, columns=columns, tile=tile, title=title, subtitle=subtitle)
