"""``cnnkit eval CHECKPOINT``: test accuracy of a LeNet-5 checkpoint written by ``cnnkit train lenet5``.

The checkpoint (``model.safetensors`` or ``training_state.safetensors``) carries
its training config, from which the model is rebuilt; it is then evaluated on the
MNIST test set.
"""
from __future__ import annotations

from pathlib import Path

from .._optional import require
from .train import _positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a LeNet-5 checkpoint on the MNIST test set",
                              description="Evaluate a checkpoint written by `cnnkit train lenet5` "
                                          "(model.safetensors or training_state.safetensors) on MNIST's test set.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="path of the .safetensors file")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST files (or the folder above mnist/); "
                   "only it is searched (default: $CNNKIT_DATA/mnist, then ~/.cache/cnnkit/mnist)")
    p.add_argument("--limit-test", type=_positive_int, default=None, help="use only the first N test images")
    p.add_argument("--batch-size", type=_positive_int, default=1000)
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import checkpoint
    from .. import functional as F
    from ..data import load_mnist
    from ..models import lenet5
    from ..training.fit import read_config
    from ..training.loop import evaluate
    from ..training.mnist import prepare_images

    require("safetensors.numpy", extra="weights", purpose="cnnkit eval (reading the checkpoint)")
    path = Path(args.checkpoint)
    config = read_config(path)
    if config.get("model") != "lenet5":
        raise ValueError(f"{path}: cnnkit eval handles lenet5 checkpoints, this one is {config.get('model')!r}")
    model = lenet5(config.get("variant", "modern"))
    if checkpoint.TRAINING_STATE_KEY in checkpoint.load_metadata(path):
        checkpoint.load_training_state(path, model)
    else:
        checkpoint.load_into(model, path)
    images, labels = load_mnist("test", args.data_dir)
    if args.limit_test is not None:
        images, labels = images[:args.limit_test], labels[:args.limit_test]
    m = evaluate(model, F.cross_entropy, images, labels.astype("int64"), args.batch_size, prepare_images)
    correct = round(m["accuracy"] * len(labels))
    print(f"{path}: LeNet-5 ({config.get('variant', 'modern')}) test accuracy {100 * m['accuracy']:.2f}% "
          f"({correct}/{len(labels)}), loss {m['loss']:.4f}")
    return 0
