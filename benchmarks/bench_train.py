"""Wall time of one LeNet-5 training epoch on MNIST: cnnkit vs PyTorch CPU, in the same process.

Run (the ``env -u`` lets OpenBLAS pick its kernel for this CPU; tests do not use it)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_train.py [--rounds 3] [--limit N]

Both sides do the same training: LeNet-5 (modern: ReLU + max pooling, 61,706
parameters), 60,000 images padded to 32x32 and normalised per batch by
:func:`cnnkit.training.mnist.prepare_images`, the same shuffled order
(:func:`cnnkit.training.loop.epoch_order`), batch 64, Adam lr 2e-3, cross-entropy,
running loss/accuracy bookkeeping every batch. cnnkit runs its real training
loop (:func:`cnnkit.training.loop.train_epoch`); PyTorch runs the equivalent
hand-written loop. Each round times one epoch of each, interleaved: PyTorch with 2
threads, cnnkit, PyTorch with 1 thread. The table gives the median epoch time
and ``ratio = cnnkit / torch`` (lower is better). The machine has 2 cores and is
shared, so the 1-thread PyTorch column is the steadier reference under load.
cnnkit's thread count is OpenBLAS's (``OPENBLAS_NUM_THREADS``, default: the 2 cores);
its small GEMMs suffer badly when another process holds a core, so
``OPENBLAS_NUM_THREADS=1`` is often faster here (the table's first row says which ran).
Results go to ``benchmarks/results/bench_train-<timestamp>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnnkit  # noqa: E402
from cnnkit import functional as F  # noqa: E402
from cnnkit import optim  # noqa: E402
from cnnkit.data import load_mnist  # noqa: E402
from cnnkit.models import lenet5  # noqa: E402
from cnnkit.training.loop import epoch_order, train_epoch  # noqa: E402
from cnnkit.training.mnist import prepare_images  # noqa: E402

BATCH, LR, THREADS = 64, 2e-3, 2


def torch_lenet5():
    import torch.nn as tnn

    return tnn.Sequential(tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                          tnn.ReLU(), tnn.Linear(84, 10))


def torch_epoch(model, opt, images, labels, epoch, seed=0) -> tuple[float, float, float]:
    """One epoch, the same steps as cnnkit's train_epoch; returns (seconds, mean loss, accuracy)."""
    import torch
    import torch.nn.functional as TF

    t0 = time.perf_counter()
    order = epoch_order(len(images), epoch, seed)
    loss_sum, correct = 0.0, 0
    model.train()
    for i in range(0, len(images), BATCH):
        idx = order[i:i + BATCH]
        x = torch.from_numpy(prepare_images(images[idx]))
        y = torch.from_numpy(labels[idx])
        logits = model(x)
        loss = TF.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += int((logits.detach().argmax(1) == y).sum())
    return time.perf_counter() - t0, loss_sum / len(images), correct / len(images)


def cnnkit_epoch(model, opt, images, labels, epoch, seed=0) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    meter, _ = train_epoch(model, opt, F.cross_entropy, images, labels, batch_size=BATCH, epoch=epoch, seed=seed,
                           prepare=prepare_images, progress=False)
    return time.perf_counter() - t0, meter.loss, meter.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per library (default 3)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    import torch

    images, labels = load_mnist("train", args.data_dir)
    images, labels = images[:args.limit], labels[:args.limit].astype(np.int64)
    torch.manual_seed(0)
    th_model = torch_lenet5()
    th_opt = torch.optim.Adam(th_model.parameters(), lr=LR)
    th1_model = torch_lenet5()
    th1_opt = torch.optim.Adam(th1_model.parameters(), lr=LR)
    cnnkit.manual_seed(0)
    ck_model = lenet5()
    ck_opt = optim.Adam(ck_model.parameters(), lr=LR)

    runs: dict[str, list[tuple[float, float, float]]] = {"torch2": [], "cnnkit": [], "torch1": []}
    print(f"LeNet-5, {len(images)} images per epoch, batch {BATCH}, Adam lr {LR}; {args.rounds} rounds")
    for r in range(args.rounds):
        torch.set_num_threads(THREADS)
        runs["torch2"].append(torch_epoch(th_model, th_opt, images, labels, r))
        runs["cnnkit"].append(cnnkit_epoch(ck_model, ck_opt, images, labels, r))
        torch.set_num_threads(1)
        runs["torch1"].append(torch_epoch(th1_model, th1_opt, images, labels, r))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} s (loss {v[-1][1]:.4f}, acc {100 * v[-1][2]:.2f}%)"
                                             for k, v in runs.items()), flush=True)
    med = {k: statistics.median(t for t, _, _ in v) for k, v in runs.items()}
    best = {k: min(t for t, _, _ in v) for k, v in runs.items()}
    print()
    print("| library | threads | epoch s (median) | epoch s (min) | samples/s | cnnkit / this |")
    print("|---|---|---|---|---|---|")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", f"{THREADS} (OpenBLAS default)")
    for key, name, threads in (("cnnkit", "cnnkit", blas), ("torch2", "PyTorch", THREADS), ("torch1", "PyTorch", 1)):
        print(f"| {name} | {threads} | {med[key]:.2f} | {best[key]:.2f} | {len(images) / med[key]:.0f} | "
              f"{med['cnnkit'] / med[key]:.2f}x |")
    result = {
        "benchmark": "bench_train", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "images": len(images),
        "batch_size": BATCH, "lr": LR, "rounds": args.rounds,
        "epochs": {k: [dict(seconds=t, loss=l, accuracy=a) for t, l, a in v] for k, v in runs.items()},
        "median_s": med, "min_s": best, "cnnkit_openblas_threads": blas,
        "ratio_vs_torch_2_threads": med["cnnkit"] / med["torch2"],
        "ratio_vs_torch_1_thread": med["cnnkit"] / med["torch1"],
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                    "cpu_count": os.cpu_count(), "load_average": os.getloadavg()},
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_train-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nratio cnnkit / PyTorch (2 threads): {result['ratio_vs_torch_2_threads']:.2f}x, "
          f"vs PyTorch (1 thread): {result['ratio_vs_torch_1_thread']:.2f}x; wrote {path}")


if __name__ == "__main__":
    main()
