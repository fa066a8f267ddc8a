"""ONNX export and import (``pip install cnnkit[onnx]``: onnx and onnxruntime).

* :func:`export` traces any :class:`cnnkit.nn.Module` at the level of cnnkit's ops
  and writes an ONNX model: one input and one output with a symbolic batch
  dimension, initializers named by the ``state_dict`` keys, a ``value_info`` with
  the shape of every intermediate tensor, opset :data:`DEFAULT_OPSET` (the newest
  that the installed onnx and onnxruntime both support).
* :func:`load` reads an ONNX model (also one written by ``torch.onnx.export``)
  into cnnkit layers that compute the same outputs and can be fine-tuned.
* :func:`coverage` is the operator table both use (:mod:`cnnkit.onnx.table`).

>>> import numpy as np, cnnkit, cnnkit.onnx
>>> from cnnkit import nn
>>> model = nn.Sequential(nn.Conv2d(1, 2, 3, padding="same", stride=2), nn.ReLU())
>>> proto = cnnkit.onnx.export(model, None, np.zeros((1, 1, 8, 8), np.float32))
>>> [n.op_type for n in proto.graph.node], [i.name for i in proto.graph.initializer]
(['Conv', 'Relu'], ['0.weight', '0.bias'])
>>> back = cnnkit.onnx.load(proto)
>>> x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
>>> bool((back(x).numpy() == model(x).numpy()).all())
True
"""
from .export import DEFAULT_OPSET, MIN_OPSET, ExportError, export
from .graph import OnnxGraph
from .load import MIN_IMPORT_OPSET, load
from .table import coverage

__all__ = ["export", "load", "coverage", "OnnxGraph", "ExportError", "DEFAULT_OPSET", "MIN_OPSET",
           "MIN_IMPORT_OPSET"]
