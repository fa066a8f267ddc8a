"""Recipe: LeNet-5 on MNIST.

Inputs: the uint8 digits zero-padded by 2 to 32x32 (LeNet-5's input size),
scaled to [0, 1] and normalised with the training set's mean 0.1307 and std
0.3081 (as ``torchvision.transforms.Pad(2)``, ``ToTensor``, ``Normalize``).

Defaults (:data:`DEFAULTS`): Adam, lr 2e-3 annealed to 0 with a cosine over the
epochs, batch 64, 8 epochs; they reach about 99.2-99.3% test accuracy (see BENCHMARKS.md).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from .. import functional as F
from .. import optim
from ..data import load_mnist
from ..data.digits import MNIST_MEAN, MNIST_STD, prepare_mnist
from ..models import lenet5
from ..random import manual_seed
from .fit import fit
from .loop import StopFlag

MEAN, STD = MNIST_MEAN, MNIST_STD

#: The recipe's defaults; ``lr=None`` means the optimizer's default in :data:`DEFAULT_LR`.
DEFAULTS = dict(model="lenet5", variant="modern", epochs=8, batch_size=64, optimizer="adam", lr=None,
                momentum=0.9, weight_decay=0.0, schedule="cosine", seed=0, limit_train=None, limit_test=None)
DEFAULT_LR = {"adam": 2e-3, "adamw": 2e-3, "sgd": 0.05}


def prepare_images(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` -> float32 ``(N, 1, 32, 32)``: :func:`cnnkit.data.prepare_mnist` (pad 2,
    ``(x / 255 - 0.1307) / 0.3081``), the one preparation shared with evaluation and the explorer."""
    return prepare_mnist(images)


def make_optimizer(name: str, params, lr: float | None, momentum: float = 0.9, weight_decay: float = 0.0):
    """``adam`` / ``adamw`` / ``sgd`` (with momentum) from :mod:`cnnkit.optim`; ``lr=None`` -> :data:`DEFAULT_LR`."""
    if name not in DEFAULT_LR:
        raise ValueError(f"optimizer must be one of {sorted(DEFAULT_LR)}, got {name!r}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay if weight_decay else 1e-2)
    return optim.Adam(params, lr=lr, weight_decay=weight_decay)


def make_scheduler(name: str, optimizer, epochs: int):
    """``"cosine"`` (annealed to 0 over ``epochs``) or ``"none"``."""
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "none":
        return None
    raise ValueError(f"schedule must be 'cosine' or 'none', got {name!r}")


def _limit(images: np.ndarray, labels: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    return (images, labels) if n is None else (images[:n], labels[:n])


def load_data(config: dict, data_dir=None) -> tuple[tuple, tuple]:
    """``((train_images, train_labels), (test_images, test_labels))``: raw uint8 images, int64 labels."""
    tr_x, tr_y = _limit(*load_mnist("train", data_dir), config.get("limit_train"))
    te_x, te_y = _limit(*load_mnist("test", data_dir), config.get("limit_test"))
    return (tr_x, tr_y.astype(np.int64)), (te_x, te_y.astype(np.int64))


def build(config: dict):
    """``(model, optimizer, scheduler)`` for ``config``, the model initialised from ``config["seed"]``."""
    manual_seed(config["seed"])
    model = lenet5(config["variant"])
    opt = make_optimizer(config["optimizer"], model.parameters(), config["lr"], config["momentum"],
                         config["weight_decay"])
    return model, opt, make_scheduler(config["schedule"], opt, config["epochs"])


def train_lenet5(config: dict, data_dir: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
                 resume: bool = False, progress: bool = True, log: Callable[[str], None] = print,
                 stop: StopFlag | None = None, feature_maps: bool = True) -> dict:
    """Train LeNet-5 on MNIST with ``config`` (missing keys from :data:`DEFAULTS`).

    Returns the :func:`~cnnkit.training.fit.fit` summary plus ``"test_accuracy"``
    (after the last epoch). With ``out_dir`` it writes the files of ``fit`` and, when
    training completes, feature-map PNGs of ``conv1`` and ``conv2`` on 4 test digits.
    """
    config = {**DEFAULTS, **config}
    if config["lr"] is None:
        config["lr"] = DEFAULT_LR.get(config["optimizer"])
    model, opt, sched = build(config)
    (tr_x, tr_y), (te_x, te_y) = load_data(config, data_dir)
    log(f"LeNet-5 ({config['variant']}) on MNIST: {len(tr_x)} training and {len(te_x)} test images, "
        f"{config['optimizer']} lr {config['lr']}, batch {config['batch_size']}, {config['epochs']} epochs")
    summary = fit(model, opt, F.cross_entropy, (tr_x, tr_y), {"test": (te_x, te_y)}, epochs=config["epochs"],
                  batch_size=config["batch_size"], seed=config["seed"], out_dir=out_dir, prepare=prepare_images,
                  scheduler=sched, resume=resume, config=config, progress=progress, log=log, stop=stop)
    summary["model"] = model
    if summary["history"]:
        summary["test_accuracy"] = summary["history"][-1]["test_accuracy"]
    if out_dir is not None and feature_maps and summary["status"] == "complete":
        paths = save_feature_maps(model, te_x[:4], Path(out_dir), te_y[:4])
        log("feature maps: " + ", ".join(str(p) for p in paths))
    return summary


def save_feature_maps(model, digits: np.ndarray, out_dir: Path, labels: np.ndarray | None = None) -> list[Path]:
    """PNG grids of the ``conv1`` and ``conv2`` activations for each of ``digits`` (uint8 ``(n, 28, 28)``),
    as ``out_dir/feature_maps_<layer>_digit<i>.png``, and of conv1's kernels as
    ``out_dir/kernels_conv1.png`` (drawn with :mod:`cnnkit.viz`)."""
    from ..autograd import no_grad
    from ..viz import save_feature_grid, save_kernel_grid

    model.eval()
    with no_grad():
        maps = model.feature_maps(prepare_images(digits))
    paths = [save_kernel_grid(model.conv1.weight, out_dir / "kernels_conv1.png", title="LeNet-5 conv1 kernels")]
    for i in range(len(digits)):
        for name, act in maps.items():
            label = f" (label {int(labels[i])})" if labels is not None else ""
            paths.append(save_feature_grid(act.data[i], out_dir / f"feature_maps_{name}_digit{i}.png",
                                           title=f"LeNet-5 {name} activations on test image {i}{label}",
                                           batched=False, input_image=digits[i]))
    return paths
