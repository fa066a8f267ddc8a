"""cnnkit.onnx.load: files are validated first and every failure is a ValueError naming the file and
the node, operator or attribute (a fuzzed file never crashes); imported models print, summarise,
check their inputs and keep frozen parameters frozen."""
from __future__ import annotations

import numpy as np
import pytest

from onnx_helpers import assert_close, onnx, ort_session

import cnnkit
from cnnkit import nn
from cnnkit.analysis import summary
from cnnkit.analysis.zoo import build
from cnnkit.models import lenet5

co = pytest.importorskip("cnnkit.onnx")
helper, numpy_helper, TensorProto = onnx.helper, onnx.numpy_helper, onnx.TensorProto


@pytest.fixture(scope="module")
def lenet_bytes() -> bytes:
    cnnkit.manual_seed(0)
    return co.export(lenet5(), None, np.zeros((1, 1, 32, 32), np.float32)).SerializeToString()


def graph_model(nodes, inits=(), opset: int = 28, in_shape=("N", 2, 5, 5), out_shape=("N", None, None, None),
                domain_opsets=()):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                          initializer=[numpy_helper.from_array(v, k) for k, v in dict(inits).items()])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domain_opsets]
    return helper.make_model(g, opset_imports=opsets)


# ------------------------------------------------------------------- files
def test_missing_empty_and_oversized_files(tmp_path, lenet_bytes):
    with pytest.raises(FileNotFoundError, match="not found"):
        co.load(tmp_path / "nope.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        co.load(tmp_path / "empty.onnx")
    (tmp_path / "m.onnx").write_bytes(lenet_bytes)
    with pytest.raises(ValueError, match="max_bytes"):
        co.load(tmp_path / "m.onnx", max_bytes=1000)
    assert isinstance(co.load(tmp_path / "m.onnx"), nn.Module)
    with pytest.raises(TypeError, match="path, bytes or an onnx.ModelProto"):
        co.load(12)


def test_random_bytes_are_a_clear_error():
    rng = np.random.default_rng(0)
    for n in (1, 7, 64, 1000, 20000):
        with pytest.raises(ValueError, match="ONNX"):
            co.load(rng.integers(0, 256, n, dtype=np.uint8).tobytes())


def test_truncated_files_are_a_clear_error(lenet_bytes):
    rng = np.random.default_rng(1)
    for cut in sorted(rng.choice(len(lenet_bytes) - 1, size=12, replace=False)) + [1, len(lenet_bytes) - 1]:
        with pytest.raises(ValueError, match="ONNX|node"):
            co.load(lenet_bytes[:cut])


def test_flipped_bytes_load_or_fail_with_a_value_error(lenet_bytes):
    """A corrupted byte either leaves a valid model (e.g. inside a weight) or gives a ValueError; never a crash."""
    rng = np.random.default_rng(2)
    outcomes = set()
    for _ in range(25):
        data = bytearray(lenet_bytes)
        for i in rng.choice(len(data), size=3, replace=False):
            data[i] = int(rng.integers(0, 256))
        try:
            model = co.load(bytes(data))
            model(np.zeros((1, 1, 32, 32), np.float32))
            outcomes.add("loaded")
        except ValueError:
            outcomes.add("ValueError")
        except TypeError as exc:  # an input whose dtype the corruption changed: still a clear error
            assert "input" in str(exc)
            outcomes.add("TypeError")
    assert outcomes


@pytest.mark.parametrize("opset", [12, 29, 99])
def test_opsets_outside_the_supported_range(opset):
    model = graph_model([helper.make_node("Relu", ["x"], ["y"])], opset=opset)
    with pytest.raises(ValueError, match=f"opset {opset} is not supported"):
        co.load(model)


def test_opset_13_file_loads():
    m = co.load(graph_model([helper.make_node("Relu", ["x"], ["y"])], opset=13))
    assert m.opset == 13 and np.array_equal(m(-np.ones((1, 2, 5, 5), np.float32)).numpy(), np.zeros((1, 2, 5, 5)))


def test_unsupported_operator_names_it_and_the_node():
    model = graph_model([helper.make_node("Hardmax", ["x"], ["y"], name="the_hardmax")])
    with pytest.raises(ValueError, match=r"node 'the_hardmax' \(Hardmax\): operator Hardmax is not supported"):
        co.load(model)


def test_custom_domain_is_refused():
    model = graph_model([helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft", name="f")],
                        domain_opsets=[("com.microsoft", 1)])
    with pytest.raises(ValueError, match="domain 'com.microsoft'"):
        co.load(model)


def test_invalid_graph_fails_the_checker():
    model = graph_model([helper.make_node("Add", ["x", "undefined"], ["y"])])
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        co.load(model)


def test_external_data_is_refused():
    w = numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="/etc/passwd")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w])
    with pytest.raises(ValueError, match="external data"):
        co.load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 28)]))


def test_float16_weights_are_refused():
    model = graph_model([helper.make_node("Conv", ["x", "w"], ["y"])], {"w": np.ones((3, 2, 1, 1), np.float16)})
    with pytest.raises(ValueError, match="float16"):
        co.load(model)


@pytest.mark.parametrize("node, inits, attribute", [
    (helper.make_node("ConvTranspose", ["x", "w"], ["y"], output_shape=[6, 6]),
     {"w": np.ones((2, 3, 2, 2), np.float32)}, "output_shape"),
    (helper.make_node("ConvTranspose", ["x", "w"], ["y"], auto_pad="SAME_UPPER"),
     {"w": np.ones((2, 3, 2, 2), np.float32)}, "auto_pad"),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], pads=[0, 0, 1, 1], ceil_mode=1), {}, "ceil_mode"),
    (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], pads=[0, 0, 2, 0]), {}, "pads"),
    (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2]), {}, "dilations"),
    (helper.make_node("Pad", ["x", "p"], ["y"], mode="bogus"), {"p": np.zeros(8, np.int64)}, "mode"),
    (helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1),
     {k: np.ones(2, np.float32) for k in "sbmv"}, "training_mode"),
])
def test_unsupported_attribute_values_name_the_attribute(node, inits, attribute):
    node.name = "n1"
    with pytest.raises(ValueError, match=rf"node 'n1' \({node.op_type}\).*{attribute}"):
        co.load(graph_model([node], inits))


POOL_PADDING = [  # what TensorFlow / tf2onnx write: SAME with even windows or strides, asymmetric pads
    ("MaxPool", dict(kernel_shape=[3, 3], pads=[0, 0, 1, 1])),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER")),
    ("MaxPool", dict(kernel_shape=[3, 3], pads=[2, 0, 2, 1], dilations=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3], pads=[1, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[0, 0, 1, 1])),                      # count_include_pad=0
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[0, 0, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("AveragePool", dict(kernel_shape=[4, 4], strides=[3, 3], pads=[3, 1, 2, 0])),   # wider than half the window
    ("AveragePool", dict(kernel_shape=[2, 2, 2], pads=[0, 1, 0, 1, 0, 1])),
]


@pytest.mark.parametrize("op, attrs", POOL_PADDING)
@pytest.mark.parametrize("symbolic", [False, True])
def test_asymmetric_and_same_pool_padding_match_onnxruntime(op, attrs, symbolic):
    n = len(attrs["kernel_shape"])
    in_shape = [2, 3] + [7] * n
    declared = ["N", 3] + (["S%d" % i for i in range(n)] if symbolic else [7] * n)  # SAME: pads found per call
    node = helper.make_node(op, ["x"], ["y"], name="pool", **attrs)
    model = graph_model([node], in_shape=declared, out_shape=[None] * (n + 2))
    x = np.random.default_rng(n).standard_normal(in_shape).astype(np.float32)
    ref = ort_session(model).run(None, {"x": x})[0]
    loaded = co.load(model)
    assert_close(loaded(x).numpy(), ref, "onnxruntime", f"{op} {attrs}")
    xt = cnnkit.tensor(x, requires_grad=True)
    loaded(xt).sum().backward()   # a graph step like any other: gradients reach the input
    assert xt.grad.shape == x.shape and np.isfinite(xt.grad).all()
    if op == "MaxPool":              # each output's gradient lands on one input cell, none in the padding
        assert float(xt.grad.sum()) == pytest.approx(ref.size)


def test_unknown_attribute_is_refused_when_the_checker_lets_it_through():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    node.attribute.append(helper.make_attribute("alpha", 0.5))  # Relu has none: the checker objects first
    with pytest.raises(ValueError, match="alpha|not a valid"):
        co.load(graph_model([node]))


# ------------------------------------------------------------- the module
def test_bytes_path_and_proto_load_the_same(tmp_path, lenet_bytes):
    (tmp_path / "m.onnx").write_bytes(lenet_bytes)
    x = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)
    outs = [co.load(src)(x).numpy() for src in (tmp_path / "m.onnx", str(tmp_path / "m.onnx"), lenet_bytes,
                                                onnx.load_from_string(lenet_bytes))]
    assert all(np.array_equal(o, outs[0]) for o in outs)


def test_inputs_are_checked(lenet_bytes):
    m = co.load(lenet_bytes)
    with pytest.raises(ValueError, match=r"input 'input' must have shape \[N, 1, 32, 32\], got \(2, 1, 28, 28\)"):
        m(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(TypeError, match=r"must be floating \(float32 in the file\), got int64"):
        m(np.zeros((2, 1, 32, 32), np.int64))
    m.double()  # the imported layers cast like any module's
    assert m(np.zeros((2, 1, 32, 32))).dtype == np.float64
    with pytest.raises(TypeError, match="takes 1 input"):
        m(np.zeros((2, 1, 32, 32), np.float32), np.zeros(1))


def test_imported_lenet_prints_and_summarises_like_the_original(lenet_bytes):
    cnnkit.manual_seed(0)
    original, m = lenet5(), co.load(lenet_bytes)
    text = repr(m)
    assert text.startswith("OnnxGraph(") and "(conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))" in text
    assert "12 layers, 0 graph steps" in text and m.training is False
    a, b = summary(original, (1, 1, 32, 32)), summary(m, m.input_shape)
    assert [(r.name, r.type, r.output_shape, r.params, r.macs, r.field) for r in a.leaf_rows] == \
           [(r.name, r.type, r.output_shape, r.params, r.macs, r.field) for r in b.leaf_rows]
    assert (a.total_params, a.total_macs) == (b.total_params, b.total_macs)


def test_frozen_parameters_stay_frozen_and_shared_weights_stay_shared():
    model, shape = build("seed-kernels")  # a fixed first layer: requires_grad=False
    back = co.load(co.export(model, None, np.zeros(shape, np.float32)))
    frozen = {k for k, p in back.named_parameters() if not p.requires_grad}
    assert frozen == {k for k, p in model.named_parameters() if not p.requires_grad} == {"0.weight"}

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))
    tied = co.load(co.export(Tied(), None, np.zeros((2, 4), np.float32)))
    assert tied.a.weight is tied.b.weight


def test_parameters_used_by_graph_steps_are_trainable():
    """A parameter that feeds a tensor op (not a layer) comes back as a Parameter at its own path."""
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.float32([2.0, 3.0]))

        def forward(self, x):
            return x * self.scale.reshape(1, 2)
    back = co.load(co.export(Scaled(), None, np.ones((3, 2), np.float32)))
    assert dict(back.named_parameters())["scale"].requires_grad
    (back(np.ones((3, 2), np.float32)) ** 2).sum().backward()
    assert np.array_equal(back.scale.grad, np.float32([12.0, 18.0]))  # d/ds sum((s x)^2) = 2 s x^2 per row, 3 rows
