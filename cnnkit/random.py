"""One seedable generator for everything random in cnnkit (initialisation,
dropout, shuffling), as ``torch.manual_seed``."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed cnnkit's default generator and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when a function is not given one."""
    return _generator


def get_generator(generator: np.random.Generator | None) -> np.random.Generator:
    return generator if generator is not None else _generator
