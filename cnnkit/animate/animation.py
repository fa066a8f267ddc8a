"""An :class:`Animation`: the frame data, the drawn frames and their GIF encoding."""
from __future__ import annotations

import base64
import html
import io
from numbers import Real
import os

import numpy as np

from .._optional import require
from ..io.atomic import atomic_write
from . import palette
from .frames import FrameData, frame_data
from .render import render_frames

HOLD = 3  # the last frame stays this many frame durations (at least 1.5 s)


class Animation:
    """Frames of one operation. ``data`` is the :class:`FrameData` every frame is drawn
    from; ``frames`` the RGB ``PIL.Image`` frames; ``durations`` milliseconds per frame."""

    def __init__(self, data: FrameData, frames: list, fps: float):
        self.data, self.frames, self.fps = data, frames, fps
        step = round(1000 / fps)
        self.durations = [step] * len(frames)
        if frames:
            self.durations[-1] = max(HOLD * step, 1500)

    @classmethod
    def draw(cls, data: FrameData, numbers: bool = True, fps: float = 2) -> "Animation":
        """Render ``data`` (e.g. read back with :meth:`FrameData.from_dict`)."""
        _check(numbers, fps)
        return cls(data, render_frames(data, numbers=numbers), float(fps))

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        return f"Animation({self.data.title!r}, {len(self.frames)} frames at {self.fps:g} fps)"

    def gif_bytes(self) -> bytes:
        """The GIF: every frame reduced to one fixed palette (:func:`palette.gif_palette`), looping."""
        Image = require("PIL.Image", extra="image", purpose="writing GIF animations")
        colours = palette.gif_palette()
        pal = Image.new("P", (1, 1))
        flat = [v for c in colours for v in c]
        pal.putpalette(flat + flat[-3:] * (256 - len(colours)))
        indexed = [np.asarray(f.quantize(palette=pal, dither=Image.Dither.NONE)) for f in self.frames]
        clear = len(colours)  # a palette slot no pixel uses: "unchanged since the last frame"
        frames = [Image.fromarray(indexed[0], mode="P")]
        for prev, cur in zip(indexed, indexed[1:]):
            frames.append(Image.fromarray(np.where(cur == prev, np.uint8(clear), cur), mode="P"))
        for f in frames:
            f.putpalette(pal.getpalette())
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=self.durations,
                       loop=0, optimize=False, disposal=1, transparency=clear)
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        """Write the GIF atomically (a reader never sees a partial file)."""
        data = self.gif_bytes()
        with atomic_write(path, "animation") as handle:
            handle.write(data)

    def _repr_html_(self) -> str:
        b64 = base64.b64encode(self.gif_bytes()).decode("ascii")
        alt = html.escape(self.data.title, quote=True)
        return f'<img src="data:image/gif;base64,{b64}" alt="{alt}" title="{alt}"/>'


def animate(op: str, *, numbers: bool = True, fps: float = 2, **options) -> Animation:
    """Draw ``op`` (same options as :func:`cnnkit.animate.frame_data`): one frame per output
    cell (per input cell in the transposed ``view="scatter"``; per upstream cell with
    ``backward=True``), ``numbers`` showing the products and sums, ``fps`` frames a second.

    >>> a = animate("conv2d", input_size=4)
    >>> len(a.frames), a.data.output_size_formula
    (4, 'H_out = W_out = floor((4 + 0 + 0 - 1*(3 - 1) - 1) / 1) + 1 = 2')
    """
    _check(numbers, fps)
    return Animation.draw(frame_data(op, **options), numbers=numbers, fps=fps)


def _check(numbers, fps) -> None:
    if not isinstance(numbers, bool):
        raise TypeError(f"numbers must be True or False, got {numbers!r}")
    if not isinstance(fps, Real) or isinstance(fps, bool) or not 0.1 <= fps <= 50:
        raise ValueError(f"fps must be a number between 0.1 and 50, got {fps!r}")

