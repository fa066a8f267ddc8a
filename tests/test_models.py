"""LeNet-5 and TextCNN: shapes, state-dict names, and forward/backward equal to the same
networks written in PyTorch with the same weights."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
from cnnkit import functional as F
from cnnkit.models import LeNet5, TextCNN, lenet5, renorm_, textcnn
from helpers import torch

tnn = torch.nn
TF = torch.nn.functional


class TorchLeNet5(tnn.Module):
    def __init__(self, variant):
        super().__init__()
        self.act = torch.relu if variant == "modern" else torch.tanh
        self.pool = (lambda x: TF.max_pool2d(x, 2)) if variant == "modern" else (lambda x: TF.avg_pool2d(x, 2))
        self.conv1, self.conv2 = tnn.Conv2d(1, 6, 5), tnn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = tnn.Linear(400, 120), tnn.Linear(120, 84), tnn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = x.flatten(1)
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


class TorchTextCNN(tnn.Module):
    def __init__(self, vocab, embed, windows, maps, head):
        super().__init__()
        self.embedding = tnn.Embedding(vocab, embed, padding_idx=0)
        self.convs = tnn.ModuleList([tnn.Conv1d(embed, maps, h) for h in windows])
        norms = {"ln": tnn.LayerNorm, "bn": tnn.BatchNorm1d}
        self.norm = norms[head](maps * len(windows)) if head in norms else tnn.Identity()
        self.fc = tnn.Linear(maps * len(windows), 2)

    def forward(self, ids):
        x = self.embedding(ids).transpose(1, 2)
        h = torch.cat([torch.relu(c(x)).amax(2) for c in self.convs], 1)
        return self.fc(self.norm(h))


def _load_into_torch(ck_model, th_model):
    th_model.load_state_dict({k: torch.tensor(v) for k, v in ck_model.state_dict().items()})


def _compare_grads(ck_model, th_model, config):
    th_params = dict(th_model.named_parameters())
    for name, p in ck_model.named_parameters():
        ref = th_params[name].grad.numpy()
        np.testing.assert_allclose(p.grad, ref, rtol=2e-4, atol=2e-5 * max(1.0, np.abs(ref).max()),
                                   err_msg=f"grad of {name} [{config}]")


def _compare_forward_backward(model, ref, inputs, y, out_shape, label):
    """Logits (float32, ``out_shape``) and, after cross-entropy, every parameter gradient equal torch's."""
    out = model(inputs)
    out_ref = ref(torch.tensor(inputs))
    assert out.shape == out_shape and out.dtype == np.float32, label
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=2e-4, atol=2e-5, err_msg=label)
    F.cross_entropy(out, y).backward()
    TF.cross_entropy(out_ref, torch.tensor(y)).backward()
    _compare_grads(model, ref, label)


@pytest.mark.parametrize("variant", ["modern", "classic"])
def test_lenet5_matches_torch(variant, rng):
    cnnkit.manual_seed(0)
    model = lenet5(variant)
    assert list(model.state_dict()) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                                        "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    assert sum(p.size for p in model.parameters()) == 61706  # LeNet-5's classic parameter count
    ref = TorchLeNet5(variant)
    _load_into_torch(model, ref)
    x = rng.standard_normal((3, 1, 32, 32)).astype(np.float32)
    y = np.array([1, 7, 3])
    _compare_forward_backward(model, ref, x, y, (3, 10), f"lenet5 {variant}")
    maps = model.feature_maps(x)
    assert maps["conv1"].shape == (3, 6, 28, 28) and maps["conv2"].shape == (3, 16, 10, 10)


def test_lenet5_rejects():
    with pytest.raises(ValueError, match="variant must be one of .* got 'vintage'"):
        lenet5("vintage")
    with pytest.raises(ValueError, match="num_classes must be a positive int, got 0"):
        LeNet5(num_classes=0)


@pytest.mark.parametrize("head, windows", [("linear", (3, 4, 5)), ("ln", (2, 3)), ("bn", (3, 4)),
                                           ("linear", (4,))])
def test_textcnn_matches_torch(head, windows, rng):
    cnnkit.manual_seed(1)
    model = textcnn(30, embed_dim=8, windows=windows, maps=5, dropout=0.0, head=head)
    assert np.all(model.embedding.weight.data[0] == 0)
    assert np.abs(model.embedding.weight.data).max() <= 0.25  # Kim's U(-0.25, 0.25)
    ref = TorchTextCNN(30, 8, windows, 5, head)
    _load_into_torch(model, ref)
    ids = rng.integers(0, 30, size=(4, 9))
    ids[:, :2] = 0  # padding in front, as Kim
    y = np.array([0, 1, 1, 0])
    _compare_forward_backward(model, ref, ids, y, (4, 2), f"textcnn {head} {windows}")
    assert np.all(model.embedding.weight.grad[0] == 0)  # the padding vector is never trained


def test_textcnn_dropout_train_and_eval(rng):
    cnnkit.manual_seed(2)
    model = textcnn(20, embed_dim=6, maps=4, dropout=0.5)
    ids = rng.integers(1, 20, size=(8, 7))
    model.eval()
    a, b = model(ids).numpy(), model(ids).numpy()
    np.testing.assert_array_equal(a, b)  # no dropout in eval mode
    model.train()
    assert not np.allclose(model(ids).numpy(), a)


def test_textcnn_rejects():
    with pytest.raises(ValueError, match="head must be one of .* got 'gn'"):
        textcnn(10, head="gn")
    with pytest.raises(ValueError, match="vocab_size must be a positive int, got 0"):
        TextCNN(0)
    with pytest.raises(ValueError, match="windows must be a non-empty sequence of positive ints"):
        textcnn(10, windows=())
    model = textcnn(10, embed_dim=4, maps=2)
    with pytest.raises(ValueError, match=r"ids must have shape \(N, L\) with L >= 5 .* got \(2, 4\)"):
        model(np.zeros((2, 4), np.int64))


@pytest.mark.parametrize("dim", [0, 1])
def test_renorm_matches_torch(dim, rng):
    for dtype in (np.float32, np.float64):
        w = rng.standard_normal((4, 6)).astype(dtype) * np.array([[0.1], [1.0], [3.0], [10.0]], dtype)
        ref = torch.renorm(torch.tensor(w), 2, dim, 3.0).numpy()
        got = renorm_(w, 3.0, dim)
        assert got is w and got.dtype == dtype
        np.testing.assert_allclose(got, ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="max_norm must be positive, got 0"):
        renorm_(w, 0)


def test_textcnn_max_norm_constraint():
    cnnkit.manual_seed(3)
    model = textcnn(10, embed_dim=4, maps=2)
    model.fc.weight.data[...] = 5.0  # rows of norm 5 * sqrt(6)
    model.max_norm_(3.0)
    np.testing.assert_allclose(np.linalg.norm(model.fc.weight.data, axis=1), 3.0, rtol=1e-6)
