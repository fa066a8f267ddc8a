"""DataLoader and TensorDataset: batches, len as torch, reproducible shuffling."""
from __future__ import annotations

import math

import numpy as np
import pytest

import cnnkit
from cnnkit.data import DataLoader, TensorDataset, default_collate
from helpers import torch


def _data(n=10):
    x = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3)
    y = np.arange(n, dtype=np.int64)
    return x, y


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 1, False), (10, 3, False), (10, 3, True), (10, 5, True),
                                                    (10, 10, False), (10, 12, False), (10, 12, True), (0, 4, False)])
def test_len_and_batches_match_torch(n, batch_size, drop_last):
    x, y = _data(n)
    loader = DataLoader((x, y), batch_size=batch_size, drop_last=drop_last)
    tloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                          batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == len(tloader) == (n // batch_size if drop_last else math.ceil(n / batch_size))
    batches, tbatches = list(loader), list(tloader)
    assert len(batches) == len(tbatches)
    for (bx, by), (tx, ty) in zip(batches, tbatches):
        assert isinstance(bx, np.ndarray) and bx.dtype == np.float32 and by.dtype == np.int64
        np.testing.assert_array_equal(bx, tx.numpy())
        np.testing.assert_array_equal(by, ty.numpy())


def test_shuffle_is_a_permutation_and_reproducible_with_a_seed():
    x, y = _data(23)
    first = [by for _, by in DataLoader((x, y), batch_size=4, shuffle=True, generator=np.random.default_rng(5))]
    again = [by for _, by in DataLoader((x, y), batch_size=4, shuffle=True, generator=np.random.default_rng(5))]
    other = [by for _, by in DataLoader((x, y), batch_size=4, shuffle=True, generator=np.random.default_rng(6))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    order = np.concatenate(first)
    assert sorted(order.tolist()) == list(range(23)) and not np.array_equal(order, np.arange(23))
    assert not np.array_equal(order, np.concatenate(other))
    # x and y stay paired
    for bx, by in DataLoader((x, y), batch_size=4, shuffle=True, generator=1):
        np.testing.assert_array_equal(bx, x[by])


def test_each_epoch_reshuffles_and_manual_seed_reproduces():
    x, y = _data(12)
    cnnkit.manual_seed(0)
    loader = DataLoader((x, y), batch_size=12, shuffle=True)  # default: cnnkit's generator
    epoch1, epoch2 = [next(iter(loader))[1] for _ in range(2)]
    assert not np.array_equal(epoch1, epoch2)
    cnnkit.manual_seed(0)
    again1, again2 = [next(iter(loader))[1] for _ in range(2)]
    np.testing.assert_array_equal(epoch1, again1)
    np.testing.assert_array_equal(epoch2, again2)


def test_single_array_tensor_dataset_and_generic_datasets():
    x, y = _data(7)
    batches = list(DataLoader(x, batch_size=3))
    assert [b.shape for b in batches] == [(3, 2, 3), (3, 2, 3), (1, 2, 3)]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    ds = TensorDataset(cnnkit.Tensor(x), y)
    assert len(ds) == 7 and ds[2][1] == 2
    bx, by = next(iter(DataLoader(ds, batch_size=4)))
    np.testing.assert_array_equal(bx, x[:4])

    class Squares:  # any object with __len__ and __getitem__, returning (array, python int) samples
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2,), i, np.float32), i * i

    batches = list(DataLoader(Squares(), batch_size=2, drop_last=True))
    assert len(batches) == 2
    (bx, by), _ = batches
    assert bx.dtype == np.float32 and bx.shape == (2, 2) and by.tolist() == [0, 1]
    pairs = list(zip(x, y))  # a list of samples
    bx, by = next(iter(DataLoader(pairs, batch_size=7)))
    np.testing.assert_array_equal(bx, x)
    np.testing.assert_array_equal(by, y)
    dicts = [{"image": x[i], "label": int(y[i])} for i in range(7)]
    batch = next(iter(DataLoader(dicts, batch_size=3)))
    assert batch["image"].shape == (3, 2, 3) and batch["label"].tolist() == [0, 1, 2]
    custom = next(iter(DataLoader(pairs, batch_size=2, collate_fn=lambda samples: len(samples))))
    assert custom == 2


def test_default_collate_matches_torch_layout():
    samples = [(np.ones((2, 2), np.float32) * i, i) for i in range(3)]
    bx, by = default_collate(samples)
    tx, ty = torch.utils.data.default_collate([(torch.tensor(a), b) for a, b in samples])
    np.testing.assert_array_equal(bx, tx.numpy())
    np.testing.assert_array_equal(by, ty.numpy())
    assert by.dtype == ty.numpy().dtype == np.int64
    with pytest.raises(TypeError, match="cannot batch samples of type str"):
        default_collate(["a", "b"])


def test_loader_errors():
    x, y = _data(4)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader((x, y), batch_size=0)
    with pytest.raises(TypeError, match="shuffle must be a bool"):
        DataLoader((x, y), shuffle="yes")
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        DataLoader((x, y), shuffle=True, generator="seed")
    with pytest.raises(TypeError, match="dataset must be a tuple of arrays"):
        DataLoader(42)
    with pytest.raises(ValueError, match=r"same first dimension, got shapes \[\(4, 2, 3\), \(3,\)\]"):
        DataLoader((x, y[:3]))
