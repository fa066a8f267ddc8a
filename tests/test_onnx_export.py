"""cnnkit.onnx.export: arguments, the file it writes, the opset, fixed and dynamic batch,
and clear errors (naming the op and the module path) for what ONNX cannot express."""
from __future__ import annotations

import json

import numpy as np
import pytest

from onnx_helpers import onnx, ort, ort_session

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from cnnkit.models import lenet5

co = pytest.importorskip("cnnkit.onnx")
X = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)


def test_default_opset_is_the_newest_onnx_and_onnxruntime_support():
    assert co.DEFAULT_OPSET == 28
    assert onnx.defs.onnx_opset_version() >= co.DEFAULT_OPSET
    proto = co.export(nn.Sequential(nn.ReLU()), None, np.zeros((1, 3), np.float32))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 28)]
    ort_session(proto)  # onnxruntime accepts it (it refuses 29, "under development", here)


def test_writes_a_checked_file_with_state_dict_names(tmp_path):
    cnnkit.manual_seed(0)
    model = lenet5()
    path = tmp_path / "lenet5.onnx"
    proto = co.export(model, path, X)
    on_disk = onnx.load(str(path))
    onnx.checker.check_model(on_disk, full_check=True)
    assert on_disk == proto and on_disk.producer_name == "cnnkit"
    assert [i.name for i in on_disk.graph.initializer] == list(model.state_dict())  # conv1.weight, ..., fc3.bias
    state = json.loads({p.key: p.value for p in on_disk.metadata_props}["cnnkit.state"])
    assert state == {"parameters": list(model.state_dict()), "frozen": [], "buffers": []}
    names = [n.name for n in on_disk.graph.node]
    assert names[:3] == ["/conv1/Conv", "/act1/Relu", "/pool1/MaxPool"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        co.export(model, tmp_path / "missing" / "m.onnx", X)


def test_export_restores_training_mode_and_leaves_the_generator_alone():
    cnnkit.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).train()
    state = cnnkit.random.default_generator().bit_generator.state
    proto = co.export(model, None, np.ones((2, 4), np.float32))
    assert model.training and all(m.training for m in model.modules())
    assert [n.op_type for n in proto.graph.node] == ["Gemm"]  # traced in eval mode: no dropout
    assert cnnkit.random.default_generator().bit_generator.state == state


def test_static_batch_fixes_every_shape():
    proto = co.export(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), None, X, dynamic_batch=False)
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 1, 32, 32]
    session = ort_session(proto)
    assert session.run(None, {"input": X})[0].shape == (2, 2 * 30 * 30)
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        session.run(None, {"input": X[:1]})


def test_oldest_opset_and_what_needs_a_newer_one():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Maxout(2), nn.LayerNorm(32))
    proto = co.export(model, None, X, opset=co.MIN_OPSET)
    with cnnkit.no_grad():
        expected = model(X).numpy()
    np.testing.assert_allclose(ort_session(proto).run(None, {"input": X})[0], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(co.ExportError, match=r"Pad in module '0' \(Conv2d\): circular padding .* needs opset 19"):
        co.export(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")), None, X, opset=18)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(opset=17), ValueError, "opset must be an int from 18 to 28"),
    (dict(opset=29), ValueError, "opset must be an int from 18 to 28"),
    (dict(dynamic_batch="yes"), TypeError, "dynamic_batch must be a bool"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        co.export(nn.ReLU(), None, X, **kwargs)


def test_bad_model_and_example():
    with pytest.raises(TypeError, match="model must be a cnnkit.nn.Module"):
        co.export(lambda x: x, None, X)
    with pytest.raises(ValueError, match="batch axis first"):
        co.export(nn.ReLU(), None, np.float32(1.0))
    with pytest.raises(TypeError, match="numeric"):
        co.export(nn.ReLU(), None, np.array(["a"]))
    with pytest.raises(ValueError, match="forward pass on an input of shape"):
        co.export(lenet5(), None, np.zeros((1, 3, 32, 32), np.float32))


# ---------------------------------------------------------- what cannot be exported
class WithLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.loss(self.head(x), np.zeros(len(x), np.int64))


class Branchy(nn.Module):
    def forward(self, x):
        return F.relu(x) if float(x.data.sum()) > 0 else F.tanh(x)


class FromData(nn.Module):
    def forward(self, x):
        return x - cnnkit.tensor(x.data.mean())  # a constant computed outside cnnkit's ops


class BatchConstant(nn.Module):
    def forward(self, x):
        return x + cnnkit.zeros(x.shape[0], 3)


class Indices(nn.Module):
    def forward(self, x):
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        return y + idx.astype(np.float32)


class TwoOutputs(nn.Module):
    def forward(self, x):
        return x, x * 2


class TrainingDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.ReLU())

    def forward(self, x):
        return F.dropout(self.inner(x), 0.5, training=True)


@pytest.mark.parametrize("model, x, match", [
    (WithLoss(), np.ones((2, 3), np.float32), r"op NLLLoss in module 'loss' \(CrossEntropyLoss\) has no ONNX export"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False)), X,
     r"BatchNorm in module '1' \(BatchNorm2d\): batch norm normalises with the batch's own statistics"),
    (TrainingDropout(), np.ones((2, 3), np.float32), r"Dropout in module <model> \(TrainingDropout\): dropout in training"),
    (Branchy(), np.float32([[1.0, 2.0], [-5.0, -6.0]]), "runs different ops for two inputs"),
    (FromData(), np.float32([[1.0, 2.0], [3.0, 5.0]]), "constant computed outside cnnkit's ops"),
    (BatchConstant(), np.ones((2, 3), np.float32), r"differs between a batch of 2 and one of 3.*dynamic_batch=False"),
    (Indices(), X, "reads output 1 of MaxPoolNd"),
    (TwoOutputs(), np.ones((2, 3), np.float32), "returns 2 values"),
])
def test_what_cannot_be_exported_is_a_clear_error(model, x, match):
    with pytest.raises(co.ExportError, match=match):
        co.export(model, None, x, dynamic_batch=not isinstance(model, (Branchy, FromData)))


class ExtraOps(nn.Module):
    def forward(self, x):
        for _ in range(len(x)):  # one op per sample: a different graph for another batch size
            x = x + 1
        return x


def test_a_forward_whose_op_count_follows_the_batch_is_refused():
    with pytest.raises(co.ExportError, match="runs different ops for a batch of 2 and one of 3 .from op 2 on"):
        co.export(ExtraOps(), None, np.ones((2, 3), np.float32))
    co.export(ExtraOps(), None, np.ones((2, 3), np.float32), dynamic_batch=False)


def test_batch_constant_exports_with_a_fixed_batch():
    proto = co.export(BatchConstant(), None, np.ones((2, 3), np.float32), dynamic_batch=False)
    assert ort_session(proto).run(None, {"input": np.ones((2, 3), np.float32)})[0].tolist() == [[1.0] * 3] * 2


def test_coverage_table_lists_both_directions():
    rows = {r["onnx"]: r for r in co.coverage()}
    assert rows["Conv"]["export"] == "ConvNd" and rows["Conv"]["import"].startswith("Conv1d")
    assert rows["Shape"]["export"] == "-" and rows["Shape"]["import"] == "graph step"
    assert rows["Dropout"]["import"] == "Dropout"


def test_package_doctest():
    import doctest

    result = doctest.testmod(co, verbose=False)
    assert result.failed == 0 and result.attempted > 0
