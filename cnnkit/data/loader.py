"""Batching: :class:`TensorDataset` and :class:`DataLoader`, as ``torch.utils.data``
but yielding NumPy arrays.

``DataLoader((x, y), batch_size=32, shuffle=True, generator=np.random.default_rng(0))``
yields ``(x_batch, y_batch)`` tuples of arrays; the last batch is smaller unless
``drop_last``. ``len(loader)`` is ``ceil(N / batch_size)`` (``floor`` with
``drop_last``), as torch. With ``shuffle`` every pass over the loader draws a new
permutation from ``generator`` (default: cnnkit's generator, seeded by
:func:`cnnkit.manual_seed`), so a seeded generator makes the order reproducible.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .._validate import check_bool, check_generator, check_int
from ..autograd import Tensor
from ..random import get_generator


def _array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


class TensorDataset:
    """Arrays sharing their first dimension; item ``i`` is ``(a[i] for a in arrays)``, as
    ``torch.utils.data.TensorDataset``. Batches are fetched with one fancy index per array."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = tuple(_array(a) for a in arrays)
        for i, a in enumerate(self.arrays):
            if a.dtype == object:
                raise TypeError(f"TensorDataset: array {i} is not numeric (dtype object: ragged lists?)")
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension, got shapes "
                             f"{[a.shape for a in self.arrays]}")

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


def default_collate(samples: Sequence[Any]):
    """Stack samples into a batch: tuples/lists field by field, dicts key by key,
    arrays and numbers with ``np.stack`` / ``np.asarray`` (dtypes kept; Python ints
    become int64, Python floats float64, as NumPy)."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields")
        return tuple(default_collate([s[k] for s in samples]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (Tensor, np.ndarray)):
        return np.stack([_array(s) for s in samples])
    if isinstance(first, (numbers.Number, np.generic)):
        return np.asarray(samples)
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


class DataLoader:
    """Iterate over mini-batches of a dataset.

    ``dataset``: a tuple of arrays with the same first dimension (``(x, y)``), a
    single array, or any object with ``__len__`` and ``__getitem__`` returning
    a sample (e.g. :class:`TensorDataset`, a list of ``(x, y)`` pairs).
    ``generator``: a ``np.random.Generator`` or an int seed; used only with ``shuffle``.
    ``collate_fn``: turns a list of samples into a batch (default :func:`default_collate`).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator: np.random.Generator | int | None = None,
                 collate_fn: Callable[[list], Any] | None = None):
        self._single = False
        if isinstance(dataset, (np.ndarray, Tensor)):
            dataset, self._single = TensorDataset(dataset), True
        elif isinstance(dataset, tuple) and dataset and any(isinstance(a, (np.ndarray, Tensor)) for a in dataset):
            # a tuple holding an array is a tuple of arrays (x, y), never a dataset of len(tuple) samples
            dataset = TensorDataset(*dataset)
        elif not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must be a tuple of arrays, an array, or have __len__ and "
                            f"__getitem__, got {type(dataset).__name__}")
        self.batch_size = check_int(batch_size, "batch_size", "DataLoader", minimum=1)
        self.shuffle = check_bool(shuffle, "shuffle", "DataLoader")
        self.drop_last = check_bool(drop_last, "drop_last", "DataLoader")
        self.generator = check_generator(generator, owner="DataLoader", allow_seed=True)
        self.dataset = dataset
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        return get_generator(self.generator).permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._indices()
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            if fast:
                batch = self.dataset[idx]
                yield batch[0] if self._single else batch
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(j)] for j in idx])
