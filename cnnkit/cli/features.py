"""``cnnkit features MODEL [IMAGE] --out DIR``: what each convolution layer of MODEL responds to
on one input, as PNG grids (plus the first convolution's kernels), and the prediction.

A LeNet-5 (``pretrained``, a ``cnnkit train lenet5`` checkpoint, or the zoo's ``lenet5``) gets
its input exactly as in training (:func:`cnnkit.data.as_mnist_digit`, then
:func:`cnnkit.data.prepare_mnist`); ``--mnist-index N`` takes MNIST's test digit N. Other
models get the picture scaled to [0, 1] and, for zoo models, resized to their input size.
By default each convolution is drawn *after* the activation applied to it (what the next
layer sees); ``--pre-activation`` draws the raw convolution outputs.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

EXAMPLES = """examples:
  cnnkit features pretrained --mnist-index 0 --out maps/
  cnnkit features runs/lenet5/model.safetensors digit.png --out maps/
  cnnkit features seed-kernels sample:camera --out maps/
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "features", help="save feature maps of a model's layers as PNG grids, and its prediction",
        description="Run MODEL (`pretrained`, a zoo name with random weights, a .py file defining `model`, "
                    "or a .safetensors checkpoint) on IMAGE and save one PNG per convolution layer plus "
                    "the first convolution's kernels.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL_OR_CHECKPOINT")
    p.add_argument("image", metavar="IMAGE", nargs="?", default=None,
                   help="an image file (PNG, JPEG, ...), sample:NAME (scikit-image sample), or a .npy array "
                        "(H, W) / (C, H, W); not needed with --mnist-index")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--mnist-index", type=int, default=None, metavar="N",
                   help="use MNIST's test digit N as the input (LeNet-5 models; needs the MNIST files)")
    p.add_argument("--data-dir", metavar="DIR", default=None, help="folder with the MNIST files (or its parent)")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: every conv layer)")
    p.add_argument("--pre-activation", action="store_true",
                   help="draw convolution outputs before their activation (default: after it)")
    p.add_argument("--model", dest="model_name", default=None, help="zoo architecture of a checkpoint")
    p.add_argument("--max-maps", type=int, default=64, help="most channels drawn per layer (default 64)")
    p.set_defaults(func=run)


def _read_picture(spec: str, mode: str) -> np.ndarray:
    from ..samples import SAMPLE_PREFIX, load_image
    if not spec.startswith(SAMPLE_PREFIX) and not Path(spec).is_file():
        raise FileNotFoundError(f"image {spec} not found")
    return load_image(spec, mode)


def load_image(spec: str, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """``(1, channels, H, W)`` float32 in [0, 1]; resized to ``size`` (H, W) when given.
    ``spec``: a picture file, ``sample:NAME`` or a ``.npy`` array."""
    if spec.endswith(".npy"):
        file = Path(spec)
        if not file.is_file():
            raise FileNotFoundError(f"image {spec} not found")
        arr = np.load(file, allow_pickle=False).astype(np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
        if arr.ndim != 3 or arr.shape[0] != channels:
            raise ValueError(f"{spec}: expected an array (H, W) or ({channels}, H, W), got shape {arr.shape}")
        return arr[None]
    if channels not in (1, 3):
        raise ValueError(f"the model takes {channels} input channels; images give 1 (grey) or 3 (RGB): "
                         f"pass a .npy array instead")
    arr = _read_picture(spec, "L" if channels == 1 else "RGB")
    if size is not None and arr.shape[:2] != tuple(size):
        from .._optional import require
        Image = require("PIL.Image", extra="image", purpose="resizing the image")
        arr = np.asarray(Image.fromarray(arr).resize((size[1], size[0]), Image.BILINEAR))
    arr = arr.astype(np.float32) / np.iinfo(arr.dtype).max  # uint8 (or 16-bit grey) -> [0, 1]
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return arr[None]


def lenet_input(args) -> tuple[np.ndarray, np.ndarray, str]:
    """``(digit uint8 (28, 28), network input (1, 1, 32, 32), description)`` for a LeNet-5."""
    from ..data import as_mnist_digit, load_mnist, prepare_mnist
    if args.mnist_index is not None:
        images, labels = load_mnist("test", args.data_dir)
        if not 0 <= args.mnist_index < len(images):
            raise ValueError(f"--mnist-index must be in 0..{len(images) - 1}, got {args.mnist_index}")
        digit = images[args.mnist_index]
        how = f"MNIST test digit {args.mnist_index} (label {int(labels[args.mnist_index])})"
    else:
        if args.image.endswith(".npy"):
            file = Path(args.image)
            if not file.is_file():
                raise FileNotFoundError(f"image {args.image} not found")
            picture = np.load(file, allow_pickle=False)
        else:
            picture = _read_picture(args.image, "L")
        digit = as_mnist_digit(picture)
        how = f"{args.image} as an MNIST-style digit"
    return digit, prepare_mnist(digit), how


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _print_prediction(model, image) -> None:
    from .. import functional as F
    from ..autograd import no_grad
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(image)
    finally:
        model.train(was_training)
    logits = getattr(out, "data", out)
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.shape[1] < 2:
        return
    probs = F.softmax(logits, dim=1).numpy()[0]
    k = int(probs.argmax())
    top = np.argsort(-probs)[:3]
    print(f"prediction: class {k} (probability {probs[k]:.3f}); top 3: "
          + ", ".join(f"{int(c)} {probs[c]:.3f}" for c in top))


def run(args: argparse.Namespace) -> int:
    from ..analysis import summary
    from ..analysis.summary import describe_field
    from ..analysis.zoo import resolve_model, seed_kernel_bank
    from ..models.lenet import LeNet5
    from ..viz import conv_layer_names, feature_maps, save_feature_grid, save_kernel_grid
    from ..viz.feature_maps import following_activations

    from .._optional import require
    require("matplotlib", extra="plot", purpose="cnnkit features (drawing the maps)")
    if args.image is None and args.mnist_index is None:
        raise ValueError("give an IMAGE or --mnist-index N")
    if args.image is not None and args.mnist_index is not None:
        raise ValueError("give either an IMAGE or --mnist-index N, not both")
    if not isinstance(args.max_maps, int) or args.max_maps < 1:
        raise ValueError(f"--max-maps must be a positive int, got {args.max_maps}")
    model, shape = resolve_model(args.model, args.model_name)
    convs = conv_layer_names(model)
    first = dict(model.named_modules())[convs[0]] if convs else None
    picture = None
    if isinstance(model, LeNet5):
        picture, image, how = lenet_input(args)
        print(f"input: {how}, prepared as in training (pad 2, (x/255 - 0.1307)/0.3081)")
    else:
        if args.mnist_index is not None:
            raise ValueError("--mnist-index is for LeNet-5 models (MNIST digits); give an IMAGE")
        channels = shape[1] if shape else (first.weight.shape[1] * first.groups if first is not None else 1)
        image = load_image(args.image, channels, tuple(shape[2:]) if shape and len(shape) == 4 else None)
    params = list(model.parameters())
    if params:
        image = image.astype(params[0].dtype, copy=False)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else convs
    if not layers:
        raise ValueError("the model has no convolution layer: choose layers with --layers")
    after = {} if args.pre_activation else following_activations(model, image, layers)
    drawn = [after.get(name, name) for name in layers]
    maps = feature_maps(model, image, drawn)
    table = summary(model, input_data=image, depth=10 ** 6)
    rows = {r.name: r for r in table.rows}
    out = Path(args.out)
    written = [save_feature_grid(image, out / "00_input.png", title="input, as the model sees it", max_maps=args.max_maps)]
    kernel_names = dict(enumerate(seed_kernel_bank()[0])) if args.model == "seed-kernels" else None
    by_drawn = {after.get(name, name): name for name in layers}
    for i, (name, act) in enumerate(maps.items(), start=1):
        layer = by_drawn.get(name.split("#")[0], name)
        row = rows.get(layer)
        rf = describe_field(row.field)[0] if row is not None else "?"
        kind = f" ({row.type})" if row is not None else ""
        stage = (f" after {name} ({rows[name].type})" if layer != name and name in rows
                 else ", before activation" if args.pre_activation else "")
        written.append(save_feature_grid(act, out / f"{i:02d}_{_safe(layer)}.png",
                                         title=f"layer {layer}{kind}{stage}, receptive field {rf}",
                                         max_maps=args.max_maps, input_image=picture,
                                         channel_names=kernel_names if convs and layer == convs[0] else None))
    if first is not None:
        written.append(save_kernel_grid(first.weight, out / f"kernels_{_safe(convs[0])}.png",
                                        title=f"kernels of {convs[0]} ({type(first).__name__})", names=kernel_names))
    _print_prediction(model, image)
    for path in written:
        print(path)
    return 0
