"""Pooling on every core: :mod:`cnnkit._core.pool` with its per-plane functions run on blocks of
``(sample, channel)`` planes in parallel (:func:`.blocks.over_planes`). Every other name
(geometry, divisors, index conversion) is :mod:`cnnkit._core.pool`'s own."""
from __future__ import annotations

from .. import pool as _serial
from .blocks import over_planes

max_pool_forward = over_planes(_serial.max_pool_forward, 1)
max_pool_backward = over_planes(_serial.max_pool_backward, 2)
avg_pool_forward = over_planes(_serial.avg_pool_forward, 1)
avg_pool_backward = over_planes(_serial.avg_pool_backward, 1)
adaptive_avg_forward = over_planes(_serial.adaptive_avg_forward, 1)
adaptive_avg_backward = over_planes(_serial.adaptive_avg_backward, 1)
adaptive_max_forward = over_planes(_serial.adaptive_max_forward, 1)
scatter_flat = over_planes(_serial.scatter_flat, 2)


def __getattr__(name: str):
    return getattr(_serial, name)
