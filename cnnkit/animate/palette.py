"""Every colour an animation uses, in one place: the Okabe–Ito colour-blind-safe
palette (Okabe & Ito 2008, "Color Universal Design") and light tints of it.

Roles never rely on colour alone: padding is hatched, inserted zeros have a dotted
outline, the kernel footprint and the current cell get thick outlines, and every
grid is labelled in words.
"""
from __future__ import annotations

RGB = tuple[int, int, int]

# Okabe–Ito
BLACK: RGB = (0, 0, 0)
ORANGE: RGB = (230, 159, 0)
SKY_BLUE: RGB = (86, 180, 233)
BLUISH_GREEN: RGB = (0, 158, 115)
YELLOW: RGB = (240, 228, 66)
BLUE: RGB = (0, 114, 178)
VERMILLION: RGB = (213, 94, 0)
REDDISH_PURPLE: RGB = (204, 121, 167)


def tint(colour: RGB, amount: float) -> RGB:
    """``colour`` mixed with white: ``amount`` 1 is the colour, 0 is white."""
    return tuple(round(255 - (255 - c) * amount) for c in colour)  # type: ignore[return-value]


WHITE: RGB = (255, 255, 255)
INK: RGB = (25, 25, 25)
MUTED: RGB = (105, 105, 105)
GRID_LINE: RGB = (120, 120, 120)

INPUT = tint(SKY_BLUE, 0.35)          # input cells
PADDING = (226, 226, 226)             # padding (hatched)
HATCH = (168, 168, 168)
INSERTED = WHITE                      # zeros inserted by a strided transposed convolution (dotted outline)
KERNEL = tint(ORANGE, 0.30)           # kernel weights
FOOTPRINT = ORANGE                    # outline of the cells the kernel reads
FOOTPRINT_FILL = tint(ORANGE, 0.55)
OUTPUT = tint(BLUISH_GREEN, 0.30)     # computed output cells
CURRENT = BLUE                        # outline of the cell being computed (and of a max pool's argmax)
CURRENT_FILL = tint(BLUISH_GREEN, 0.60)
GRADIENT = tint(REDDISH_PURPLE, 0.30)  # gradient arrays
GRADIENT_NEW = tint(REDDISH_PURPLE, 0.60)

#: The colours a GIF frame is reduced to (with grey steps for anti-aliased text).
_BASE = [WHITE, INK, MUTED, GRID_LINE, INPUT, PADDING, HATCH, KERNEL, FOOTPRINT, FOOTPRINT_FILL, OUTPUT,
         CURRENT, CURRENT_FILL, GRADIENT, GRADIENT_NEW, BLACK, ORANGE, SKY_BLUE, BLUISH_GREEN, BLUE,
         REDDISH_PURPLE, VERMILLION, YELLOW]


def gif_palette() -> list[RGB]:
    """The fixed palette of every GIF: the role colours, each blended with the ink
    colour in a few steps (anti-aliased text on every background), and greys."""
    out: list[RGB] = []
    for base in _BASE:
        for t in (0.0, 0.25, 0.5, 0.75):
            c = tuple(round(b + (i - b) * t) for b, i in zip(base, INK))
            if c not in out:
                out.append(c)  # type: ignore[arg-type]
    for g in range(0, 256, 17):
        if (g, g, g) not in out:
            out.append((g, g, g))
    return out[:256]
