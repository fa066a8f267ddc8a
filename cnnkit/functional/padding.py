"""``pad``: constant, reflect, replicate and circular padding, as
``torch.nn.functional.pad``, on :func:`cnnkit._core.window.pad` (the one padding
function of cnnkit; its adjoint :func:`~cnnkit._core.window.pad_backward` is the
backward pass).

The pad tuple follows PyTorch: it starts with the **last** dimension,
``(left, right)`` for the last, then ``(top, bottom)`` for the one before, and so
on, so ``pad(x, (1, 1, 2, 2))`` pads W by 1 and H by 2 on each side.

Modes, for one axis of length ``n`` padded by ``lo`` before and ``hi`` after
(output position ``i`` in ``-lo .. n + hi - 1`` reads input position):

* ``constant``: ``value`` outside ``0..n-1``;
* ``reflect``: the mirror without repeating the edge, ``i -> -i`` and
  ``i -> 2(n - 1) - i`` (``[1, 2, 3]`` padded by 2 -> ``[3, 2, 1, 2, 3, 2, 1]``); needs ``pad < n``
  (OpenCV calls this ``BORDER_REFLECT_101``, scipy.ndimage ``"mirror"``);
* ``replicate``: the edge value, ``i -> clip(i, 0, n - 1)``;
* ``circular``: periodic, ``i -> i mod n``; needs ``pad <= n``.

Negative pads crop, in every mode, as PyTorch: for ``constant``, ``reflect`` and
``replicate`` the rule above holds for the cropped range too (``reflect`` of
``[0, 1, 2, 3, 4]`` by ``(-1, 2)`` is ``[1, 2, 3, 4, 3, 2]``); ``circular`` crops
first and wraps the cropped axis (``[1, 2, 3, 4, 1, 2]``).

The backward pass is the adjoint: each output position sends its gradient to
the input position it read (summed for ``replicate``, where one edge value
feeds the whole border).

Beyond PyTorch: the non-constant modes pad any number of trailing dimensions
(PyTorch allows 1 to 3 of them, on batched or unbatched inputs).
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from .._core import window
from ..autograd import Function, Tensor
from ._validate import as_input

MODES = ("constant", "reflect", "replicate", "circular")


class Pad(Function):
    """Pad the trailing ``len(pads)`` axes of ``x`` with one ``(before, after)`` pair per axis."""

    def forward(self, x, pads, mode, value):
        self.in_shape, self.pads, self.mode = x.shape, pads, mode
        out = window.pad(x, pads, mode, value)
        return out.copy() if out is x else out  # never hand back the input's memory

    def backward(self, gy):
        return (window.pad_backward(gy, self.in_shape, self.pads, self.mode),)


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
    if mode != "constant" and value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} does not take a value argument, got value={value!r}")
    for k, (lo, hi) in enumerate(pairs):
        n, dim = x.shape[lead + k], lead + k
        size = n + lo + hi
        if size < 0 or (size == 0 and mode in ("reflect", "replicate")):
            what = f"a negative size ({size})" if size < 0 else f"size 0 ({mode} padding needs at least 1)"
            raise ValueError(f"pad: dimension {dim} of size {n} padded by ({lo}, {hi}) would have {what}")
        if mode == "replicate" and n == 0 and (lo or hi):
            raise ValueError(f"pad: replicate padding of the empty dimension {dim} (input shape {x.shape})")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the size {n} "
                             f"of dimension {dim} (input shape {x.shape})")
        if mode == "circular":
            kept = n - max(-lo, 0) - max(-hi, 0)
            if max(lo, hi) > n or max(lo, hi, 0) > max(kept, 0):
                raise ValueError(f"pad: circular padding ({lo}, {hi}) of dimension {dim} (size {n}, {max(kept, 0)} "
                                 f"after cropping) wraps around more than once (input shape {x.shape})")
    fill = 0 if value is None or mode != "constant" else value
    return Pad.apply(x, pads=tuple(pairs), mode=mode, value=fill)
