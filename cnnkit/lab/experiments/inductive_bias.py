"""``inductive-bias``: what convolution's locality buys, on MNIST-1D (Greydanus 2020).

The models are Greydanus' (``mnist1d``'s ``ConvBase`` and ``MLP``), and so is the training:
Adam, lr 1e-2, batch 100, 6000 steps (150 epochs of the 4000 training signals)::

    cnn           conv1d 5 s2 p1 1 -> 25, ReLU | conv1d 3 s2 p1 25 -> 25, ReLU | same | linear 125 -> 10
    mlp           linear 40 -> 100, ReLU | 100 -> 100, ReLU | 100 -> 10
    cnn-shuffled  the cnn on signals whose 40 positions are permuted (one fixed permutation,
                  ``shuffle_seed``, for training and test): the same information, no locality

An MLP does not care about the order of its inputs; a CNN does. Greydanus reports about
94% (CNN), 68% (MLP) and 56% (shuffled CNN).
"""
from __future__ import annotations

import numpy as np

from ... import nn
from ..figure import bar_panel, curve_panel
from ..verdict import higher, verdict
from ._common import Mnist1dExperiment, sequential

VARIANTS = ("cnn", "mlp", "cnn-shuffled")
#: Greydanus (2020), "Scaling down deep learning", table 1 (test accuracy).
REPORTED = {"cnn": 0.94, "mlp": 0.68, "cnn-shuffled": 0.56}


class InductiveBias(Mnist1dExperiment):
    name = "inductive-bias"
    claim = "convolution's local, shared windows are a prior that helps: a CNN beats an MLP unless the signal is shuffled"
    quote = "卷积操作……求得的结果表示为原始图像中提取的特定局部特征。……感受域内提取局部关联特征"
    measures = ("MNIST-1D (Greydanus 2020), a 1-D CNN vs an MLP vs the CNN on spatially shuffled signals: "
                "test accuracy against the paper's 94% / 68% / 56%")
    full = dict(num_samples=5000, data_seed=42, shuffle_seed=0, channels=25, hidden=100, epochs=150,
                batch_size=100, lr=1e-2, optimizer="adam", curve_points=30, curve_size=1000)
    quick = dict(epochs=60, curve_points=12)
    tiny = dict(num_samples=400, channels=4, hidden=8, epochs=1, curve_points=1)
    variant_names = VARIANTS
    seeds = {"full": 5, "quick": 2, "tiny": 1}

    def variant_dataset(self, variant, config):
        train_x, train_y, test_x, test_y = self.dataset(config)
        if variant != "cnn-shuffled":
            return train_x, train_y, test_x, test_y
        order = np.random.default_rng(config["shuffle_seed"]).permutation(train_x.shape[-1])
        return train_x[..., order], train_y, test_x[..., order], test_y

    def build(self, variant, config):
        if variant == "mlp":
            h = config["hidden"]
            return sequential(("flatten", nn.Flatten()), ("fc1", nn.Linear(40, h)), ("act1", nn.ReLU()),
                              ("fc2", nn.Linear(h, h)), ("act2", nn.ReLU()), ("fc3", nn.Linear(h, 10)))
        c = config["channels"]
        return sequential(("conv1", nn.Conv1d(1, c, 5, stride=2, padding=1)), ("act1", nn.ReLU()),
                          ("conv2", nn.Conv1d(c, c, 3, stride=2, padding=1)), ("act2", nn.ReLU()),
                          ("conv3", nn.Conv1d(c, c, 3, stride=2, padding=1)), ("act3", nn.ReLU()),
                          ("flatten", nn.Flatten()), ("fc", nn.Linear(c * 5, 10)))

    def verdict(self, result):
        return verdict([
            higher("the CNN beats the MLP", self.compare(result, "cnn", "mlp")),
            higher("shuffling the positions costs the CNN accuracy", self.compare(result, "cnn", "cnn-shuffled")),
            higher("without locality the CNN falls behind the MLP (Greydanus: 56% vs 68%)",
                   self.compare(result, "mlp", "cnn-shuffled")),
        ])

    def panels(self, result):
        return [curve_panel(result["variants"]),
                bar_panel(result["variants"], reference=[(f"Greydanus {k} {100 * v:.0f}%", 100 * v)
                                                         for k, v in REPORTED.items()])]
