"""Small named models for ``cnnkit summary`` and ``cnnkit features``, and the one place
that turns a command-line MODEL argument into a model.

A MODEL is a zoo name (:data:`ZOO`, random weights, seeded), a ``.py`` file that
defines ``model`` (and optionally ``input_shape``), an ``.onnx`` file (read by
:func:`cnnkit.onnx.load`; the input shape is the file's, batch 1), or a ``.safetensors``
checkpoint of a zoo model (the architecture comes from ``--model NAME``, from
the checkpoint's metadata key ``"model"``, from the training configuration that
``cnnkit train lenet5`` stores in its checkpoints (which also gives the
variant), or from the start of the file name, e.g. ``lenet5_epoch3.safetensors``).

The examples of the study text (the Chinese CNN tutorial cnnkit follows; the
``seed-`` names refer to it) are here, so that their numbers can be read off a table:

* ``vgg-block`` vs ``conv5x5``: two stacked 3x3 convolutions see the 5x5 field of
  one 5x5 convolution with 18 instead of 25 weights (one channel, no bias);
* ``dilated``: a 3x3 kernel with dilation 2 sees 5x5 with 9 weights;
* ``separable`` vs ``conv-16-32``: 16 -> 32 channels, 3x3: 16*3*3 + 16*32 = 656
  weights instead of 16*32*3*3 = 4608;
* ``seed-transposed``: 5x5 -(3x3, stride 2)-> 2x2 -(transposed 3x3, stride 2)-> 5x5;
* ``xception``: Chollet's Xception (:func:`cnnkit.models.xception`), the study text's evidence that
  depthwise-separable convolutions work: 22,855,952 trainable parameters, as Keras;
* ``seed-kernels``: the study text's classic kernels (identity, two edge detectors,
  sharpen, box and Gaussian blur; :mod:`cnnkit.kernels`) as a fixed first
  layer, then learned layers whose fields grow with depth.
"""
from __future__ import annotations

import contextlib
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import nn
from .. import random as ck_random
from ..io.files import check_regular_file

__all__ = ["ZOO", "PRETRAINED", "ZooEntry", "build", "resolve_model", "load_weights", "seed_kernel_bank"]

def seed_kernel_bank() -> tuple[tuple[str, ...], np.ndarray]:
    """The study text's classic 3x3 kernels (:data:`cnnkit.kernels.SEED_KERNELS`, in the table's
    order) as the names and a conv weight ``(6, 1, 3, 3)`` float32."""
    from ..kernels import SEED_KERNELS, get_kernel
    weight = np.stack([get_kernel(name) for name in SEED_KERNELS])[:, None].astype(np.float32)
    return tuple(SEED_KERNELS), weight


@dataclass(frozen=True)
class ZooEntry:
    builder: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    description: str
    dtype: str = "float32"  # of the input: int64 for token indices


# ------------------------------------------------------------------ builders
def _lenet5() -> nn.Module:
    """LeNet-5 for 32x32 inputs (ReLU and max pooling, as in most modern re-implementations)."""
    try:  # the project's own model, once it exists, is the one to show
        from ..models import lenet5  # type: ignore[attr-defined]
        return lenet5()
    except ImportError:
        pass
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


class _TextCNN(nn.Module):
    """Kim's sentence CNN, small: embedding, Conv1d windows 3/4/5 over the tokens, max over time."""

    def __init__(self, vocab_size: int = 1000, embed_dim: int = 32, windows=(3, 4, 5), maps: int = 16):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, maps, h) for h in windows])
        self.acts = nn.ModuleList([nn.ReLU() for _ in windows])
        self.pools = nn.ModuleList([nn.AdaptiveMaxPool1d(1) for _ in windows])
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(maps * len(windows), 2)

    def forward(self, ids):
        x = self.embedding(ids).transpose(1, 2)  # (N, E, L): the convolutions slide over tokens
        pooled = [pool(act(conv(x))) for conv, act, pool in zip(self.convs, self.acts, self.pools)]
        from ..autograd import cat
        return self.fc(self.flatten(cat(pooled, dim=1)))


def _textcnn() -> nn.Module:
    try:  # the project's own model, once it exists
        from ..models import textcnn  # type: ignore[attr-defined]
        return textcnn(vocab_size=1000, embed_dim=32, maps=16)
    except ImportError:
        return _TextCNN()


def _vgg_block() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.ReLU(), nn.Conv2d(1, 1, 3, bias=False), nn.ReLU())


def _separable() -> nn.Module:
    if hasattr(nn, "SeparableConv2d"):
        return nn.SeparableConv2d(16, 32, 3, bias=False)
    return nn.Sequential(nn.Conv2d(16, 16, 3, groups=16, bias=False), nn.Conv2d(16, 32, 1, bias=False))


def _xception() -> nn.Module:
    from ..models import xception
    return xception()


def _seed_kernels() -> nn.Module:
    names, weight = seed_kernel_bank()
    first = nn.Conv2d(1, len(names), 3, padding=1, bias=False)
    first.weight.data = weight
    first.weight.requires_grad = False  # fixed, classic: shows up as non-trainable
    return nn.Sequential(
        first,
        nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 3 * 3, 10),
    )


ZOO: dict[str, ZooEntry] = {
    "lenet5": ZooEntry(_lenet5, (1, 1, 32, 32), "LeNet-5 (conv 5x5, pool, conv 5x5, pool, 3 linear layers)"),
    "textcnn": ZooEntry(_textcnn, (1, 40), "Kim's TextCNN (1000 words, 32-d embedding, windows 3/4/5) on 40 token indices",
                        dtype="int64"),
    "vgg-block": ZooEntry(_vgg_block, (1, 1, 9, 9), "two stacked 3x3 convolutions, 1 channel, no bias: 18 weights"),
    "conv5x5": ZooEntry(lambda: nn.Conv2d(1, 1, 5, bias=False), (1, 1, 9, 9),
                        "one 5x5 convolution, 1 channel, no bias: 25 weights, the same 5x5 field"),
    "dilated": ZooEntry(lambda: nn.Conv2d(1, 1, 3, dilation=2, bias=False), (1, 1, 9, 9),
                        "a 3x3 kernel with dilation 2: a 5x5 field from 9 weights"),
    "separable": ZooEntry(_separable, (1, 16, 32, 32), "depthwise-separable 3x3, 16 -> 32 channels: 656 weights"),
    "conv-16-32": ZooEntry(lambda: nn.Conv2d(16, 32, 3, bias=False), (1, 16, 32, 32),
                           "standard 3x3 convolution, 16 -> 32 channels: 4608 weights"),
    "seed-transposed": ZooEntry(
        lambda: nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.ConvTranspose2d(1, 1, 3, stride=2)), (1, 1, 5, 5),
        "the study text's example: 5x5 -> conv 3x3 stride 2 -> 2x2 -> transposed conv 3x3 stride 2 -> 5x5"),
    "seed-kernels": ZooEntry(_seed_kernels, (1, 1, 28, 28),
                             "the study text's classic kernels as a fixed first layer, then three conv + pool stages"),
    "xception": ZooEntry(_xception, (1, 3, 299, 299),
                         "Xception (Chollet 2017): depthwise-separable convolutions, 22.9 M weights, as Keras"),
}


#: The MODEL name of the bundled trained LeNet-5.
PRETRAINED = "pretrained"


@contextlib.contextmanager
def _seeded(seed: int):
    """Build with cnnkit's default generator reseeded, then put the caller's generator back."""
    previous = ck_random.default_generator()
    ck_random.manual_seed(seed)
    try:
        yield
    finally:
        ck_random._generator = previous


def build(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """The zoo model ``name`` (random weights from ``seed``) and its default input shape."""
    if name not in ZOO:
        raise ValueError(f"unknown model {name!r}; the zoo has: {', '.join(ZOO)}")
    entry = ZOO[name]
    with _seeded(seed):
        model = entry.builder()
    return model, entry.input_shape


# ------------------------------------------------------------- checkpoints
def _checkpoint_arch(path: Path, model_name: str | None) -> str:
    if model_name:
        return model_name
    from .. import checkpoint
    name = checkpoint.load_metadata(path).get("model")
    if name in ZOO:
        return name
    stem = path.stem.lower()
    for name in sorted(ZOO, key=len, reverse=True):
        if stem.startswith(name):
            return name
    raise ValueError(f"cannot tell which zoo model the checkpoint {path} holds: pass --model NAME "
                     f"(one of {', '.join(ZOO)}), or save it with metadata {{'model': NAME}}")


def _trained_lenet5(path: Path) -> nn.Module | None:
    """The LeNet-5 of the variant a ``cnnkit train lenet5`` checkpoint was trained as
    (its ``cnnkit.config`` metadata), or ``None`` for any other checkpoint."""
    import json

    from .. import checkpoint
    from ..models import lenet5
    from ..training.fit import CONFIG_KEY
    raw = checkpoint.load_metadata(path).get(CONFIG_KEY)
    try:
        config = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return None
    if not isinstance(config, dict) or config.get("model") != "lenet5":
        return None
    return lenet5(variant=config.get("variant", "modern"))


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a safetensors checkpoint (PyTorch key names) into ``model``, strictly
    (:func:`cnnkit.checkpoint.load_into`)."""
    from .. import checkpoint
    checkpoint.load_into(model, path)
    return model


def resolve_model(spec: str, model_name: str | None = None, seed: int = 0) -> tuple[nn.Module, tuple[int, ...] | None]:
    """A command-line MODEL as ``(model, default input shape or None)``.

    ``"pretrained"`` is the bundled trained LeNet-5 (:func:`cnnkit.models.lenet5` with
    ``pretrained=True``)."""
    if spec == PRETRAINED:
        from ..models import lenet5
        return lenet5(pretrained=True), ZOO["lenet5"].input_shape
    if spec in ZOO:
        return build(spec, seed)
    path = Path(spec)
    if path.suffix == ".safetensors":
        check_regular_file(path, "checkpoint")
        trained = None if model_name else _trained_lenet5(path)
        if trained is not None:
            return load_weights(trained, path), ZOO["lenet5"].input_shape
        model, shape = build(_checkpoint_arch(path, model_name), seed)
        return load_weights(model, path), shape
    if path.suffix == ".onnx":
        from ..onnx import load
        model = load(path)  # FileNotFoundError / ValueError naming the file
        return model, model.input_shape
    if path.suffix == ".py":
        check_regular_file(path, "model file")
        namespace = runpy.run_path(str(path))
        model = namespace.get("model")
        if not isinstance(model, nn.Module):
            raise ValueError(f"{spec} must define `model`, a cnnkit.nn.Module (got {type(model).__name__})")
        shape = namespace.get("input_shape")
        return model, (tuple(shape) if shape is not None else None)
    raise ValueError(f"MODEL must be {PRETRAINED!r}, a zoo name ({', '.join(ZOO)}), a .py file defining `model`, "
                     f"a .safetensors checkpoint or an .onnx file; got {spec!r}")
