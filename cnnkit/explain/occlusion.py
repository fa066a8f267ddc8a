"""Occlusion (Zeiler & Fergus 2014): slide a window of baseline values over the input
and record how much the target logit drops.

For window positions ``p`` (a window of ``window`` pixels per spatial axis, moved by
``stride``, covering every channel), with ``x_p`` the input whose window ``p`` is
replaced by the baseline::

    attr[i, c, u] = mean over the windows p that contain u of ( S(x) - S(x_p) )

as Captum's ``Occlusion`` (each window's drop is given to all its pixels and
averaged over the windows that overlap there). Positions follow the VALID rule,
``floor((size - window) / stride) + 1`` per axis; pixels that no window covers
(when the stride does not reach the end) get 0.
"""
from __future__ import annotations

import itertools

import numpy as np

from .._core.window import conv_output_shape
from ..nn.module import Module
from ._common import (as_images, as_sizes, broadcast_baseline, check_positive_int, chunks, resolve_targets,
                      scores_of, untouched)

__all__ = ["occlusion", "window_positions"]


def window_positions(spatial: tuple[int, ...], window: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """The slices of every window position, row-major (the last axis fastest)."""
    counts = conv_output_shape(spatial, window, stride, tuple((0, 0) for _ in spatial), (1,) * len(spatial),
                               fn_name="occlusion")
    return [tuple(slice(o * s, o * s + w) for o, s, w in zip(idx, stride, window))
            for idx in itertools.product(*(range(c) for c in counts))]


def occlusion(model: Module, input, target=None, window=4, stride=1, baseline=0, *,
              batch_size: int = 256) -> np.ndarray:
    """The occlusion map ``(N, C, *S)`` (equal over the channels, which are occluded together).

    ``window``, ``stride``: an int or one int per spatial axis. ``baseline``: the
    value put in the window, a number or an array broadcastable to the input
    (e.g. the background of the images; 0 by default). The ``N * positions``
    occluded inputs run in batches of ``batch_size``.
    """
    fn = "occlusion"
    x = as_images(model, input, fn)
    spatial = x.shape[2:]
    win = as_sizes(window, len(spatial), "window", fn)
    step = as_sizes(stride, len(spatial), "stride", fn)
    base = broadcast_baseline(baseline, x, fn)
    batch = check_positive_int(batch_size, "batch_size", fn)
    targets = resolve_targets(model, x, target, fn)
    positions = window_positions(spatial, win, step)
    n, p = len(x), len(positions)
    total = np.zeros((n,) + spatial, dtype=np.float64)
    count = np.zeros(spatial, dtype=np.int64)
    for region in positions:
        count[region] += 1
    with untouched(model):
        full = scores_of(model, x, targets, fn, batch)
        rows = np.arange(n * p)
        for sl in chunks(n * p, batch):
            samples, where = rows[sl] // p, rows[sl] % p
            occluded = x[samples].copy()
            for r, (i, k) in enumerate(zip(samples, where)):
                region = (slice(None),) + positions[k]
                occluded[r][region] = base[i][region]
            drops = full[samples] - scores_of(model, occluded, targets[samples], fn, batch)
            for i, k, d in zip(samples, where, drops):
                total[(i,) + positions[k]] += d
    attr = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return np.broadcast_to(attr[:, None], x.shape).astype(x.dtype)
