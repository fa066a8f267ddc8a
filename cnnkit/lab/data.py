"""The data sets of the experiments, loaded once per process (each worker keeps its own copy).

* :func:`mnist`: the first ``train_size`` / ``test_size`` MNIST digits (:func:`cnnkit.data.load_mnist`,
  which finds the files in ``$CNNKIT_DATA/mnist`` or the user cache), float32 ``(N, 1, 28, 28)``
  normalised with the training set's mean and std (as the LeNet-5 recipe);
* :func:`mnist1d`: Greydanus' MNIST-1D (``pip install mnist1d``), generated offline by the
  package's own generator from its default arguments and a seed, float32 ``(N, 1, 40)``;
  cached as ``.npz`` (never pickled) in ``~/.cache/cnnkit/mnist1d/``;
* :func:`mr`: the MR sentence-polarity data as Kim's preprocessing (:func:`cnnkit.training.mr.prepare_mr`).

Arrays are returned read-only: the same arrays serve every run of a worker.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random

import numpy as np

from .._optional import require
from ..data.download import user_cache_dir
from ..io.atomic import atomic_write


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=2)
def mnist(train_size: int, test_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)``: float32 ``(n, 1, 28, 28)`` as ``(x / 255 - 0.1307) / 0.3081``
    and int64 labels, the first ``train_size`` training and ``test_size`` test digits."""
    from ..data import load_mnist
    from ..training.mnist import MEAN, STD

    out = []
    for split, n in (("train", train_size), ("test", test_size)):
        images, labels = load_mnist(split)
        if not 1 <= n <= len(images):
            raise ValueError(f"MNIST {split}: size must be in 1..{len(images)}, got {n}")
        x = images[:n, None].astype(np.float32)
        x *= np.float32(1 / (255 * STD))
        x -= np.float32(MEAN / STD)
        out += [x, labels[:n].astype(np.int64)]
    return _frozen(*out)


def _generate_mnist1d(num_samples: int, seed: int) -> dict[str, np.ndarray]:
    """The package's generator; it seeds and draws from NumPy's and Python's global
    generators, whose states are put back afterwards."""
    data = require("mnist1d.data", extra="lab", purpose="the MNIST-1D experiments")
    args = data.get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = data.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": d["x"], "y": d["y"], "x_test": d["x_test"], "y_test": d["y_test"]}


@functools.lru_cache(maxsize=2)
def mnist1d(num_samples: int = 5000, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)`` of MNIST-1D: float32 ``(n, 1, 40)`` and int64 labels.

    ``num_samples`` are generated (80% train, 20% test, as the package); ``seed=42`` and
    5000 samples are the package's defaults (Greydanus' 4000 / 1000 split).
    """
    if not isinstance(num_samples, int) or num_samples < 20:
        raise ValueError(f"mnist1d: num_samples must be an int >= 20, got {num_samples!r}")
    key = hashlib.sha256(json.dumps({"num_samples": num_samples, "seed": seed, "v": 1}).encode()).hexdigest()[:16]
    path = user_cache_dir() / "mnist1d" / f"mnist1d_{num_samples}_{seed}_{key}.npz"
    arrays = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            arrays = None  # a damaged cache file: generate again
    if arrays is None:
        arrays = _generate_mnist1d(num_samples, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "MNIST-1D cache") as f:
            np.savez(f, **arrays)
    return _frozen(arrays["x"].astype(np.float32)[:, None], arrays["y"].astype(np.int64),
                   arrays["x_test"].astype(np.float32)[:, None], arrays["y_test"].astype(np.int64))


@functools.lru_cache(maxsize=1)
def mr(max_window: int = 5, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(ids int64 (N, L), labels int64 (N,), vocabulary size)`` of MR, as Kim's preprocessing
    (``limit``: a seeded subset of that many sentences)."""
    from ..training.mr import prepare_mr

    ids, labels, vocab = prepare_mr(None, max_window, limit, seed=0)
    return (*_frozen(ids, labels), len(vocab))
