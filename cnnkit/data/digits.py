"""Digits as LeNet-5 sees them: the one preparation used by training, evaluation,
``cnnkit features``, ``cnnkit explain`` and the browser explorer.

* :func:`prepare_mnist`: MNIST digits (uint8 ``(N, 28, 28)``, white ink on black) ->
  the network's input ``(N, 1, 32, 32)`` float32: zero-pad 2 on each side (LeNet-5's
  32x32 field), scale to [0, 1], normalise with the training set's mean and std,
  ``x = (pixel / 255 - 0.1307) / 0.3081`` (torchvision's ``Pad(2)``, ``ToTensor()``,
  ``Normalize((0.1307,), (0.3081,))``).
* :func:`to_mnist_digit`: any grey picture of one digit (a photo, a scan, strokes
  drawn on a canvas) -> a 28x28 uint8 digit made the way MNIST's were (LeCun et al.):
  the ink's bounding box scaled, keeping its aspect ratio, so that its longer side
  is 20 pixels (anti-aliased), then placed in a 28x28 field so that the ink's centre
  of mass lies at the field's centre.
"""
from __future__ import annotations

import numpy as np

from .._optional import require

__all__ = ["MNIST_MEAN", "MNIST_STD", "prepare_mnist", "to_mnist_digit", "as_mnist_digit"]

#: Mean and standard deviation of MNIST's 60,000 training pixels, scaled to [0, 1].
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _as_pixels(images, name: str, fn_name: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{fn_name}: {name} must be a numeric array of pixel values 0..255, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{fn_name}: {name} contains NaN or infinity")
    return arr


def prepare_mnist(images) -> np.ndarray:
    """uint8 digits ``(N, 28, 28)`` (or one ``(28, 28)``) with values 0..255 -> float32 ``(N, 1, 32, 32)``.

    ``x = (pad2(pixel) / 255 - 0.1307) / 0.3081``, the padding being 0 (black) before
    normalisation. Float input is taken as pixel values on the same 0..255 scale.
    """
    arr = _as_pixels(images, "images", "prepare_mnist")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise ValueError(f"prepare_mnist: images must have shape (N, 28, 28) or (28, 28), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"prepare_mnist: pixel values must lie in 0..255, got range "
                         f"[{arr.min()}, {arr.max()}]")
    x = np.zeros((len(arr), 1, 32, 32), dtype=np.float32)
    x[:, 0, 2:30, 2:30] = arr
    x *= np.float32(1 / (255 * MNIST_STD))
    x -= np.float32(MNIST_MEAN / MNIST_STD)
    return x


def _ink(image: np.ndarray, invert) -> np.ndarray:
    """The picture as ink intensity in [0, 1] (1 = full ink), white-on-black as MNIST."""
    x = image.astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 0:
        raise ValueError("to_mnist_digit: the image is blank (one constant value), there is no digit to find")
    x = (x - lo) / (hi - lo)
    if invert == "auto":
        # the background is what the border shows: a light border means dark ink on a light page
        border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
        invert = bool(np.median(border) > 0.5)
    elif not isinstance(invert, bool):
        raise TypeError(f"to_mnist_digit: invert must be True, False or 'auto', got {invert!r}")
    return 1.0 - x if invert else x


def to_mnist_digit(image, invert="auto", threshold: float = 0.1) -> np.ndarray:
    """One digit in a grey picture -> uint8 ``(28, 28)``, white ink on black, made as MNIST's digits were.

    ``image``: ``(H, W)`` numeric (any range: it is rescaled to [0, 1] first), or
    ``(H, W, 3|4)`` RGB(A), converted to grey with ITU-R 601-2 luma. ``invert``:
    ``"auto"`` (default) treats a light border as a light page with dark ink and
    inverts it; ``True``/``False`` force it. Pixels with ink above ``threshold``
    (of the full range) define the bounding box, which is scaled (Pillow, Lanczos,
    aspect ratio kept) so that its longer side is 20 pixels, then shifted within
    28x28 so that the centre of mass of the ink is at pixel (14, 14), where MNIST's digits have it (measured: mean 14.0 ± 0.3 over
    the test set; rounded to whole
    pixels; ink pushed past the border is clipped, as in MNIST's tools).

    Raises ``ValueError`` for an image without ink and a bad shape.
    """
    Image = require("PIL.Image", extra="image", purpose="to_mnist_digit (resizing a digit)")
    arr = _as_pixels(image, "image", "to_mnist_digit")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        from ..io.image import rgb_to_gray
        arr = rgb_to_gray(arr[..., :3].astype(np.float64))
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"to_mnist_digit: image must be (H, W) or (H, W, 3), got shape {np.shape(image)}")
    if not 0 <= threshold < 1:
        raise ValueError(f"to_mnist_digit: threshold must be in [0, 1), got {threshold!r}")
    ink = _ink(arr, invert)
    rows, cols = np.nonzero(ink > threshold)
    if rows.size == 0:
        raise ValueError("to_mnist_digit: no ink found above the threshold")
    box = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = box.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # Pillow's (width, height)
    small = np.asarray(Image.fromarray(box.astype(np.float32), mode="F").resize(size, Image.LANCZOS))
    small = np.clip(small, 0.0, 1.0)
    field = np.zeros((28, 28), dtype=np.float64)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    field[top:top + small.shape[0], left:left + small.shape[1]] = small
    mass = field.sum()
    cy = (field.sum(axis=1) * np.arange(28)).sum() / mass
    cx = (field.sum(axis=0) * np.arange(28)).sum() / mass
    dy, dx = int(round(14.0 - cy)), int(round(14.0 - cx))
    shifted = np.zeros_like(field)
    src_r, dst_r = slice(max(0, -dy), min(28, 28 - dy)), slice(max(0, dy), min(28, 28 + dy))
    src_c, dst_c = slice(max(0, -dx), min(28, 28 - dx)), slice(max(0, dx), min(28, 28 + dx))
    shifted[dst_r, dst_c] = field[src_r, src_c]
    return np.round(shifted * 255).astype(np.uint8)


def as_mnist_digit(image, invert="auto") -> np.ndarray:
    """A digit ready for :func:`prepare_mnist`: uint8 ``(28, 28)``, white ink on black.

    A ``(28, 28)`` uint8 image with a dark border is taken to be an MNIST digit already and
    returned unchanged (re-centring it would move MNIST's own digits by a pixel); anything else
    goes through :func:`to_mnist_digit`.
    """
    arr = _as_pixels(image, "image", "as_mnist_digit")
    if arr.shape == (28, 28) and arr.dtype == np.uint8 and invert in ("auto", False):
        border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
        if np.median(border) < 128:
            return arr.copy()
    return to_mnist_digit(arr, invert=invert)
