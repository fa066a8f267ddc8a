"""Pictures in and out of the explorer: uploads checked and decoded, arrays encoded as PNG.

An upload is checked before it is decoded: it must be a format Pillow identifies from its
header (PNG, JPEG, GIF, BMP, WebP, TIFF), and its declared width x height must stay under
``max_pixels`` (a decompression bomb declares a huge canvas in a few bytes; Pillow's own
guard only warns below 179 megapixels). Only then is it decoded, by
:func:`cnnkit.io.image.read_image`, from a temporary file that is removed afterwards.
"""
from __future__ import annotations

import base64
import io
import os
import re
import tempfile
import warnings

import numpy as np

from .._optional import require
from .validate import RequestError

__all__ = ["ALLOWED_FORMATS", "decode_upload", "png_bytes", "png_data_url", "fit_within", "resize"]

#: Pillow format names accepted from uploads.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


def _pil():
    return require("PIL.Image", extra="image", purpose="reading and writing images in the explorer")


def decode_upload(data: bytes, filename: str, max_pixels: int, mode: str | None = None) -> np.ndarray:
    """An uploaded picture as a uint8 ``(H, W)`` or ``(H, W, 3)`` array (``mode`` as in
    :func:`cnnkit.io.image.read_image`: ``None``, ``"L"`` or ``"RGB"``).

    ``RequestError`` 400 for an empty file or one that is not an image, 415 for an image
    format outside :data:`ALLOWED_FORMATS`, 413 for more than ``max_pixels`` pixels.
    """
    Image = _pil()
    from PIL import UnidentifiedImageError

    from ..io.image import read_image

    name = filename or "the upload"
    if not data:
        raise RequestError(f"{name} is empty (0 bytes): choose an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                fmt, (width, height) = img.format, img.size
    except Image.DecompressionBombError as exc:  # over twice Pillow's MAX_IMAGE_PIXELS: refused on open
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        raise RequestError(f"{name} declares {declared}, over the limit of {max_pixels / 1e6:.1f} megapixels "
                           f"(a decompression bomb?)", 413) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise RequestError(f"{name} is not an image (expected PNG, JPEG, GIF, BMP, WebP or TIFF)") from None
    if fmt not in ALLOWED_FORMATS:
        raise RequestError(f"{name} is a {fmt} image; accepted formats: {', '.join(ALLOWED_FORMATS)}", 415)
    if width * height > max_pixels:
        raise RequestError(f"{name} declares {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
                           f"limit of {max_pixels / 1e6:.1f} megapixels (a decompression bomb?)", 413)
    fd, path = tempfile.mkstemp(prefix="cnnkit-upload-", suffix=".img")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            arr = read_image(path, mode)
        except ValueError as exc:  # truncated or corrupt: the message names the temporary path
            raise RequestError(str(exc).replace(path, name)) from None
    finally:
        os.unlink(path)
    if arr.dtype != np.uint8:  # 16-bit grey PNGs: keep the picture, in 8 bits
        arr = (arr.astype(np.float64) * (255 / max(1, np.iinfo(arr.dtype).max))).round().astype(np.uint8)
    return arr


def resize(image: np.ndarray, height: int, width: int, method: str = "lanczos") -> np.ndarray:
    """A uint8 ``(H, W)`` / ``(H, W, 3)`` picture resized to ``height x width`` by Pillow
    (``"lanczos"`` or ``"bilinear"``)."""
    Image = _pil()
    resample = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR}[method]
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((width, height), resample))


def fit_within(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` scaled down (Lanczos, aspect kept) so that its longer side is at most ``side``;
    unchanged when it already fits."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    scale = side / max(h, w)
    return resize(image, max(1, round(h * scale)), max(1, round(w * scale)))


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 ``(H, W)`` or ``(H, W, 3)`` array as PNG bytes."""
    Image = _pil()
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise TypeError(f"png_bytes: expected a uint8 (H, W) or (H, W, 3) array, got {arr.dtype} {arr.shape}")
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=1)  # fast: these travel over localhost
    return buffer.getvalue()


def png_data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
