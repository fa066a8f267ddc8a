"""Inverted dropout: in training, zero each element with probability ``p`` and
scale the survivors by ``1 / (1 - p)``, so the expected value is unchanged and
evaluation is the identity. Random draws come from a NumPy ``Generator``
(default: :func:`cnnkit.random.default_generator`, seeded by ``cnnkit.manual_seed``).
"""
from __future__ import annotations

import numpy as np

from .._validate import check_bool, check_generator, check_number
from ..autograd import Function, Tensor
from ..random import get_generator
from ._validate import as_input


class Dropout(Function):
    """``x * mask`` with a fixed ``mask`` (0 or ``1 / (1 - p)``, broadcastable to ``x``)."""

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, g):
        return (g * self.mask,)


def _check_p(fn_name: str, p) -> float:
    return check_number(p, "p (the dropout probability)", fn_name, minimum=0, maximum=1)


def _mask(shape: tuple[int, ...], p: float, dtype, generator) -> np.ndarray:
    """Keep-mask scaled by ``1 / (1 - p)``: each entry is kept with probability ``1 - p``."""
    if p == 1.0:
        return np.zeros(shape, dtype=dtype)
    rng = get_generator(generator)
    draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    keep = rng.random(shape, dtype=draw_dtype) >= p
    mask = keep.astype(dtype)
    mask *= np.asarray(1.0 / (1.0 - p), dtype=dtype)
    return mask


def _dropout(fn_name: str, input, p, training, generator, mask_shape) -> Tensor:
    x = as_input(input, "input", fn_name)
    p = _check_p(fn_name, p)
    check_generator(generator, owner=fn_name)
    if not check_bool(training, "training", fn_name) or p == 0.0:
        return x
    return Dropout.apply(x, mask=_mask(mask_shape(x), p, x.dtype.type, generator))


def dropout(input, p: float = 0.5, training: bool = True, *, generator: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout, as ``torch.nn.functional.dropout``: each element is zeroed with
    probability ``p`` and the rest multiplied by ``1 / (1 - p)``; identity when not
    ``training``; ``p = 1`` gives zeros. ``p`` outside ``[0, 1]`` is a ``ValueError``.

    >>> import numpy as np
    >>> y = dropout(np.ones(8, dtype=np.float32), 0.5, generator=np.random.default_rng(0)).numpy()
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    """
    return _dropout("dropout", input, p, training, generator, lambda x: x.shape)


def _channel_dropout(fn_name: str, n: int, input, p, training, generator) -> Tensor:
    x = as_input(input, "input", fn_name)
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{fn_name}: input must have {n + 2} dimensions (N, C, *spatial) or {n + 1} "
                         f"(C, *spatial), got shape {x.shape}")
    lead = x.ndim - n  # (N, C) or (C,)
    return _dropout(fn_name, x, p, training, generator, lambda t: t.shape[:lead] + (1,) * n)


def dropout1d(input, p: float = 0.5, training: bool = True, *,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout, as ``torch.nn.functional.dropout1d``: ``(N, C, L)`` or ``(C, L)``;
    whole channels are zeroed with probability ``p`` (one draw per ``(n, c)``)."""
    return _channel_dropout("dropout1d", 1, input, p, training, generator)


def dropout2d(input, p: float = 0.5, training: bool = True, *,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout, as ``torch.nn.functional.dropout2d``: ``(N, C, H, W)`` or ``(C, H, W)``;
    whole feature maps are zeroed with probability ``p`` and the rest scaled by ``1 / (1 - p)``."""
    return _channel_dropout("dropout2d", 2, input, p, training, generator)
