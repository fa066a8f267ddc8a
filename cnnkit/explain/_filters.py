"""One N-d separable filter for the explanation tools (the blur of feature
visualisation, the local means of SSIM): the same 1-D taps applied along each axis."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["separable_filter"]


def separable_filter(x: np.ndarray, taps: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Correlate ``x`` with ``taps`` (odd length) along each of ``axes``, same size.

    The border is mirrored with the edge pixel repeated (``d c b a | a b c d``:
    NumPy's ``"symmetric"``, scipy.ndimage's ``"reflect"``), so a constant stays constant.
    Computed in float64.
    """
    taps = np.asarray(taps, dtype=np.float64)
    if taps.ndim != 1 or len(taps) % 2 == 0:
        raise ValueError(f"separable_filter: taps must be 1-D of odd length, got shape {taps.shape}")
    half = len(taps) // 2
    out = np.asarray(x, dtype=np.float64)
    for axis in axes:
        n = out.shape[axis]
        pads = [(0, 0)] * out.ndim
        pads[axis] = (half, half)
        padded = np.pad(out, pads, mode="symmetric")
        acc = np.zeros_like(out)
        for k, w in enumerate(taps):
            acc += w * np.take(padded, np.arange(k, k + n), axis=axis)
        out = acc
    return out
