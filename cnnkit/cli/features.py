"""``cnnkit features MODEL_OR_CHECKPOINT IMAGE --out DIR [--layers a,b]``: save the
feature maps of chosen layers (default: every convolution) as PNG grids, plus the
kernels of the first convolution."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "features", help="save feature maps of a model's layers as PNG grids",
        description="Run MODEL (a zoo name with random weights, a .py file defining `model`, or a "
                    ".safetensors checkpoint of a zoo model) on IMAGE and save one PNG per layer "
                    "plus the first convolution's kernels.")
    p.add_argument("model", metavar="MODEL_OR_CHECKPOINT")
    p.add_argument("image", metavar="IMAGE", help="an image file (PNG, JPEG, ...) or a .npy array (H, W) / (C, H, W)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: every conv layer)")
    p.add_argument("--model", dest="model_name", default=None, help="zoo architecture of a checkpoint")
    p.add_argument("--max-maps", type=int, default=64, help="most channels drawn per layer (default 64)")
    p.set_defaults(func=run)


def load_image(path: str, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """``(1, channels, H, W)`` float32 in [0, 1]; resized to ``size`` (H, W) when given."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"image {path} not found")
    if file.suffix == ".npy":
        arr = np.load(file, allow_pickle=False).astype(np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
        if arr.ndim != 3 or arr.shape[0] != channels:
            raise ValueError(f"{path}: expected an array (H, W) or ({channels}, H, W), got shape {arr.shape}")
        return arr[None]
    if channels not in (1, 3):
        raise ValueError(f"the model takes {channels} input channels; images give 1 (grey) or 3 (RGB): "
                         f"pass a .npy array instead")
    from ..io.image import read_image
    arr = read_image(file, "L" if channels == 1 else "RGB")
    if size is not None and arr.shape[:2] != tuple(size):
        from PIL import Image  # read_image needed Pillow already
        arr = np.asarray(Image.fromarray(arr).resize((size[1], size[0]), Image.BILINEAR))
    arr = arr.astype(np.float32) / np.iinfo(arr.dtype).max  # uint8 (or 16-bit grey) -> [0, 1]
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return arr[None]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def run(args: argparse.Namespace) -> int:
    from ..analysis import summary
    from ..analysis.summary import describe_field
    from ..analysis.zoo import resolve_model, seed_kernel_bank
    from ..viz import conv_layer_names, feature_maps, save_feature_grid, save_kernel_grid

    model, shape = resolve_model(args.model, args.model_name)
    convs = conv_layer_names(model)
    first = dict(model.named_modules())[convs[0]] if convs else None
    channels = shape[1] if shape else (first.weight.shape[1] * first.groups if first is not None else 1)
    image = load_image(args.image, channels, tuple(shape[2:]) if shape and len(shape) == 4 else None)
    image = image.astype(next(iter(model.parameters())).dtype, copy=False) if any(True for _ in model.parameters()) else image
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else convs
    if not layers:
        raise ValueError("the model has no convolution layer: choose layers with --layers")
    maps = feature_maps(model, image, layers)
    table = summary(model, input_data=image, depth=10 ** 6)
    rows = {r.name: r for r in table.rows}
    out = Path(args.out)
    written = [save_feature_grid(image, out / "00_input.png", title="input, as the model sees it", max_maps=args.max_maps)]
    kernel_names = dict(enumerate(seed_kernel_bank()[0])) if args.model == "seed-kernels" else None
    for i, (name, act) in enumerate(maps.items(), start=1):
        row = rows.get(name.split("#")[0])
        rf = describe_field(row.field)[0] if row is not None else "?"
        kind = f" ({row.type})" if row is not None else ""
        written.append(save_feature_grid(act, out / f"{i:02d}_{_safe(name)}.png",
                                         title=f"layer {name}{kind}, receptive field {rf}", max_maps=args.max_maps,
                                         channel_names=kernel_names if convs and name == convs[0] else None))
    if first is not None:
        names = kernel_names
        written.append(save_kernel_grid(first.weight, out / f"kernels_{_safe(convs[0])}.png",
                                        title=f"kernels of {convs[0]} ({type(first).__name__})", names=names))
    for path in written:
        print(path)
    return 0
