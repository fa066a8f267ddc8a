import numpy as np

import cnnkit
from cnnkit import nn


def test_version_and_small_model_backward():
    assert cnnkit.__version__ == "0.1.0"
    cnnkit.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    out = model(x)
    assert out.shape == (2, 3) and out.dtype == np.float32
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
