"""``pad``: constant, reflect, replicate and circular padding, as
``torch.nn.functional.pad``.

The pad tuple follows PyTorch: it starts with the **last** dimension,
``(left, right)`` for the last, then ``(top, bottom)`` for the one before, and so
on, so ``pad(x, (1, 1, 2, 2))`` pads W by 1 and H by 2 on each side.

Modes, for one axis of length ``n`` padded by ``lo`` before and ``hi`` after
(output position ``i`` in ``-lo .. n + hi - 1`` reads input position):

* ``constant``: ``value`` outside ``0..n-1``; negative pads crop (as torch);
* ``reflect``: the mirror without repeating the edge, ``i -> -i`` and
  ``i -> 2(n - 1) - i`` (``[1, 2, 3]`` padded by 2 -> ``[3, 2, 1, 2, 3, 2, 1]``); needs ``pad < n``;
* ``replicate``: the edge value, ``i -> clip(i, 0, n - 1)``;
* ``circular``: periodic, ``i -> i mod n``; needs ``pad <= n``.

The backward pass is the adjoint: the output gradient's centre goes back to
the input, and each border is folded onto the input positions it was read
from (summed for ``replicate``, where one edge value feeds the whole border).

Beyond PyTorch: the non-constant modes pad any number of trailing dimensions
(PyTorch allows 1 to 3 of them, on batched or unbatched inputs).
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ..autograd import Function, Tensor
from ._validate import as_input

MODES = ("constant", "reflect", "replicate", "circular")


def _along(axis: int, start: int, stop: int, step: int = 1) -> tuple:
    """Index selecting ``start:stop:step`` along ``axis`` (``stop < 0`` is not used: no wrap-around)."""
    if step < 0:  # the reversed slice of [start, stop)
        return (slice(None),) * axis + (slice(stop - 1, start - 1 if start > 0 else None, -1),)
    return (slice(None),) * axis + (slice(start, stop),)


def _fill_borders(out: np.ndarray, axis: int, lo: int, n: int, hi: int, mode: str) -> None:
    """Fill the ``lo``/``hi`` borders of ``out`` along ``axis`` from its centre ``[lo, lo + n)``,
    in place, with strided slice copies (reversed slices for ``reflect``)."""
    left, right = _along(axis, 0, lo), _along(axis, lo + n, lo + n + hi)
    if mode == "reflect":  # padded p < lo reads lo + (lo - p); p >= lo + n reads 2 (lo + n - 1) - p
        out[left] = out[_along(axis, lo + 1, 2 * lo + 1, -1)]
        out[right] = out[_along(axis, lo + n - 1 - hi, lo + n - 1, -1)]
    elif mode == "replicate":  # the edge value, broadcast
        out[left] = out[_along(axis, lo, lo + 1)]
        out[right] = out[_along(axis, lo + n - 1, lo + n)]
    else:  # circular: p < lo reads p + n; p >= lo + n reads p - n
        out[left] = out[_along(axis, n, n + lo)]
        out[right] = out[_along(axis, lo, lo + hi)]


def _fold_borders(g: np.ndarray, axis: int, lo: int, n: int, hi: int, mode: str) -> np.ndarray:
    """The adjoint of :func:`_fill_borders` followed by cropping: the centre of ``g``
    along ``axis`` plus each border added onto the positions it was copied from."""
    gc = g[_along(axis, lo, lo + n)].copy()
    left, right = g[_along(axis, 0, lo)], g[_along(axis, lo + n, lo + n + hi)]
    if mode == "reflect":
        gc[_along(axis, 1, lo + 1, -1)] += left
        gc[_along(axis, n - 1 - hi, n - 1, -1)] += right
    elif mode == "replicate":
        if lo:
            gc[_along(axis, 0, 1)] += left.sum(axis=axis, keepdims=True)
        if hi:
            gc[_along(axis, n - 1, n)] += right.sum(axis=axis, keepdims=True)
    else:
        gc[_along(axis, n - lo, n)] += left
        gc[_along(axis, 0, hi)] += right
    return gc


class Pad(Function):
    """Pad the trailing ``len(pads)`` axes of ``x`` with one ``(before, after)`` pair per axis."""

    def forward(self, x, pads, mode, value):
        self.in_shape = x.shape
        self.pads, self.mode = pads, mode
        lead = x.ndim - len(pads)
        if mode == "constant":
            self.src, self.dst = [], []
            out_shape = list(x.shape[:lead])
            for n, (lo, hi) in zip(x.shape[lead:], pads):
                start, stop = max(-lo, 0), n - max(-hi, 0)
                kept = max(stop - start, 0)
                self.src.append(slice(start, start + kept))
                self.dst.append(slice(max(lo, 0), max(lo, 0) + kept))
                out_shape.append(n + lo + hi)
            out = np.full(out_shape, value, dtype=x.dtype)
            out[(Ellipsis,) + tuple(self.dst)] = x[(Ellipsis,) + tuple(self.src)]
            return out
        sizes = x.shape[lead:]
        out = np.empty(x.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in zip(sizes, pads)), dtype=x.dtype)
        centre = tuple(slice(lo, lo + n) for n, (lo, _) in zip(sizes, pads))
        out[(Ellipsis,) + centre] = x
        # axis by axis: the slab spans the padded extent of the axes already done and the
        # centre of the others, so corners are filled from borders filled before them
        for k, (n, (lo, hi)) in enumerate(zip(sizes, pads)):
            slab = out[(Ellipsis,) + tuple(slice(None) for _ in range(k + 1)) + centre[k + 1:]]
            _fill_borders(slab, slab.ndim - len(pads) + k, lo, n, hi, mode)
        return out

    def backward(self, gy):
        if not self.needs_input_grad[0]:
            return (None,)
        if self.mode == "constant":
            gx = np.zeros(self.in_shape, dtype=gy.dtype)
            gx[(Ellipsis,) + tuple(self.src)] = gy[(Ellipsis,) + tuple(self.dst)]
            return (gx,)
        lead = len(self.in_shape) - len(self.pads)
        g = gy
        for k in reversed(range(len(self.pads))):  # undo the axes in reverse order
            lo, hi = self.pads[k]
            g = _fold_borders(g, lead + k, lo, self.in_shape[lead + k], hi, self.mode)
        return (g,)


def _check_pad(pad, ndim: int) -> list[tuple[int, int]]:
    """The torch pad tuple as ``(before, after)`` pairs for the trailing axes, first axis first."""
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints (last dimension first), got {pad!r}")
    if len(pad) % 2:
        raise ValueError(f"pad: pad must have an even length (pairs of before, after), got {len(pad)} values: {pad!r}")
    if len(pad) // 2 > ndim:
        raise ValueError(f"pad: pad {tuple(pad)} pads {len(pad) // 2} dimensions but the input has only {ndim}")
    pairs = [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)]
    return pairs[::-1]


def pad(input, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad ``input`` as ``torch.nn.functional.pad``.

    ``pad``: ``(last_before, last_after, second_last_before, ...)``; ``mode``:
    ``"constant"`` (fill with ``value``, default 0; negative pads crop),
    ``"reflect"``, ``"replicate"`` or ``"circular"`` (see module docstring).
    Shape: ``(*, S_1, ..., S_k)`` -> ``(*, S_1 + b_1 + a_1, ..., S_k + b_k + a_k)``.

    >>> import numpy as np
    >>> pad(np.array([[1., 2., 3.]]), (2, 2), mode="reflect").numpy()
    array([[3., 2., 1., 2., 3., 2., 1.]])
    """
    x = as_input(input, "input", "pad", floating=False)
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    pairs = _check_pad(pad, x.ndim)
    lead = x.ndim - len(pairs)
    if mode == "constant":
        for k, (lo, hi) in enumerate(pairs):
            if x.shape[lead + k] + lo + hi < 0:
                raise ValueError(f"pad: dimension {lead + k} of size {x.shape[lead + k]} padded by ({lo}, {hi}) "
                                 f"would have a negative size")
        fill = 0 if value is None else value
        return Pad.apply(x, pads=tuple(pairs), mode=mode, value=fill)
    if value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} does not take a value argument, got value={value!r}")
    for k, (lo, hi) in enumerate(pairs):
        n, dim = x.shape[lead + k], lead + k
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: mode {mode!r} needs non-negative padding, got ({lo}, {hi}) for dimension {dim}")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the size {n} "
                             f"of dimension {dim} (input shape {x.shape})")
        if mode == "replicate" and n == 0 and (lo or hi):
            raise ValueError(f"pad: replicate padding of the empty dimension {dim} (input shape {x.shape})")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"pad: circular padding ({lo}, {hi}) must be at most the size {n} "
                             f"of dimension {dim} (input shape {x.shape})")
    return Pad.apply(x, pads=tuple(pairs), mode=mode, value=0)
