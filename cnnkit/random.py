"""One seedable generator for everything random in cnnkit (initialisation,
dropout, shuffling), as ``torch.manual_seed``."""
from __future__ import annotations

import numpy as np

from ._validate import check_generator, check_int

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed cnnkit's default generator and return it."""
    global _generator
    _generator = np.random.default_rng(check_int(seed, "seed", "manual_seed", minimum=0))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when a function is not given one."""
    return _generator


def get_generator(generator: np.random.Generator | None, owner: str | None = None) -> np.random.Generator:
    """``generator``, or cnnkit's default one when it is ``None``; ``TypeError`` for
    anything but a ``numpy.random.Generator`` (so ``generator=3`` fails at the call, naming it)."""
    generator = check_generator(generator, owner=owner)
    return generator if generator is not None else _generator
