"""Train one classifier for one run of an experiment, recording a learning curve.

:func:`fit` drives :func:`cnnkit.training.loop.train_epoch` (the project's training loop:
batches in the order of :func:`~cnnkit.training.loop.epoch_order`, so a run is a pure
function of its seed) in chunks: after every chunk it evaluates the model on the curve set,
``curve_points`` times in all, evenly spaced over the optimizer steps. Training time
excludes those evaluations.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .. import functional as F
from ..training.loop import Meter, StopFlag, evaluate, num_batches, predict, train_epoch
from ..training.mnist import make_optimizer

__all__ = ["fit", "predict", "accuracy"]


def accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows of ``logits`` whose argmax is the target."""
    return float(np.mean(np.argmax(logits, axis=1) == targets))


def fit(model, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], *, epochs: int,
        batch_size: int, lr: float, seed: int, optimizer: str = "adam", momentum: float = 0.9,
        weight_decay: float = 0.0, curve_points: int | None = None, curve_size: int | None = None,
        after_step: Callable[[], None] | None = None, eval_batch_size: int = 500) -> dict:
    """Train ``model`` on ``train = (x, y)`` and evaluate it on ``test``.

    The optimizer is :func:`cnnkit.training.mnist.make_optimizer`'s ``optimizer`` (``adam``,
    ``adamw``, ``sgd`` with ``momentum``); the loss is cross-entropy. ``curve_points``
    (default: one per epoch) evaluations on the first ``curve_size`` test samples (default:
    all) make the curve. Returns ``{"test_accuracy", "test_loss", "train_time_s", "curve"}``
    with ``curve = {"epoch", "samples", "train_loss", "test_accuracy"}`` (lists, one entry per
    point; ``train_loss`` is the mean over the batches since the previous point).
    """
    x, y = train
    test_x, test_y = test
    per_epoch = num_batches(len(x), batch_size)
    total = epochs * per_epoch
    points = curve_points if curve_points is not None else epochs
    if not isinstance(points, int) or points < 1:
        raise ValueError(f"fit: curve_points must be a positive int, got {curve_points!r}")
    stops = sorted({max(1, round(total * k / points)) for k in range(1, points + 1)})
    n_curve = len(test_x) if curve_size is None else min(curve_size, len(test_x))
    curve_x, curve_y = test_x[:n_curve], test_y[:n_curve]
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    curve: dict[str, list] = {"epoch": [], "samples": [], "train_loss": [], "test_accuracy": []}
    train_time, step, last = 0.0, 0, None
    for stop_at in stops:
        meter = Meter()
        while step < stop_at:
            epoch, start = divmod(step, per_epoch)
            end = min(per_epoch, stop_at - epoch * per_epoch)
            flag, steps = StopFlag(), [start]

            def count() -> None:
                if after_step is not None:
                    after_step()
                steps[0] += 1
                if steps[0] >= end:
                    flag.request()

            t0 = time.perf_counter()
            meter, done = train_epoch(model, opt, F.cross_entropy, x, y, batch_size=batch_size, epoch=epoch,
                                      seed=seed, start=start, meter=meter, after_step=count, stop=flag,
                                      progress=False)
            train_time += time.perf_counter() - t0
            step = epoch * per_epoch + done
        last = evaluate(model, F.cross_entropy, curve_x, curve_y, eval_batch_size)
        epoch, within = divmod(step, per_epoch)
        curve["epoch"].append(step / per_epoch)
        curve["samples"].append(epoch * len(x) + min(within * batch_size, len(x)))
        curve["train_loss"].append(meter.loss)
        curve["test_accuracy"].append(last["accuracy"])
    final = last if n_curve == len(test_x) else evaluate(model, F.cross_entropy, test_x, test_y, eval_batch_size)
    return {"test_accuracy": final["accuracy"], "test_loss": final["loss"], "train_time_s": train_time,
            "curve": curve}
