"""cnnkit.autograd.trace: the op-level record the ONNX exporter reads."""
from __future__ import annotations

import numpy as np

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from cnnkit.autograd import trace
from cnnkit.functional.conv import ConvNd


def test_records_every_op_with_inputs_params_and_output():
    conv = nn.Conv2d(1, 2, 3, padding="same", stride=2)
    x = cnnkit.randn(1, 1, 6, 6)
    with trace.trace() as records:
        y = F.relu(conv(x)).reshape(1, -1)
    assert [type(r.op).__name__ for r in records] == ["ConvNd", "ReLU", "Reshape"]
    first = records[0]
    assert isinstance(first.op, ConvNd)
    assert first.inputs[0] is x and first.inputs[1] is conv.weight and first.inputs[2] is conv.bias
    assert first.params["pads"] == ((0, 1), (0, 1))  # "same" resolved by the functional layer
    assert first.params["stride"] == (2, 2)
    assert records[1].inputs[0] is first.output and records[-1].output is y
    assert records[-1].params == {"shape": (1, -1)} and records[-1].outputs == (y,)


def test_records_under_no_grad_and_only_while_active():
    x = cnnkit.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with cnnkit.no_grad(), trace.trace() as records:
        _ = x + 1
    _ = x * 3  # outside: not recorded
    assert [r.op.name for r in records] == ["Add"]
    assert not trace.is_tracing()


def test_inner_trace_records_into_its_own_list():
    x = cnnkit.tensor([1.0, 2.0])
    with trace.trace() as outer:
        _ = x + 1
        with trace.trace() as inner:
            _ = x * 2
        _ = x - 1
    assert [r.op.name for r in outer] == ["Add", "Sub"]
    assert [r.op.name for r in inner] == ["Mul"]


def test_where_is_called_at_each_op():
    x = cnnkit.tensor([1.0, 2.0])
    labels = iter(["first", "second"])
    with trace.trace(where=lambda: next(labels)) as records:
        _ = (x + 1) * 2
    assert [r.where for r in records] == ["first", "second"]


def test_doctest():
    import doctest

    result = doctest.testmod(trace, verbose=False)
    assert result.failed == 0 and result.attempted > 0
