"""``cnnkit export CHECKPOINT model.onnx [--input-shape 1,1,32,32] [--model NAME]``: write a model as ONNX.

CHECKPOINT resolves as for ``cnnkit summary`` (:func:`cnnkit.analysis.zoo.resolve_model`):
a ``.safetensors`` checkpoint of a zoo model (``cnnkit train lenet5`` writes them), a
zoo name (random weights) or a ``.py`` file defining ``model``.
"""
from __future__ import annotations

import argparse

import numpy as np

from .summary import parse_shape


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a model as ONNX (runs in onnxruntime and other ONNX tools)",
        description="Trace MODEL on an input of --input-shape and write an ONNX file with a symbolic batch "
                    "dimension, verified by onnx.checker. MODEL: a .safetensors checkpoint of a zoo model, a zoo "
                    "name or a .py file defining `model`.",
        epilog="example: cnnkit export runs/lenet5/model.safetensors lenet5.onnx")
    p.add_argument("model", metavar="CHECKPOINT", help="checkpoint.safetensors, a zoo name or path.py")
    p.add_argument("output", metavar="OUTPUT.onnx", help="the ONNX file to write")
    p.add_argument("--input-shape", type=parse_shape, default=None,
                   help="example input shape with the batch, e.g. 1,1,32,32 (default: the model's own)")
    p.add_argument("--model", dest="model_name", default=None,
                   help="zoo architecture of a checkpoint (default: from its metadata or file name)")
    p.add_argument("--dtype", default=None,
                   help="input dtype (default: the zoo model's, else float32; int64 for token indices)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the newest supported, 28)")
    p.add_argument("--static-batch", action="store_true", help="fix the batch size to the example's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.zoo import ZOO, resolve_model
    from ..onnx import export

    if not str(args.output).endswith(".onnx"):
        raise ValueError(f"the output file must end in .onnx, got {args.output!r}")
    model, default_shape = resolve_model(args.model, args.model_name)
    shape = args.input_shape or default_shape
    if shape is None:
        raise ValueError(f"{args.model} gives no input shape: pass --input-shape (e.g. 1,1,32,32)")
    arch = args.model_name or (args.model if args.model in ZOO else None)
    dtype = np.dtype(args.dtype or (ZOO[arch].dtype if arch in ZOO else "float32"))
    if np.issubdtype(dtype, np.integer):
        example = np.zeros(shape, dtype=dtype)  # index 0 is valid for any embedding
    else:
        example = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    proto = export(model, args.output, example, opset=args.opset, dynamic_batch=not args.static_batch)
    graph = proto.graph

    def dims(vi) -> str:
        return "[" + ", ".join(d.dim_param or str(d.dim_value) for d in vi.type.tensor_type.shape.dim) + "]"
    params = sum(p.size for p in model.parameters())
    print(f"wrote {args.output}: {type(model).__name__}, opset {proto.opset_import[0].version}, "
          f"input {graph.input[0].name} {dims(graph.input[0])} {dtype} -> output {graph.output[0].name} "
          f"{dims(graph.output[0])}, {len(graph.node)} nodes, {params:,} parameters")
    return 0
