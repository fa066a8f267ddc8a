"""``fit``: epochs of :func:`~cnnkit.training.loop.train_epoch`, evaluation, and files in ``out_dir``.

Files written to ``out_dir`` (all atomically):

* ``training_state.safetensors``: model, optimizer, scheduler, cnnkit's random
  generator, and the position (epoch, next batch, the partial epoch's running
  metrics, the history so far). Written after every epoch and when a stop is
  requested (Ctrl-C), so :func:`fit` with ``resume=True`` continues exactly where
  the run stopped and reaches the same weights as an uninterrupted run.
* ``model.safetensors``: the final weights, with ``config`` as JSON metadata
  (``cnnkit.config``), enough for ``cnnkit eval`` to rebuild the model.
* ``metrics.json``: config, per-epoch train/eval metrics and times, status.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import checkpoint
from .._optional import require
from .._validate import check_int
from ..io.atomic import atomic_write
from .loop import Meter, StopFlag, evaluate, num_batches, train_epoch

STATE_FILE = "training_state.safetensors"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
CONFIG_KEY = "cnnkit.config"


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path, "metrics") as f:
        f.write((json.dumps(obj, indent=2) + "\n").encode())


def read_config(path) -> dict:
    """The ``config`` stored in a model or training-state file written by :func:`fit`."""
    meta = checkpoint.load_metadata(path)
    if CONFIG_KEY in meta:
        return json.loads(meta[CONFIG_KEY])
    if checkpoint.TRAINING_STATE_KEY in meta:
        extra = json.loads(meta[checkpoint.TRAINING_STATE_KEY]).get("extra") or {}
        if "config" in extra:
            return extra["config"]
    raise ValueError(f"{path} holds no cnnkit training config (was it written by `cnnkit train`?)")


def fit(model, optimizer, loss_fn: Callable, train: tuple[np.ndarray, np.ndarray],
        evals: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, *, epochs: int, batch_size: int, seed: int,
        out_dir: str | os.PathLike | None = None, prepare: Callable | None = None, scheduler=None,
        after_step: Callable[[], None] | None = None, resume: bool = False, config: dict | None = None,
        progress: bool = True, log: Callable[[str], None] = print, stop: StopFlag | None = None,
        eval_batch_size: int = 1000) -> dict:
    """Train ``model`` for ``epochs`` epochs over ``train = (inputs, targets)``.

    After each epoch every set in ``evals`` (name -> ``(inputs, targets)``) is
    evaluated and ``scheduler.step()`` is called. Returns ``{"history": [...],
    "status": "complete" | "interrupted", "epoch", "batch"}``; ``history`` holds one
    dict per finished epoch (``train_loss``, ``train_accuracy``, ``<name>_loss``,
    ``<name>_accuracy``, ``time_s``, ``lr``). See the module docstring for files.
    """
    epochs = check_int(epochs, "epochs", "fit", minimum=1)
    batch_size = check_int(batch_size, "batch_size", "fit", minimum=1)
    evals = evals or {}
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:  # checkpoints are written after every epoch: fail now, not after the first one
        require("safetensors.numpy", extra="weights", purpose="fit(out_dir=...) (its checkpoints)")
        out.mkdir(parents=True, exist_ok=True)
    inputs, targets = train
    total = num_batches(len(inputs), batch_size)
    epoch, batch, meter, history, partial_time = 0, 0, Meter(), [], 0.0
    if resume:
        if out is None or not (out / STATE_FILE).is_file():
            raise FileNotFoundError(f"fit: resume=True but there is no {STATE_FILE} in {out}")
        _check_resume_extra(out / STATE_FILE)  # before anything is loaded into the model
        info = checkpoint.load_training_state(out / STATE_FILE, model, optimizer, scheduler=scheduler)
        extra = info["extra"]
        epoch, batch = info["epoch"], extra["batch"]
        meter = Meter(**extra["meter"])
        history, partial_time = extra["history"], extra["epoch_time_s"]
        if epoch >= epochs:
            log(f"{out / STATE_FILE}: the run has already finished its {epochs} epochs")
        else:
            log(f"resuming from {out / STATE_FILE}: epoch {epoch + 1}, batch {batch}/{total}")

    def save_state(ep: int, b: int, m: Meter, t: float) -> None:
        if out is not None:
            extra = {"batch": b, "meter": vars(m), "history": history, "epoch_time_s": t, "config": config}
            checkpoint.save_training_state(out / STATE_FILE, model, optimizer, epoch=ep, scheduler=scheduler,
                                           extra=extra)

    def write_metrics(status: str) -> None:
        if out is not None:
            write_json(out / METRICS_FILE, {"config": config, "status": status, "history": history})

    own_flag = stop is None
    flag = stop if stop is not None else StopFlag()
    status = "complete"
    with flag if own_flag else contextlib.nullcontext():
        while epoch < epochs:
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            meter, batch = train_epoch(model, optimizer, loss_fn, inputs, targets, batch_size=batch_size,
                                       epoch=epoch, seed=seed, prepare=prepare, start=batch, meter=meter,
                                       after_step=after_step, stop=flag, progress=progress,
                                       desc=f"epoch {epoch + 1}/{epochs}")
            elapsed = partial_time + time.perf_counter() - t0
            if batch < total:  # stopped inside the epoch
                save_state(epoch, batch, meter, elapsed)
                status = "interrupted"
                break
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": meter.loss, "train_accuracy": meter.accuracy,
                   "time_s": elapsed, "samples_per_s": len(inputs) / elapsed if elapsed > 0 else None}
            for name, (x, y) in evals.items():
                for k, v in evaluate(model, loss_fn, x, y, eval_batch_size, prepare).items():
                    row[f"{name}_{k}"] = v
            history.append(row)
            log(_format_row(row, epochs))
            if scheduler is not None:
                scheduler.step()
            epoch, batch, meter, partial_time = epoch + 1, 0, Meter(), 0.0
            save_state(epoch, 0, meter, 0.0)
            write_metrics("running" if epoch < epochs else "complete")
            if flag.requested and epoch < epochs:
                status = "interrupted"
                break
    if status == "interrupted":
        write_metrics("interrupted")
        if out is not None:
            log(f"stopped at epoch {epoch + 1}, batch {batch}/{total}; state saved to {out / STATE_FILE} "
                f"(continue with --resume)")
    elif out is not None:
        checkpoint.save(model, out / MODEL_FILE, metadata={CONFIG_KEY: json.dumps(config)})
    return {"history": history, "status": status, "epoch": epoch, "batch": batch}


def _check_resume_extra(path: Path) -> None:
    """``ValueError`` naming ``path`` unless its training state holds what :func:`fit` saves
    (the epoch, the batch position, the partial epoch's meter, the history and its time)."""
    meta = checkpoint.read_training_state(path)
    extra = meta.get("extra")
    number = (int, float)
    ok = (isinstance(meta.get("epoch"), int) and isinstance(extra, dict)
          and isinstance(extra.get("batch"), int) and not isinstance(extra.get("batch"), bool) and extra["batch"] >= 0
          and isinstance(extra.get("meter"), dict) and set(extra["meter"]) == {"loss_sum", "correct", "seen"}
          and all(isinstance(v, number) and not isinstance(v, bool) for v in extra["meter"].values())
          and isinstance(extra.get("history"), list) and all(isinstance(r, dict) for r in extra["history"])
          and isinstance(extra.get("epoch_time_s"), number))
    if not ok:
        raise ValueError(f"{path}: malformed training state: it lacks the position of the run (epoch, batch, "
                         f"meter, history, epoch_time_s) that fit() saves; was it written by cnnkit train?")


def _format_row(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}",
             f"acc {100 * row['train_accuracy']:.2f}%"]
    for k, v in row.items():
        if k.endswith("_accuracy") and k != "train_accuracy":
            parts.append(f"{k[:-len('_accuracy')]} loss {row[k[:-len('accuracy')] + 'loss']:.4f} acc {100 * v:.2f}%")
    parts.append(f"{row['time_s']:.1f} s ({row['samples_per_s']:.0f} samples/s)")
    return " | ".join(parts)
