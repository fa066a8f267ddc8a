"""Embedding lookup against PyTorch, repeated-index accumulation and padding_idx."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from helpers import compare_with_torch, gradcheck, torch

TF = torch.nn.functional


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_matches_torch(dtype):
    rng = np.random.default_rng(0)
    for idx_shape, padding_idx in [((5,), None), ((3, 4), None), ((2, 3, 4), 2), ((6,), -1), ((), None)]:
        config = f"embedding indices={idx_shape} padding_idx={padding_idx} {np.dtype(dtype).name}"
        w = rng.standard_normal((7, 3)).astype(dtype)
        idx = rng.integers(0, 7, idx_shape)
        if idx.size > 2:
            idx.flat[:3] = [1, 1, 6 if padding_idx is None else padding_idx % 7]  # repeats and the padding row
        compare_with_torch(lambda i, t: F.embedding(i, t, padding_idx), lambda i, t: TF.embedding(i, t, padding_idx),
                           [idx, w], grad_inputs=[False, True], config=config)


def test_repeated_indices_accumulate_and_padding_row_gets_nothing():
    w = np.arange(8.).reshape(4, 2)
    t = cnnkit.Tensor(w, requires_grad=True)
    out = F.embedding(np.array([[1, 3, 1], [0, 1, 0]]), t, padding_idx=0)
    np.testing.assert_array_equal(out.numpy()[0], [[2., 3.], [6., 7.], [2., 3.]])
    g = np.arange(12.).reshape(2, 3, 2)
    out.backward(g)
    np.testing.assert_array_equal(t.grad, [[0., 0.],                        # padding row: no gradient
                                           [0 + 4 + 8, 1 + 5 + 9],          # index 1 three times
                                           [0., 0.],                        # unused
                                           [2., 3.]])


def test_gradcheck_and_int_dtypes():
    w = np.random.default_rng(1).standard_normal((5, 3))
    idx = np.array([[0, 4, 4], [2, 0, 1]], dtype=np.int32)
    gradcheck(lambda i, t: F.embedding(i, t), [idx, w], grad_inputs=[False, True], config="embedding")
    np.testing.assert_array_equal(F.embedding(idx.astype(np.uint8), w).numpy(), w[idx])
    np.testing.assert_array_equal(F.embedding(cnnkit.Tensor(idx), w).numpy(), w[idx])


def test_module_init_and_state_dict():
    cnnkit.manual_seed(0)
    m = nn.Embedding(1000, 16, padding_idx=3)
    ref = torch.nn.Embedding(1000, 16, padding_idx=3)
    assert list(m.state_dict()) == list(ref.state_dict()) and repr(m) == repr(ref)
    assert m.weight.shape == (1000, 16) and m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.data[3], 0)
    vals = np.delete(m.weight.data, 3, axis=0)
    assert abs(vals.mean()) < 0.02 and abs(vals.std() - 1) < 0.02  # N(0, 1), as PyTorch
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == torch.nn.Embedding(5, 2, padding_idx=-1).padding_idx
    m.load_state_dict(ref.state_dict())
    idx = np.array([[3, 999, 0]])
    compare_with_torch(lambda i: m(i), lambda i: ref(i), [idx], config="Embedding module")


@pytest.mark.parametrize("call, exc, match", [
    (lambda w: F.embedding(np.array([0, 5]), w), ValueError, r"input contains index 5, out of range for num_embeddings=5"),
    (lambda w: F.embedding(np.array([-1, 0]), w), ValueError, "input contains index -1"),
    (lambda w: F.embedding(np.array([0.0, 1.0]), w), TypeError, "input must hold integer indices, got dtype float64"),
    (lambda w: F.embedding(np.array([0]), w, padding_idx=5), ValueError, "padding_idx=5 must be within num_embeddings=5"),
    (lambda w: F.embedding(np.array([0]), w[0]), ValueError, "weight must be 2-D"),
    (lambda w: nn.Embedding(0, 3), ValueError, "num_embeddings must be a positive int"),
    (lambda w: nn.Embedding(4, 3, padding_idx=4), ValueError, "padding_idx must be within num_embeddings=4"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.zeros((5, 3), dtype=np.float32))
