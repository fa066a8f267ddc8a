"""Shared by the cnnkit.explain tests: PyTorch twins with identical weights (the oracle),
MNIST digits for the bundled LeNet-5, a small TextCNN trained on MR in seconds, and a
check that a model was left exactly as it was."""
from __future__ import annotations

import functools
import os
from collections import OrderedDict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from helpers import torch

import cnnkit
from cnnkit.models import lenet5

DATA = Path(os.environ.get("CNNKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def torch_lenet(model):
    """LeNet-5 in PyTorch with the cnnkit model's weights (the README's twin)."""
    twin = torch.nn.Sequential(OrderedDict(
        conv1=torch.nn.Conv2d(1, 6, 5), act1=torch.nn.ReLU(), pool1=torch.nn.MaxPool2d(2),
        conv2=torch.nn.Conv2d(6, 16, 5), act2=torch.nn.ReLU(), pool2=torch.nn.MaxPool2d(2),
        flatten=torch.nn.Flatten(), fc1=torch.nn.Linear(400, 120), act3=torch.nn.ReLU(),
        fc2=torch.nn.Linear(120, 84), act4=torch.nn.ReLU(), fc3=torch.nn.Linear(84, 10)))
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return twin.eval()


class TorchTextCNN(torch.nn.Module if torch is not None else object):
    """Kim's TextCNN in PyTorch (eval mode: dropout off), the cnnkit model's weights; ``forward``
    takes ids, ``from_embedded`` the embeddings ``(N, L, D)``."""

    def __init__(self, model):
        super().__init__()
        e = model.embedding.weight.data
        self.embedding = torch.nn.Embedding(*e.shape, padding_idx=0)
        self.convs = torch.nn.ModuleList([torch.nn.Conv1d(e.shape[1], c.out_channels, c.kernel_size[0])
                                          for c in model.convs])
        self.fc = torch.nn.Linear(model.fc.in_features, model.fc.out_features)
        self.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()
                              if not k.startswith("norm")})
        self.eval()

    def from_embedded(self, emb):
        x = emb.transpose(1, 2)
        return self.fc(torch.cat([torch.relu(c(x)).amax(dim=2) for c in self.convs], dim=1))

    def forward(self, ids):
        return self.from_embedded(self.embedding(ids))


@pytest.fixture(scope="session")
def pretrained():
    return lenet5(pretrained=True)


@functools.lru_cache(maxsize=1)
def _test_digits():
    from cnnkit.data import load_mnist, prepare_mnist
    images, labels = load_mnist("test", DATA, download=False)
    return images[:8], prepare_mnist(images[:8]), labels[:8].astype(np.int64)


@pytest.fixture(scope="session")
def digits():
    """``(uint8 digits (8, 28, 28), network inputs (8, 1, 32, 32), labels (8,))``: MNIST test digits 0..7."""
    if not (DATA / "mnist").is_dir():
        pytest.skip(f"MNIST not found in {DATA}/mnist: set CNNKIT_DATA to the folder holding mnist/")
    return _test_digits()


@functools.lru_cache(maxsize=1)
def _trained_small_textcnn():
    """Trained once per test session (the fixture is imported into several modules, and a
    session fixture defined outside conftest.py would run once per module)."""
    from cnnkit import functional as F
    from cnnkit import optim
    from cnnkit.models import textcnn
    from cnnkit.training import fit
    from cnnkit.training.mr import prepare_mr
    ids, labels, vocab = prepare_mr(DATA, 5, limit=1200, seed=0)
    cnnkit.manual_seed(0)
    model = textcnn(len(vocab), embed_dim=16, maps=8)
    fit(model, optim.Adam(model.parameters(), lr=3e-3), F.cross_entropy, (ids[200:], labels[200:]), epochs=3,
        batch_size=50, seed=0, progress=False, log=lambda _: None)
    model.eval()
    return model, ids[:16], labels[:16], vocab


@pytest.fixture(scope="session")
def small_textcnn():
    """``(model, ids (N, L), labels)``: a TextCNN (16-d embeddings, 8 maps per window 3/4/5)
    trained for 3 epochs on 1,000 MR sentences (about a second), and 16 others as ids."""
    if not (DATA / "mr").is_dir():
        pytest.skip(f"MR not found in {DATA}/mr: set CNNKIT_DATA to the folder holding mr/")
    return _trained_small_textcnn()[:3]


@pytest.fixture(scope="session")
def small_textcnn_vocab(small_textcnn):
    """The vocabulary of :func:`small_textcnn`."""
    return _trained_small_textcnn()[3]


def snapshot(model):
    """Everything about a model an explanation must not change."""
    return ({k: v.copy() for k, v in model.state_dict().items()},
            [(n, m.training, "forward" in m.__dict__) for n, m in model.named_modules()],
            [(n, p.requires_grad, None if p.grad is None else p.grad.copy()) for n, p in model.named_parameters()])


def assert_untouched(model, before):
    state, modules, params = snapshot(model)
    for k, v in before[0].items():
        np.testing.assert_array_equal(state[k], v, err_msg=f"weight {k} changed")
    assert modules == before[1], "a module's training flag changed or a forward wrapper was left behind"
    for (n, flag, grad), (_, flag0, grad0) in zip(params, before[2]):
        assert flag == flag0, f"{n}.requires_grad changed"
        assert (grad is None) == (grad0 is None), f"{n}.grad was written"
        if grad is not None:
            np.testing.assert_array_equal(grad, grad0, err_msg=f"{n}.grad changed")


class TokenSpans(HTMLParser):
    """The ``(text, attributes)`` of every ``<span>`` of a page written by ``render.html_sentence``."""

    def __init__(self, page: str):
        super().__init__()
        self.spans, self._open = [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "span":
            self._open = dict(attrs)

    def handle_data(self, data):
        if self._open is not None:
            self.spans.append((data, self._open))
            self._open = None
