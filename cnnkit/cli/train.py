"""``cnnkit train lenet5 | textcnn``: train the two classic CNNs on real data.

``cnnkit train lenet5`` trains LeNet-5 on MNIST and writes ``model.safetensors``,
``training_state.safetensors``, ``metrics.json`` and feature-map PNGs to ``--out``.
Ctrl-C finishes the current batch, saves a resumable state and exits with code 130;
``--resume`` (with the same ``--out``) continues to the result of an uninterrupted run.

``cnnkit train textcnn --dataset mr`` runs Kim (2014)'s CNN-rand with k-fold
cross-validation, prints per-fold and mean test accuracy and saves each fold's
model (``model_fold<k>.safetensors``, with its vocabulary; ``cnnkit eval`` and
``cnnkit explain --text`` read it).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .._optional import require

#: Options that may differ when a LeNet-5 run is resumed: none (the learning-rate schedule depends on
#: ``epochs``, so a resumed run must keep every option of the saved one to reach the same result).
LENET_RESUME_FREE: tuple[str, ...] = ()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR", help="folder with the dataset files (or the folder above "
                   "mnist/ or mr/); only it is searched. Default: $CNNKIT_DATA/<dataset>, then "
                   "~/.cache/cnnkit/<dataset> (MNIST is downloaded there)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<model>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a run")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: per optimizer)")
    p.add_argument("--epochs", type=_positive_int, default=None)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train LeNet-5 on MNIST or TextCNN on MR",
        description="Train LeNet-5 on MNIST (cnnkit train lenet5) or Kim's TextCNN on MR with k-fold "
                    "cross-validation (cnnkit train textcnn --dataset mr).",
        epilog="examples:\n  cnnkit train lenet5 --out runs/lenet5\n"
               "  cnnkit train lenet5 --out runs/lenet5 --resume        # after Ctrl-C\n"
               "  cnnkit train lenet5 --variant classic --optimizer sgd --epochs 10\n"
               "  cnnkit train textcnn --dataset mr --folds 10 --out runs/textcnn",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    models = p.add_subparsers(dest="model", metavar="MODEL", required=True)

    le = models.add_parser("lenet5", help="LeNet-5 on MNIST (32x32 inputs: digits padded by 2)",
                           description="Train LeNet-5 on MNIST. Defaults (Adam lr 2e-3 with cosine decay, batch 64, "
                                       "8 epochs) reach about 99.2% test accuracy (seed 0; see BENCHMARKS.md).")
    _common(le)
    le.add_argument("--variant", choices=("modern", "classic"), default=None,
                    help="modern: ReLU + max pooling (default); classic: tanh + average pooling")
    le.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default=None, help="default adam")
    le.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0.9)")
    le.add_argument("--weight-decay", type=float, default=None)
    le.add_argument("--schedule", choices=("cosine", "none"), default=None,
                    help="learning-rate schedule over the epochs (default cosine)")
    le.add_argument("--limit-train", type=_positive_int, default=None, help="use only the first N training images")
    le.add_argument("--limit-test", type=_positive_int, default=None, help="use only the first N test images")
    le.set_defaults(func=run_lenet5)

    tc = models.add_parser("textcnn", help="Kim's TextCNN (CNN-rand) on MR, k-fold cross-validation",
                           description="Train Kim (2014)'s CNN-rand on the MR sentence polarity data with k-fold "
                                       "cross-validation; prints per-fold and mean test accuracy.")
    _common(tc)
    tc.add_argument("--dataset", choices=("mr",), default="mr")
    tc.add_argument("--folds", type=_positive_int, default=None, help="number of folds (default 10)")
    tc.add_argument("--fold-ids", type=_positive_int, nargs="+", default=None, metavar="K",
                    help="run only these folds (1-based), e.g. --fold-ids 1 2")
    tc.add_argument("--patience", type=int, default=None,
                    help="stop a fold after this many epochs without a better dev accuracy (0: never; default 2)")
    tc.add_argument("--optimizer", choices=("adadelta", "adam", "adamw", "sgd"), default=None)
    tc.add_argument("--head", choices=("linear", "ln"), default=None,
                    help="linear (Kim) or ln (LayerNorm before dropout)")
    tc.add_argument("--dropout", type=float, default=None)
    tc.add_argument("--max-norm", type=float, default=None, help="L2 max-norm of the output rows (0: off; default 3)")
    tc.add_argument("--limit", type=_positive_int, default=None, help="use a random subset of N sentences")
    tc.set_defaults(func=run_textcnn)
    # `cnnkit train --help` lists every model's options, not only MODEL
    p.epilog = "\n\n".join([f"{name} options (cnnkit train {name} --help):\n" + _options_text(sub)
                             for name, sub in (("lenet5", le), ("textcnn", tc))] + [p.epilog])


def _options_text(parser: argparse.ArgumentParser) -> str:
    """The options section of ``parser``'s help (without its usage and description)."""
    text = parser.format_help()
    start = text.find("options:")
    return text[start + len("options:"):].strip("\n") if start >= 0 else text


def _explicit(args, keys) -> dict:
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _out_dir(args, model: str, state_file: str) -> Path:
    if args.out is None:
        if args.resume:
            raise ValueError("--resume needs --out DIR (the folder of the run to continue)")
        return Path("runs") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = Path(args.out)
    if not args.resume and not args.overwrite and (out / state_file).is_file():
        raise ValueError(f"{out} already holds a run: pass --resume to continue it, --overwrite to start afresh, "
                         f"or choose another --out")
    return out


def run_lenet5(args) -> int:
    from ..training.fit import STATE_FILE, read_config
    from ..training.mnist import DEFAULTS, train_lenet5

    # up front, not after the first epoch: checkpoints need safetensors, the feature maps matplotlib
    require("safetensors.numpy", extra="weights", purpose="cnnkit train (checkpoints)")
    require("matplotlib", extra="plot", purpose="cnnkit train lenet5 (the feature-map pictures)")

    keys = [k for k in DEFAULTS if k != "model"]
    given = _explicit(args, keys)
    out = _out_dir(args, "lenet5", STATE_FILE)
    if args.resume:
        saved = read_config(out / STATE_FILE)
        clash = {k: (saved.get(k), v) for k, v in given.items() if k not in LENET_RESUME_FREE and saved.get(k) != v}
        if clash:
            raise ValueError("--resume: these options differ from the saved run: "
                             + ", ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in clash.items()))
        config = {**saved, **given}
    else:
        config = {**DEFAULTS, **given}
    summary = train_lenet5(config, data_dir=args.data_dir, out_dir=out, resume=args.resume, progress=args.progress)
    if summary["status"] != "complete":
        return 130
    h = summary["history"]
    total = sum(r["time_s"] for r in h)
    print(f"LeNet-5 test accuracy {100 * summary['test_accuracy']:.2f}% after {len(h)} epochs "
          f"({total:.0f} s training, {total / len(h):.1f} s per epoch)")
    print(f"wrote {out / 'model.safetensors'}, {out / 'metrics.json'} and feature maps in {out}")
    return 0


def run_textcnn(args) -> int:
    from ..training.fit import METRICS_FILE
    from ..training.mr import DEFAULTS, MODEL_FILE, train_textcnn_cv

    keys = [k for k in DEFAULTS if k not in ("model", "dataset")]
    config = {**DEFAULTS, **_explicit(args, keys)}
    out = _out_dir(args, "textcnn", METRICS_FILE)
    result = train_textcnn_cv(config, data_dir=args.data_dir, out_dir=out, resume=args.resume,
                              progress=args.progress)
    if result["folds"]:
        print("fold  best-epoch  dev-acc  test-acc  time")
        for r in result["folds"]:
            print(f"{r['fold']:>4}  {r['best_epoch']:>10}  {100 * r['dev_accuracy']:6.2f}%  "
                  f"{100 * r['test_accuracy']:7.2f}%  {r['time_s']:.0f} s")
        print(f"mean test accuracy over {result['folds_done']} folds: {100 * result['mean_test_accuracy']:.2f}% "
              f"(std {100 * result['std_test_accuracy']:.2f}); total {result['time_s']:.0f} s")
    models = f" and the fold models {out / MODEL_FILE.format(fold='<k>')}" if result["folds"] else ""
    print(f"wrote {out / METRICS_FILE}{models}")
    return 130 if result["status"] == "interrupted" else 0
