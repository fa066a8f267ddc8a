"""Recipe: TextCNN CNN-rand (Kim 2014) on MR with k-fold cross-validation.

Preprocessing as Kim's ``process_data.py``: :func:`~cnnkit.data.mr.clean_str`,
a vocabulary over all 10,662 sentences (words seen only in a test fold keep
their random vectors: no label of the test fold is used), and every sentence
padded to ``h - 1`` zeros in front (``h`` the widest window) and zeros behind up
to ``max length + 2 (h - 1)`` = 64 columns.

Per fold (Kim's protocol): 10% of the training folds is held out as a dev set;
after each epoch the dev accuracy is measured, and the fold's result is the test
accuracy at the epoch with the best dev accuracy (``>=``, as Kim's script). Training
stops early after ``patience`` epochs without a better dev accuracy. After each
optimizer step the rows of the output layer's weight are renormalised to an L2
norm of at most ``max_norm`` (Kim's ``s = 3``).

Optimizer: Adam (lr 1e-3) by default, which peaks within 3-4 epochs; Kim's
Adadelta (``rho=0.95, eps=1e-6``, lr 1) is ``optimizer="adadelta"`` and needs
more epochs (Kim ran 25).

Results go to ``out_dir/metrics.json`` after each fold, and each fold's model (its
weights at the best dev epoch, the epoch its test accuracy is from) to
``out_dir/model_fold<k>.safetensors`` with its configuration and vocabulary
(:func:`save_textcnn`; :func:`load_textcnn` rebuilds it, :func:`evaluate_checkpoint`
re-measures its test accuracy, and :func:`encode_sentence` turns new text into its
input). ``resume=True`` skips the folds already there (a fold interrupted by Ctrl-C
starts over).
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import checkpoint
from .. import functional as F
from .. import optim
from ..data.mr import Vocabulary, kfold_splits, load_mr, pad_sequences, tokenize
from ..models import TextCNN, textcnn
from ..random import manual_seed
from .fit import CONFIG_KEY, METRICS_FILE, write_json
from .loop import StopFlag, evaluate, train_epoch

DEFAULTS = dict(model="textcnn", dataset="mr", folds=10, fold_ids=None, epochs=6, patience=2, batch_size=50,
                optimizer="adam", lr=None, seed=0, embed_dim=300, windows=[3, 4, 5], maps=100, dropout=0.5,
                head="linear", max_norm=3.0, dev_fraction=0.1, limit=None)
DEFAULT_LR = {"adadelta": 1.0, "adam": 1e-3, "adamw": 1e-3, "sgd": 0.1}
#: Config keys that may differ between a run and its resumption.
RESUMABLE_CHANGES = ("fold_ids",)
#: Each fold's model, in ``out_dir``.
MODEL_FILE = "model_fold{fold}.safetensors"
#: Checkpoint metadata key of the vocabulary, fold and input length (JSON); the config is under ``cnnkit.config``.
TEXTCNN_KEY = "cnnkit.textcnn"


def prepare_mr(data_dir=None, max_window: int = 5, limit: int | None = None,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, Vocabulary]:
    """``(ids int64 (N, L), labels int64 (N,), vocabulary)`` as Kim's preprocessing (module docstring).

    ``limit`` keeps a seeded random subset of that many sentences (for quick runs).
    """
    sentences, labels = load_mr(data_dir)
    if limit is not None:
        keep = np.sort(np.random.default_rng(seed).permutation(len(sentences))[:limit])
        sentences, labels = [sentences[i] for i in keep], labels[keep]
    tokens = [tokenize(s) for s in sentences]
    vocab = Vocabulary.build(tokens)
    pad = max_window - 1
    longest = max(len(t) for t in tokens)
    ids = pad_sequences([vocab.encode(t) for t in tokens], max_len=longest + pad, left=pad)
    return ids, labels, vocab


def make_optimizer(name: str, params, lr: float | None):
    if name not in DEFAULT_LR:
        raise ValueError(f"optimizer must be one of {sorted(DEFAULT_LR)}, got {name!r}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-6)  # Kim's rho and epsilon
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    return (optim.AdamW if name == "adamw" else optim.Adam)(params, lr=lr)


def dev_size(n_train: int, dev_fraction: float) -> int:
    """Sentences of a fold's training part held out as its dev set: ``round(n * dev_fraction)``,
    at least 1 (the best epoch is chosen on it; an empty dev set would choose none)."""
    return max(1, int(round(n_train * dev_fraction)))


def _check_fold_sizes(folds, dev_fraction: float, n: int) -> None:
    """``ValueError`` before any training when a fold would have no sentence left to train on."""
    smallest = min(len(train) for train, _ in folds)
    left = smallest - dev_size(smallest, dev_fraction)
    if left < 1:
        raise ValueError(f"{n} sentences are too few for {len(folds)} folds: the smallest fold trains on {smallest} "
                         f"sentences, {smallest - left} of them held out as its dev set, none left to train on "
                         f"(use a larger --limit or fewer --folds)")


def run_fold(fold: int, train_idx: np.ndarray, test_idx: np.ndarray, ids: np.ndarray, labels: np.ndarray,
             vocab_size: int, config: dict, progress: bool = True, log: Callable[[str], None] = print,
             stop: StopFlag | None = None) -> tuple[dict, TextCNN] | None:
    """Train and evaluate one fold: ``(result dict, model with the weights of the best dev epoch)``,
    or ``None`` when ``stop`` was requested."""
    seed = config["seed"] * 1000 + fold
    perm = np.random.default_rng(seed).permutation(train_idx)
    n_dev = dev_size(len(perm), config["dev_fraction"])
    dev, train = perm[:n_dev], perm[n_dev:]
    manual_seed(seed)
    model = textcnn(vocab_size, config["embed_dim"], tuple(config["windows"]), config["maps"], 2,
                    config["dropout"], config["head"])
    opt = make_optimizer(config["optimizer"], model.parameters(), config["lr"])
    max_norm = config["max_norm"]
    after_step = (lambda: model.max_norm_(max_norm)) if max_norm else None
    best = {"dev_accuracy": -1.0}
    best_state = None
    t0, since_best, epochs_run = time.perf_counter(), 0, 0
    for epoch in range(config["epochs"]):
        te = time.perf_counter()
        meter, done = train_epoch(model, opt, F.cross_entropy, ids[train], labels[train],
                                  batch_size=config["batch_size"], epoch=epoch, seed=seed, after_step=after_step,
                                  stop=stop, progress=progress,
                                  desc=f"fold {fold + 1}/{config['folds']} epoch {epoch + 1}")
        if stop is not None and stop.requested:
            return None
        epochs_run += 1
        dev_m = evaluate(model, F.cross_entropy, ids[dev], labels[dev], batch_size=500)
        line = (f"fold {fold + 1} epoch {epoch + 1}: train loss {meter.loss:.4f} acc {100 * meter.accuracy:.2f}% | "
                f"dev acc {100 * dev_m['accuracy']:.2f}%")
        if dev_m["accuracy"] >= best["dev_accuracy"]:
            test_m = evaluate(model, F.cross_entropy, ids[test_idx], labels[test_idx], batch_size=500)
            best = {"best_epoch": epoch + 1, "dev_accuracy": dev_m["accuracy"], "test_accuracy": test_m["accuracy"],
                    "train_accuracy": meter.accuracy}
            best_state = model.state_dict()
            since_best = 0
            line += f" | test acc {100 * test_m['accuracy']:.2f}% (best dev so far)"
        else:
            since_best += 1
        log(line + f" | {time.perf_counter() - te:.1f} s")
        if config["patience"] and since_best >= config["patience"]:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"fold": fold + 1, **best, "epochs_run": epochs_run, "train_size": len(train), "dev_size": len(dev),
            "test_size": len(test_idx), "time_s": time.perf_counter() - t0}, model


def _summary(results: list[dict]) -> dict:
    accs = [r["test_accuracy"] for r in results]
    return {"folds_done": len(accs), "mean_test_accuracy": statistics.fmean(accs) if accs else None,
            "std_test_accuracy": statistics.pstdev(accs) if len(accs) > 1 else 0.0,
            "time_s": sum(r["time_s"] for r in results)}


def train_textcnn_cv(config: dict, data_dir: str | os.PathLike | None = None,
                     out_dir: str | os.PathLike | None = None, resume: bool = False, progress: bool = True,
                     log: Callable[[str], None] = print, stop: StopFlag | None = None) -> dict:
    """``k``-fold cross-validation of TextCNN on MR with ``config`` (missing keys from :data:`DEFAULTS`).

    ``config["fold_ids"]`` (1-based fold numbers) runs only those folds. Returns
    ``{"config", "folds": [per-fold dicts], "status", "mean_test_accuracy", ...}``.
    """
    config = {**DEFAULTS, **config}
    if config["lr"] is None:
        config["lr"] = DEFAULT_LR.get(config["optimizer"])
    k = config["folds"]
    fold_ids = config["fold_ids"] or list(range(1, k + 1))
    bad = [f for f in fold_ids if not 1 <= f <= k]
    if bad:
        raise ValueError(f"fold_ids must be in 1..{k}, got {bad}")
    out = Path(out_dir) if out_dir is not None else None
    results: list[dict] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume:
            results = _resume_results(out / METRICS_FILE, config)
    ids, labels, vocab = prepare_mr(data_dir, max(config["windows"]), config["limit"], config["seed"])
    folds = kfold_splits(len(labels), k, seed=config["seed"], labels=labels)
    _check_fold_sizes(folds, config["dev_fraction"], len(labels))
    log(f"TextCNN CNN-rand on MR: {len(labels)} sentences, vocabulary {len(vocab) - 2} words (+ pad, unk), "
        f"padded length {ids.shape[1]}, {k}-fold CV (folds {fold_ids}), {config['optimizer']} lr {config['lr']}, "
        f"batch {config['batch_size']}, up to {config['epochs']} epochs, patience {config['patience']}")
    done = {r["fold"] for r in results}
    status = "complete"

    def write(st: str) -> None:
        if out is not None:
            write_json(out / METRICS_FILE, {"config": config, "status": st, "folds": results, **_summary(results)})

    own_flag = stop is None
    flag = stop if stop is not None else StopFlag()
    with flag if own_flag else contextlib.nullcontext():
        for f in fold_ids:
            if f in done:
                continue
            train_idx, test_idx = folds[f - 1]
            done_fold = run_fold(f - 1, train_idx, test_idx, ids, labels, len(vocab), config, progress, log, flag)
            if done_fold is None:
                status = "interrupted"
                log(f"stopped during fold {f}; completed folds are in {out / METRICS_FILE if out else 'memory'}"
                    + (" (continue with --resume)" if out else ""))
                break
            r, model = done_fold
            if out is not None:
                save_textcnn(out / MODEL_FILE.format(fold=f), model, vocab, config, fold=f,
                             padded_length=ids.shape[1])
            results.append(r)
            s = _summary(results)
            log(f"fold {f}: test accuracy {100 * r['test_accuracy']:.2f}% (best dev epoch {r['best_epoch']}) | "
                f"mean over {s['folds_done']} folds {100 * s['mean_test_accuracy']:.2f}%")
            write("running")
    if status == "complete" and len({r["fold"] for r in results}) < k:
        status = "partial"
    write(status)
    return {"config": config, "folds": results, "status": status, **_summary(results)}


def _resume_results(path: Path, config: dict) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"resume: there is no {path.name} in {path.parent}")
    saved = json.loads(path.read_text())
    old = {k: v for k, v in saved["config"].items() if k not in RESUMABLE_CHANGES}
    new = {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}
    diff = {k: (old.get(k), new.get(k)) for k in set(old) | set(new) if old.get(k) != new.get(k)}
    if diff:
        raise ValueError(f"resume: {path} was written with a different config: "
                         + ", ".join(f"{k}: {a!r} then, {b!r} now" for k, (a, b) in sorted(diff.items())))
    return list(saved["folds"])


# ------------------------------------------------------------------ checkpoints
@dataclass
class TextCNNCheckpoint:
    """What :func:`load_textcnn` returns: the model (eval mode), its vocabulary, the
    training config, the fold (1-based) and the padded input length of training."""

    model: TextCNN
    vocab: Vocabulary
    config: dict
    fold: int
    padded_length: int


def save_textcnn(path, model: TextCNN, vocab: Vocabulary, config: dict, *, fold: int, padded_length: int) -> Path:
    """Write ``model`` as safetensors (atomically) with ``config`` (JSON under ``cnnkit.config``)
    and the vocabulary, fold and padded length (JSON under :data:`TEXTCNN_KEY`)."""
    meta = {"vocabulary": list(vocab.itos), "fold": int(fold), "padded_length": int(padded_length)}
    return checkpoint.save(model, path, metadata={CONFIG_KEY: json.dumps(config), TEXTCNN_KEY: json.dumps(meta)})


def _bad(path, why: str) -> ValueError:
    return ValueError(f"{path} is not a valid TextCNN checkpoint: {why}")


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def load_textcnn(path) -> TextCNNCheckpoint:
    """Rebuild a model saved by :func:`save_textcnn`, validating its metadata first.

    ``ValueError`` naming the path when the config or the vocabulary is missing or
    malformed, or the weights do not match them; ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    meta = checkpoint.load_metadata(path)
    try:
        config = json.loads(meta[CONFIG_KEY])
        info = json.loads(meta[TEXTCNN_KEY])
    except KeyError as exc:
        raise _bad(path, f"no {exc.args[0]!r} metadata (was it written by `cnnkit train textcnn`?)") from None
    except json.JSONDecodeError as exc:
        raise _bad(path, f"its metadata is not JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("model") != "textcnn":
        raise _bad(path, f"its config is not a textcnn config: {str(config)[:80]}")
    for key in ("embed_dim", "maps"):
        if not _positive(config.get(key)):
            raise _bad(path, f"config {key!r} must be a positive int, got {config.get(key)!r}")
    windows = config.get("windows")
    if not isinstance(windows, list) or not windows or not all(_positive(h) for h in windows):
        raise _bad(path, f"config 'windows' must be a non-empty list of positive ints, got {windows!r}")
    dropout = config.get("dropout")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise _bad(path, f"config 'dropout' must be a number in [0, 1), got {dropout!r}")
    if not isinstance(info, dict):
        raise _bad(path, f"its {TEXTCNN_KEY!r} metadata is not a JSON object")
    itos = info.get("vocabulary")
    if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
        raise _bad(path, "the vocabulary must be a list of strings")
    try:
        vocab = Vocabulary(itos)
    except ValueError as exc:
        raise _bad(path, str(exc)) from None
    fold, length = info.get("fold"), info.get("padded_length")
    if not _positive(fold) or not _positive(length) or length < max(windows):
        raise _bad(path, f"fold ({fold!r}) and padded_length ({length!r}) must be positive ints, "
                         f"the length at least the widest window")
    model = textcnn(len(vocab), config["embed_dim"], tuple(windows), config["maps"], 2, float(dropout),
                    config.get("head", "linear"))
    checkpoint.load_into(model, path)
    model.eval()
    return TextCNNCheckpoint(model, vocab, config, fold, length)


def encode_sentence(text: str, vocab: Vocabulary, max_window: int, padded_length: int) -> tuple[np.ndarray, list[str]]:
    """``(ids int64 (1, L), tokens)`` for one sentence, padded as in training: ``max_window - 1``
    zeros in front, zeros behind up to ``padded_length`` (longer sentences keep all their tokens).

    Tokens are Kim's (:func:`~cnnkit.data.mr.tokenize`); unknown words map to ``<unk>``.
    """
    tokens = tokenize(text)
    if not tokens:
        raise ValueError(f"the text {text!r} has no tokens after Kim's cleaning")
    left = max_window - 1
    ids = pad_sequences([vocab.encode(tokens)], max_len=max(padded_length - left, len(tokens)), left=left)
    return ids, tokens


def evaluate_checkpoint(path, data_dir=None) -> dict:
    """Re-measure a fold model's test accuracy on its own test fold.

    The data are prepared and split again from the checkpoint's config (same seed,
    ``limit`` and folds); the vocabulary rebuilt from them must equal the saved one.
    Returns ``{"fold", "folds", "accuracy", "loss", "correct", "test_size"}``.
    """
    ck = load_textcnn(path)
    c = ck.config
    ids, labels, vocab = prepare_mr(data_dir, max(c["windows"]), c.get("limit"), c.get("seed", 0))
    if vocab.itos != ck.vocab.itos:
        raise ValueError(f"{path}: the MR data found give another vocabulary than the one the model was trained "
                         f"with (other files, or another limit)")
    folds = kfold_splits(len(labels), c["folds"], seed=c.get("seed", 0), labels=labels)
    test = folds[ck.fold - 1][1]
    m = evaluate(ck.model, F.cross_entropy, ids[test], labels[test], batch_size=500)
    return {"fold": ck.fold, "folds": c["folds"], "accuracy": m["accuracy"], "loss": m["loss"],
            "correct": int(round(m["accuracy"] * len(test))), "test_size": len(test)}
