"""End to end: one small CNN built in cnnkit and in PyTorch with the same weights.

It uses every layer family of the seed — convolution, batch norm, ReLU / LeakyReLU /
Maxout, max and average pooling, dropout, flatten, linear — and checks that both
libraries give the same logits, the same loss, the same gradient for every
parameter, and after 20 optimizer steps on the same batches the same weights and
batch-norm running statistics.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
from cnnkit import nn, optim
import cnnkit.functional as F

torch = pytest.importorskip("torch")


class TorchMaxout(torch.nn.Module):
    """PyTorch has no Maxout: channels in consecutive blocks of ``pieces``, block max."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x):
        n, c = x.shape[:2]
        return x.reshape(n, c // self.pieces, self.pieces, *x.shape[2:]).amax(dim=2)


def build_cnnkit(dtype):
    cnnkit.manual_seed(7)
    # No bias before batch norm (as usual): its exact gradient is 0, so in float32 it is pure
    # rounding noise, which Adam's m / sqrt(v) normalises into lr-sized random steps.
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),                       # 12 -> 6
        nn.Conv2d(8, 12, 3, padding="same"),
        nn.LeakyReLU(0.1),
        nn.Maxout(2),                          # 12 -> 6 channels
        nn.AvgPool2d(2),                       # 6 -> 3
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 5),
    )
    return model.to(dtype)


def build_torch(dtype):
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 12, 3, padding="same"),
        torch.nn.LeakyReLU(0.1),
        TorchMaxout(2),
        torch.nn.AvgPool2d(2),
        torch.nn.Dropout(0.5),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 3 * 3, 5),
    ).to(getattr(torch, np.dtype(dtype).name))


def twin_models(dtype):
    ours = build_cnnkit(dtype)
    theirs = build_torch(dtype)
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return ours, theirs


def set_mode(model, training: bool):
    """Train mode (batch statistics) with dropout switched off, or eval mode."""
    model.train(training)
    model[8].eval()


TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def batches(dtype, count):
    rng = np.random.default_rng(2024)
    for _ in range(count):
        yield (rng.standard_normal((4, 3, 12, 12)).astype(dtype), rng.integers(0, 5, size=4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False], ids=["train-mode", "eval-mode"])
def test_same_logits_loss_and_parameter_gradients(dtype, training):
    ours, theirs = twin_models(dtype)
    set_mode(ours, training)
    set_mode(theirs, training)
    x, y = next(batches(dtype, 1))
    logits = ours(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    t_logits = theirs(torch.from_numpy(x))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(y))
    t_loss.backward()
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(loss.item(), t_loss.item(), **TOL[dtype])
    t_params = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(t_params)
    for name, p in ours.named_parameters():
        ref = t_params[name].grad.numpy()
        scale = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(p.grad, ref, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale,
                                   err_msg=f"gradient of {name} ({np.dtype(dtype).name}, training={training})")


OPTIMIZERS = {
    "sgd-momentum": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "sgd-nesterov-wd": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "adam": (lambda ps: optim.Adam(ps, lr=1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    "adamw": (lambda ps: optim.AdamW(ps, lr=1e-2), lambda ps: torch.optim.AdamW(ps, lr=1e-2)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_twenty_training_steps_reach_the_same_weights(dtype, opt_name):
    ours, theirs = twin_models(dtype)
    set_mode(ours, True)
    set_mode(theirs, True)
    make_ours, make_theirs = OPTIMIZERS[opt_name]
    opt, t_opt = make_ours(ours.parameters()), make_theirs(theirs.parameters())
    for x, y in batches(dtype, 20):
        opt.zero_grad()
        F.cross_entropy(ours(x), y).backward()
        opt.step()
        t_opt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        t_opt.step()
    # measured: float32 differs by at most ~5e-7 relative after 20 steps, float64 by ~1e-15
    tol = dict(rtol=1e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    t_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(value, t_state[name].numpy(), **tol,
                                   err_msg=f"{name} after 20 {opt_name} steps ({np.dtype(dtype).name})")
    # and the trained models still agree on fresh data, in eval mode
    ours.eval()
    theirs.eval()
    x, _ = next(batches(dtype, 1))
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), **tol)
