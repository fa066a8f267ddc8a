"""What the classification experiments share: seeding, data, training with :func:`cnnkit.lab.train.fit`."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ... import nn
from ...random import manual_seed
from .. import data
from ..experiment import Experiment, run_seed
from ..train import fit

#: The training keys every classification experiment's config has.
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "curve_points", "curve_size")

#: The MNIST experiments' data and schedule, by profile (each experiment adds its own keys):
#: full 2 epochs of 20,000 digits (5 seeds), quick 2 epochs of 10,000 (2 seeds), tiny 128 digits.
MNIST_FULL = dict(train_size=20000, test_size=10000, epochs=2, batch_size=64, lr=2e-3, optimizer="adam",
                  curve_points=8, curve_size=2000)
MNIST_QUICK = dict(train_size=10000, test_size=2000, epochs=2, curve_points=4)
MNIST_TINY = dict(train_size=128, test_size=64, epochs=1, curve_points=1)
MNIST_SEEDS = {"full": 5, "quick": 2, "tiny": 1}


def sequential(*pairs: tuple[str, nn.Module]) -> nn.Sequential:
    """``nn.Sequential`` with named layers (``("conv1", Conv2d(...)), ...``); ``None`` modules are skipped."""
    return nn.Sequential(OrderedDict((name, m) for name, m in pairs if m is not None))


class ClassifierExperiment(Experiment):
    """Train ``build(variant)`` on ``dataset(config)``; subclasses may add ``hyper`` and ``metrics``."""

    def dataset(self, config: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def prepare(self, config: dict) -> None:
        self.dataset(config)

    def variant_dataset(self, variant: str, config: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The data a variant trains and tests on (default: :meth:`dataset`)."""
        return self.dataset(config)

    def hyper(self, variant: str, config: dict) -> dict:
        """Keyword arguments of :func:`~cnnkit.lab.train.fit` for ``variant`` (default: the config's)."""
        return {k: config[k] for k in TRAIN_KEYS}

    def metrics(self, model, variant: str, config: dict, test: tuple[np.ndarray, np.ndarray]) -> dict:
        """Extra per-run numbers measured on the trained model (default: none)."""
        return {}

    def run(self, variant: str, seed: int, config: dict) -> dict:
        train_x, train_y, test_x, test_y = self.variant_dataset(variant, config)
        rs = run_seed(self.name, variant, seed)
        manual_seed(rs)  # initialisation and dropout
        model = self.build(variant, config)
        out = fit(model, (train_x, train_y), (test_x, test_y), seed=rs, **self.hyper(variant, config))
        extra = self.metrics(model, variant, config, (test_x, test_y))
        if extra:
            out["metrics"] = extra
        return {"seed": int(seed), **out}


class MnistExperiment(ClassifierExperiment):
    """MNIST digits ``(N, 1, 28, 28)``: the first ``train_size`` / ``test_size`` of each split;
    the profiles and seeds default to :data:`MNIST_FULL` etc."""

    full, quick, tiny, seeds = MNIST_FULL, MNIST_QUICK, MNIST_TINY, MNIST_SEEDS

    def dataset(self, config):
        return data.mnist(config["train_size"], config["test_size"])

    def input_shape(self, config):
        return (1, 1, 28, 28)


class Mnist1dExperiment(ClassifierExperiment):
    """MNIST-1D signals ``(N, 1, 40)`` from the package's generator (``num_samples``, ``data_seed``)."""

    def dataset(self, config):
        return data.mnist1d(config["num_samples"], config["data_seed"])

    def input_shape(self, config):
        return (1, 1, 40)
