"""Input checks shared by the functional ops: clear errors naming the argument."""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor


def as_input(value, name: str, fn_name: str, *, floating: bool = True) -> Tensor:
    """``value`` (Tensor or array-like) as a Tensor; ``TypeError`` naming ``name``
    when it is not numeric, or (with ``floating``) not a floating dtype."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = Tensor(np.asarray(value) if not isinstance(value, np.ndarray) else value)
        except Exception as exc:  # pragma: no cover - defensive
            raise TypeError(f"{fn_name}: {name} must be a Tensor or array, got {type(value).__name__}") from exc
        if t.dtype == object:
            raise TypeError(f"{fn_name}: {name} must be a numeric Tensor or array, got {type(value).__name__}")
        if not isinstance(value, np.ndarray) and t.dtype == np.float64:
            t = Tensor(t.data.astype(np.float32))
    if floating and not np.issubdtype(t.dtype, np.floating):
        raise TypeError(f"{fn_name}: {name} must have a floating dtype (float32 or float64), got {t.dtype}")
    return t


def check_dtype_match(fn_name: str, **tensors: Tensor) -> None:
    """``TypeError`` when the named tensors do not share one dtype (no silent casts)."""
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        desc = ", ".join(f"{name} is {dt}" for name, dt in dtypes.items())
        raise TypeError(f"{fn_name}: dtypes must match ({desc})")
