"""``cnnkit summary MODEL [--input-shape 1,1,32,32] [--depth 3]``: print a model's table
(shapes, parameters, multiply-adds, receptive fields)."""
from __future__ import annotations

import argparse

import numpy as np

from .._optional import require


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,1,32,32"`` -> ``(1, 1, 32, 32)``; an argparse error naming the option otherwise."""
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or any(n <= 0 for n in shape):
        raise argparse.ArgumentTypeError(f"--input-shape must be positive ints separated by commas, batch first "
                         f"(e.g. 1,1,32,32), got {text!r}")
    return shape


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "summary", help="table of a model: shapes, parameters, multiply-adds, receptive fields",
        description="Print a torchinfo-style table of MODEL: a zoo name, a .py file defining `model` "
                    "(and optionally `input_shape`), a .safetensors checkpoint of a zoo model, or an .onnx file "
                    "(imported with cnnkit.onnx.load).")
    p.add_argument("model", metavar="MODEL",
                   help="zoo name (`cnnkit summary list` lists them), path.py, checkpoint.safetensors or model.onnx")
    p.add_argument("--input-shape", type=parse_shape, default=None,
                   help="input shape with the batch, e.g. 1,1,32,32 (default: the model's own)")
    p.add_argument("--depth", type=int, default=3, help="deepest nesting level shown (default 3)")
    p.add_argument("--dtype", default=None,
                   help="input dtype (default: the zoo model's, else float32; int64 for token indices)")
    p.add_argument("--model", dest="model_name", default=None,
                   help="zoo architecture of a checkpoint (default: from its metadata or file name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import summary
    from ..analysis.zoo import ZOO, resolve_model

    if args.model == "list":
        for name, entry in ZOO.items():
            print(f"{name:16s} {list(entry.input_shape)!s:18s} {entry.description}")
        return 0
    if args.model.endswith(".safetensors"):
        require("safetensors.numpy", extra="weights", purpose="cnnkit summary of a checkpoint")
    model, default_shape = resolve_model(args.model, args.model_name)
    shape = args.input_shape or default_shape
    if shape is None:
        raise ValueError(f"{args.model} gives no input shape: pass --input-shape (e.g. 1,1,32,32)")
    dtype = args.dtype or (ZOO[args.model].dtype if args.model in ZOO else getattr(model, "input_dtype", "float32"))
    print(summary(model, shape, dtype=np.dtype(dtype), depth=args.depth))
    return 0
