"""Parameter initialisation, with PyTorch's formulas; every function takes an
optional ``generator`` (default: :func:`cnnkit.random.default_generator`)."""
from __future__ import annotations

import math

import numpy as np

from ..random import get_generator


def calculate_fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """``fan_in = shape[1] * prod(shape[2:])``, ``fan_out = shape[0] * prod(shape[2:])`` (PyTorch's rule)."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d"):
        return 1.0
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fan(shape: tuple[int, ...], mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(array: np.ndarray, a: float = 0.0, b: float = 1.0, generator=None) -> np.ndarray:
    array[...] = get_generator(generator).uniform(a, b, size=array.shape)
    return array


def normal_(array: np.ndarray, mean: float = 0.0, std: float = 1.0, generator=None) -> np.ndarray:
    array[...] = get_generator(generator).normal(mean, std, size=array.shape)
    return array


def constant_(array: np.ndarray, value: float) -> np.ndarray:
    array[...] = value
    return array


def zeros_(array: np.ndarray) -> np.ndarray:
    return constant_(array, 0.0)


def ones_(array: np.ndarray) -> np.ndarray:
    return constant_(array, 1.0)


def kaiming_uniform_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> np.ndarray:
    """``U(-b, b)``, ``b = gain * sqrt(3 / fan)`` (He et al. 2015)."""
    fan = _fan(array.shape, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(array, -bound, bound, generator)


def kaiming_normal_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> np.ndarray:
    fan = _fan(array.shape, mode)
    return normal_(array, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def xavier_uniform_(array: np.ndarray, gain: float = 1.0, generator=None) -> np.ndarray:
    fan_in, fan_out = calculate_fan_in_and_fan_out(array.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, generator)


def xavier_normal_(array: np.ndarray, gain: float = 1.0, generator=None) -> np.ndarray:
    fan_in, fan_out = calculate_fan_in_and_fan_out(array.shape)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def default_layer_init_(weight: np.ndarray, bias: np.ndarray | None, fan_in: int, generator=None) -> None:
    """PyTorch's default for Linear and Conv layers: ``kaiming_uniform_(a=sqrt(5))``
    (i.e. ``U(±1/sqrt(fan_in))``) for the weight and ``U(±1/sqrt(fan_in))`` for the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, generator)
