"""Shared checks for the ONNX tests: run a model in onnxruntime and in onnx's reference
evaluator, and measure errors relative to the output's range (the issue's criterion:
max |a - b| <= 1e-5 * (max(ref) - min(ref)))."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx.reference.op_run import OpRun  # noqa: E402
from onnx.reference.ops.op_conv_transpose import ConvTranspose as _ReferenceConvTranspose  # noqa: E402
from onnx.reference.ops.op_max_pool import MaxPool as _ReferenceMaxPool  # noqa: E402

REL_TOL = 1e-5
#: The largest relative error seen per check kind ("onnxruntime", "reference", "torch->cnnkit"), for the report.
LARGEST: dict[str, tuple[float, str]] = {}


def rel_error(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| divided by the range of ``ref`` (1 when the range is 0)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"shape {got.shape} != {ref.shape}"
    span = float(ref.max() - ref.min()) if ref.size else 0.0
    return float(np.abs(got - ref).max() / (span if span > 0 else 1.0)) if ref.size else 0.0


def assert_close(got, ref, kind: str, config: str) -> float:
    err = rel_error(got, ref)
    if err > LARGEST.get(kind, (-1.0, ""))[0]:
        LARGEST[kind] = (err, config)
    assert err <= REL_TOL, f"[{config}] {kind}: relative error {err:.3g} > {REL_TOL}"
    return err


def ort_session(proto) -> "ort.InferenceSession":
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


# onnx 1.23's reference evaluator has bugs that these tests would otherwise trip over (the first two
# are fixed upstream after 1.23); the corrected versions below follow the operator spec.
class GlobalMaxPool(OpRun):
    """Reduce axes 2.. (onnx 1.23 reduces the last two, wrong for 1-D and 3-D input: onnx/onnx#7682, PR #8383)."""

    def _run(self, x):
        return (x.max(axis=tuple(range(2, x.ndim)), keepdims=True),)


class ConvTranspose(_ReferenceConvTranspose):
    """group > 1 as one group-1 transposed convolution per group (onnx 1.23 slices the weight by output
    channels and writes one channel per group: onnx/onnx#8446)."""

    def _run(self, X, W, B=None, group=None, **kwargs):
        if not group or group == 1:
            return super()._run(X, W, B, group=1, **kwargs)
        xs, ws = np.split(X, group, axis=1), np.split(W, group, axis=0)
        bs = np.split(B, group) if B is not None else [None] * group
        return (np.concatenate([super(ConvTranspose, self)._run(x, w, b, group=1, **kwargs)[0]
                                for x, w, b in zip(xs, ws, bs)], axis=1),)


class MaxPool(_ReferenceMaxPool):
    """Always the general path (onnx 1.23's shortcut for stride 1 and dilation 1 loops over the output
    without the explicit pads and indexes past the padded input, e.g. kernel 3, stride 1, pads 1)."""

    def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None, pads=None,
             storage_order=None, strides=None):
        return self._max_pool(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                              kernel_shape=kernel_shape, pads=pads, storage_order=storage_order, strides=strides)


def reference(proto) -> ReferenceEvaluator:
    return ReferenceEvaluator(proto, new_ops=[GlobalMaxPool, ConvTranspose, MaxPool])
