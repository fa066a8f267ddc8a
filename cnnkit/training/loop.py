"""The training loop, written out: batches, loss, backward, optimizer step, metrics.

* :func:`epoch_order`: the sample order of an epoch (a
  :class:`~cnnkit.data.DataLoader` shuffling with :func:`epoch_generator`), a pure
  function of ``(seed, epoch)``, so a run resumed in the middle of an epoch sees
  the same batches as an uninterrupted one;
* :func:`train_epoch`: one epoch (or its remainder, from batch ``start``);
* :func:`evaluate`: loss and accuracy without gradients, in eval mode;
* :class:`StopFlag`: turns Ctrl-C into "finish this batch, then stop", so the
  model and optimizer are never saved half-updated.

Nothing here knows about files; :mod:`cnnkit.training.fit` adds checkpoints.
"""
from __future__ import annotations

import itertools
import math
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autograd import Tensor, no_grad
from ..data.loader import DataLoader
from .progress import Progress


def epoch_generator(epoch: int, seed: int) -> np.random.Generator:
    """The generator that shuffles epoch ``epoch``: ``default_rng([seed, epoch])``."""
    return np.random.default_rng([seed, epoch])


def epoch_order(n: int, epoch: int, seed: int) -> np.ndarray:
    """The sample order of epoch ``epoch`` (what the :class:`~cnnkit.data.DataLoader` of
    :func:`train_epoch` draws): a permutation of ``range(n)`` from :func:`epoch_generator`."""
    return epoch_generator(epoch, seed).permutation(n)


def num_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


@dataclass
class Meter:
    """Running sums of a (partial) epoch: summed loss, correct predictions, samples seen."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0

    def update(self, loss: float, logits: np.ndarray, targets: np.ndarray) -> None:
        n = len(targets)
        self.loss_sum += float(loss) * n
        self.correct += int(np.sum(np.argmax(logits, axis=1) == targets))
        self.seen += n

    @property
    def loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else float("nan")

    def as_dict(self) -> dict:
        return {"loss": self.loss, "accuracy": self.accuracy}


class StopFlag:
    """A stop request the loop checks after every batch.

    Used as a context manager in the main thread, it handles SIGINT: the first
    Ctrl-C sets :attr:`requested` (the loop finishes its batch, saves and
    returns); a second Ctrl-C raises ``KeyboardInterrupt`` at once.
    Code (and tests) can also call :meth:`request`.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def request(self) -> None:
        self.requested = True

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nCtrl-C: stopping after this batch and saving progress for --resume "
                         "(press Ctrl-C again to abort without saving)\n")

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _as_batch(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def train_epoch(model, optimizer, loss_fn: Callable, inputs: np.ndarray, targets: np.ndarray, *, batch_size: int,
                epoch: int, seed: int, prepare: Callable | None = None, start: int = 0, meter: Meter | None = None,
                after_step: Callable[[], None] | None = None, stop: StopFlag | None = None,
                progress: bool = True, desc: str = "") -> tuple[Meter, int]:
    """Train on the batches ``start..`` of epoch ``epoch``; returns ``(meter, next_batch)``.

    Each step: ``logits = model(prepare(x))``, ``loss = loss_fn(logits, y)``,
    ``zero_grad``, ``backward``, ``optimizer.step()``, then ``after_step()``
    (e.g. a max-norm constraint). ``next_batch`` equals the number of batches
    when the epoch is complete, and is smaller when ``stop`` was requested.
    """
    n = len(inputs)
    total = num_batches(n, batch_size)
    loader = DataLoader((inputs, targets), batch_size=batch_size, shuffle=True, generator=epoch_generator(epoch, seed))
    meter = meter if meter is not None else Meter()
    bar = Progress(n, desc, enabled=progress, initial=min(start * batch_size, n))
    model.train()
    try:
        for b, (x, y) in enumerate(itertools.islice(loader, start, None), start):
            logits = model(_as_batch(prepare(x) if prepare is not None else x))
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            meter.update(loss.item(), logits.data, y)
            bar.update(len(y), meter.loss, meter.accuracy)
            if stop is not None and stop.requested:
                return meter, b + 1
    finally:
        bar.close()
    return meter, total


def predict(model, inputs: np.ndarray, batch_size: int = 1000, prepare: Callable | None = None) -> np.ndarray:
    """Logits for all ``inputs``, in eval mode and without gradients."""
    model.eval()
    out = []
    with no_grad():
        for i in range(0, len(inputs), batch_size):
            x = inputs[i:i + batch_size]
            out.append(model(_as_batch(prepare(x) if prepare is not None else x)).data)
    return np.concatenate(out) if out else np.empty((0, 0), np.float32)


def evaluate(model, loss_fn: Callable, inputs: np.ndarray, targets: np.ndarray, batch_size: int = 1000,
             prepare: Callable | None = None) -> dict:
    """``{"loss", "accuracy"}`` over the whole set (eval mode, no gradients)."""
    meter = Meter()
    model.eval()
    with no_grad():
        for i in range(0, len(inputs), batch_size):
            x, y = inputs[i:i + batch_size], targets[i:i + batch_size]
            logits = model(_as_batch(prepare(x) if prepare is not None else x))
            meter.update(loss_fn(logits, y).item(), logits.data, y)
    return meter.as_dict()
