"""Default initialisation: the same distributions as torch's, and reproducible with manual_seed."""
from __future__ import annotations

import math

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from cnnkit.nn import init
from helpers import optional, torch

stats = optional("scipy.stats")

tnn = torch.nn

# (cnnkit layer, torch layer, fan_in as torch computes it)
LAYERS = [
    (lambda: nn.Linear(800, 400), lambda: tnn.Linear(800, 400), 800),
    (lambda: nn.Conv2d(32, 64, 5), lambda: tnn.Conv2d(32, 64, 5), 32 * 25),
    (lambda: nn.Conv2d(64, 64, 3, groups=64), lambda: tnn.Conv2d(64, 64, 3, groups=64), 9),
    (lambda: nn.Conv1d(16, 256, 7), lambda: tnn.Conv1d(16, 256, 7), 16 * 7),
    (lambda: nn.ConvTranspose2d(64, 48, 4), lambda: tnn.ConvTranspose2d(64, 48, 4), 48 * 16),  # weight (in, out, k, k)
]


@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_default_init_matches_torch_distribution(case):
    make_ck, make_th, fan_in = LAYERS[case]
    cnnkit.manual_seed(case)
    torch.manual_seed(case)
    ck, th = make_ck(), make_th()
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        ours = getattr(ck, name).data.ravel().astype(np.float64)
        theirs = getattr(th, name).detach().numpy().ravel().astype(np.float64)
        assert getattr(ck, name).dtype == np.float32
        assert ours.shape == theirs.shape
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both: same support, max |w| close to the bound
        for values, who in ((ours, "cnnkit"), (theirs, "torch")):
            assert np.abs(values).max() <= bound * (1 + 1e-6), f"{who} {name} exceeds the bound {bound}"
        if ours.size >= 10_000:
            assert np.abs(ours).max() >= 0.999 * bound, f"{name}: max |w| {np.abs(ours).max()} far below {bound}"
            assert abs(ours.std() - bound / math.sqrt(3)) < 0.01 * bound
            assert stats.ks_2samp(ours, theirs).pvalue > 1e-3, f"{name}: not the distribution torch draws"
            assert stats.kstest(ours / bound, "uniform", args=(-1, 2)).pvalue > 1e-3
        else:
            assert np.abs(ours).max() >= 0.8 * bound


def test_init_functions_match_torch_formulas():
    shape = (256, 128, 3, 3)  # fan_in 1152, fan_out 2304
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(shape)
    assert (fan_in, fan_out) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)) == (1152, 2304)
    for nl, param in [("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None),
                      ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param)), nl
    gen = np.random.default_rng(0)
    torch.manual_seed(0)
    cases = [  # (ours, torch's, uniform bound or normal std)
        (lambda a: init.kaiming_uniform_(a, nonlinearity="relu", generator=gen),
         lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu"), ("uniform", math.sqrt(2) * math.sqrt(3 / fan_in))),
        (lambda a: init.kaiming_uniform_(a, mode="fan_out", nonlinearity="relu", generator=gen),
         lambda t: torch.nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
         ("uniform", math.sqrt(2) * math.sqrt(3 / fan_out))),
        (lambda a: init.kaiming_normal_(a, nonlinearity="relu", generator=gen),
         lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"), ("normal", math.sqrt(2 / fan_in))),
        (lambda a: init.xavier_uniform_(a, gain=2.0, generator=gen),
         lambda t: torch.nn.init.xavier_uniform_(t, gain=2.0), ("uniform", 2 * math.sqrt(6 / (fan_in + fan_out)))),
        (lambda a: init.xavier_normal_(a, generator=gen),
         lambda t: torch.nn.init.xavier_normal_(t), ("normal", math.sqrt(2 / (fan_in + fan_out)))),
    ]
    for ours_fn, torch_fn, (kind, scale) in cases:
        a = ours_fn(np.empty(shape, np.float32)).ravel().astype(np.float64)
        t = torch_fn(torch.empty(shape)).numpy().ravel().astype(np.float64)
        assert stats.ks_2samp(a, t).pvalue > 1e-3, (kind, scale)
        if kind == "uniform":
            assert np.abs(a).max() <= scale * (1 + 1e-6) and np.abs(a).max() > 0.999 * scale
        else:
            assert abs(a.std() - scale) < 0.01 * scale and abs(a.mean()) < 0.01 * scale
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(np.empty((3, 3)), mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")


def _build():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(), nn.Linear(16, 3),
                         nn.SeparableConv2d(4, 8, 3))


def test_manual_seed_makes_construction_reproducible():
    cnnkit.manual_seed(123)
    a = _build().state_dict()
    cnnkit.manual_seed(123)
    b = _build().state_dict()
    cnnkit.manual_seed(124)
    c = _build().state_dict()
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    # an explicit generator does not depend on (or advance) the global one
    cnnkit.manual_seed(5)
    first = nn.Linear(3, 3, generator=np.random.default_rng(9)).weight.data
    after = cnnkit.random.default_generator().random()
    cnnkit.manual_seed(5)
    assert np.array_equal(first, nn.Linear(3, 3, generator=np.random.default_rng(9)).weight.data)
    assert cnnkit.random.default_generator().random() == after
