"""Real sample images for examples, tests and the CLI (``sample:NAME``).

They come from scikit-image's bundled data (``skimage.data``; nothing is
downloaded), the optional ``samples`` extra: ``pip install -e ".[samples]"``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ._optional import require
from .io.image import read_image, to_mode

__all__ = ["SAMPLES", "sample_image", "load_image", "SAMPLE_PREFIX"]

#: Sample name -> description. All ship inside the scikit-image wheel.
SAMPLES: dict[str, str] = {
    "camera": "cameraman, 512x512 grayscale",
    "astronaut": "Eileen Collins, 512x512 RGB",
    "coins": "Greek coins, 303x384 grayscale",
    "moon": "lunar surface, 512x512 grayscale",
    "page": "scanned text page, 191x384 grayscale",
    "text": "text in a photo, 172x448 grayscale",
    "clock": "clock with motion blur, 300x400 grayscale",
    "brick": "brick wall texture, 512x512 grayscale",
    "grass": "grass texture, 512x512 grayscale",
    "gravel": "gravel texture, 512x512 grayscale",
    "cell": "cell under a microscope, 660x550 grayscale",
    "checkerboard": "checkerboard, 200x200 grayscale",
    "chelsea": "Chelsea the cat, 300x451 RGB",
    "coffee": "coffee cup, 400x600 RGB",
    "rocket": "Falcon 9 launch, 427x640 RGB",
    "colorwheel": "colour wheel, 370x371 RGB",
    "immunohistochemistry": "stained tissue, 512x512 RGB",
    "hubble_deep_field": "Hubble deep field, 872x1000 RGB",
}

#: Prefix that makes the CLI read a sample instead of a file: ``sample:camera``.
SAMPLE_PREFIX = "sample:"


def sample_image(name: str, mode: Optional[str] = None) -> np.ndarray:
    """A scikit-image sample as a uint8 ``(H, W)`` or ``(H, W, 3)`` array
    (``mode`` as in :func:`cnnkit.io.read_image`). ``ValueError`` for unknown
    names (listing the known ones), :class:`~cnnkit._optional.MissingDependency` (an
    ``ImportError``) when scikit-image is missing."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample image {name!r}; known samples: {', '.join(SAMPLES)}")
    skdata = require("skimage.data", extra="samples", purpose=f"the sample image {SAMPLE_PREFIX}{name}")
    image = np.ascontiguousarray(getattr(skdata, name)())
    if image.dtype != np.uint8:
        raise ValueError(f"sample {name!r} has dtype {image.dtype}, expected uint8")  # pragma: no cover
    return to_mode(image, mode)


def load_image(spec: str, mode: Optional[str] = None) -> np.ndarray:
    """``sample:NAME`` -> :func:`sample_image`, anything else -> :func:`cnnkit.io.read_image`."""
    spec = str(spec)
    if spec.startswith(SAMPLE_PREFIX):
        return sample_image(spec[len(SAMPLE_PREFIX):], mode)
    return read_image(spec, mode)
