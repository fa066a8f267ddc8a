"""``cnnkit eval CHECKPOINT``: test accuracy of a checkpoint written by ``cnnkit train``.

A LeNet-5 checkpoint (``model.safetensors`` or ``training_state.safetensors``) carries
its training config, from which the model is rebuilt; it is then evaluated on the
MNIST test set. ``cnnkit eval pretrained`` evaluates the bundled LeNet-5
(:func:`cnnkit.models.lenet5` with ``pretrained=True``). A TextCNN fold model
(``model_fold<k>.safetensors``) carries its config and vocabulary; it is evaluated
on its own test fold of MR, split again from the config
(:func:`cnnkit.training.mr.evaluate_checkpoint`).
"""
from __future__ import annotations

from pathlib import Path

from .._optional import require
from .train import _positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a LeNet-5 or TextCNN checkpoint on its test set",
                              description="Evaluate a checkpoint written by `cnnkit train lenet5` "
                                          "(model.safetensors or training_state.safetensors) on MNIST's test set, "
                                          "or a fold model of `cnnkit train textcnn` (model_fold<k>.safetensors) "
                                          "on its MR test fold.")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="path of the .safetensors file, or `pretrained` for the bundled LeNet-5")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST / MR files (or the folder above "
                   "mnist/ and mr/); only it is searched (default: $CNNKIT_DATA, then ~/.cache/cnnkit)")
    p.add_argument("--limit-test", type=_positive_int, default=None, help="LeNet-5: use only the first N test images")
    p.add_argument("--batch-size", type=_positive_int, default=1000)
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import checkpoint
    from .. import functional as F
    from ..data import load_mnist
    from ..models import lenet5
    from ..training.fit import read_config
    from ..training.loop import evaluate
    from ..data import prepare_mnist

    require("safetensors.numpy", extra="weights", purpose="cnnkit eval (reading the checkpoint)")
    from ..analysis.zoo import PRETRAINED
    if args.checkpoint == PRETRAINED:
        from ..models.lenet import PRETRAINED_PATH
        path, config = PRETRAINED_PATH, {"model": "lenet5", "variant": "modern"}
        model = lenet5(pretrained=True)
    else:
        path = Path(args.checkpoint)
        config = read_config(path)
        if config.get("model") == "textcnn":
            return _run_textcnn(path, args)
        if config.get("model") != "lenet5":
            raise ValueError(f"{path}: cnnkit eval handles lenet5 and textcnn checkpoints, this one is "
                             f"{config.get('model')!r}")
        model = lenet5(config.get("variant", "modern"))
        if checkpoint.TRAINING_STATE_KEY in checkpoint.load_metadata(path):
            checkpoint.load_training_state(path, model)
        else:
            checkpoint.load_into(model, path)
    images, labels = load_mnist("test", args.data_dir)
    if args.limit_test is not None:
        images, labels = images[:args.limit_test], labels[:args.limit_test]
    m = evaluate(model, F.cross_entropy, images, labels.astype("int64"), args.batch_size, prepare_mnist)
    correct = round(m["accuracy"] * len(labels))
    print(f"{path}: LeNet-5 ({config.get('variant', 'modern')}) test accuracy {100 * m['accuracy']:.2f}% "
          f"({correct}/{len(labels)}), loss {m['loss']:.4f}")
    return 0


def _run_textcnn(path: Path, args) -> int:
    from ..training.mr import evaluate_checkpoint

    r = evaluate_checkpoint(path, args.data_dir)
    print(f"{path}: TextCNN test accuracy {100 * r['accuracy']:.2f}% ({r['correct']}/{r['test_size']}) on MR "
          f"fold {r['fold']} of {r['folds']}, loss {r['loss']:.4f}")
    return 0
