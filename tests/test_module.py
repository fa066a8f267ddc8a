"""Module, Sequential and ModuleList against torch.nn built the same way."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from helpers import available, torch

tnn = torch.nn


# ------------------------------------------------------------- twin models
class CkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, bias=False))
        self.head = nn.ModuleList([nn.Linear(4, 3), nn.Linear(3, 2)])
        self.register_buffer("running", np.zeros(4, np.float32))
        self.register_buffer("count", np.array(0, np.int64))
        self.register_buffer("scratch", np.zeros(2, np.float32), persistent=False)
        self.shared = self.head[0]  # the same module under two names

    def forward(self, x):
        h = self.features(x).mean(dim=(2, 3))
        return self.head[1](self.shared(h))


class TorchNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.Conv2d(4, 4, 3, bias=False))
        self.head = tnn.ModuleList([tnn.Linear(4, 3), tnn.Linear(3, 2)])
        self.register_buffer("running", torch.zeros(4))
        self.register_buffer("count", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.shared = self.head[0]

    def forward(self, x):
        h = self.features(x).mean(dim=(2, 3))
        return self.head[1](self.shared(h))


def _torch_state(ck_state):
    return {k: torch.tensor(v) for k, v in ck_state.items()}


def test_state_dict_keys_order_and_shapes_equal_torch():
    ck, th = CkNet(), TorchNet()
    sd_ck, sd_th = ck.state_dict(), th.state_dict()
    assert list(sd_ck) == list(sd_th)  # includes 'shared.weight' (shared module twice), buffers, no 'scratch'
    for k in sd_th:
        assert sd_ck[k].shape == tuple(sd_th[k].shape), k
        assert sd_ck[k].dtype == sd_th[k].numpy().dtype, k
    assert "scratch" not in sd_ck and "shared.weight" in sd_ck


def test_parameters_modules_children_names_equal_torch():
    ck, th = CkNet(), TorchNet()
    assert [n for n, _ in ck.named_parameters()] == [n for n, _ in th.named_parameters()]
    assert [n for n, _ in ck.named_modules()] == [n for n, _ in th.named_modules()]
    assert [n for n, _ in ck.named_children()] == [n for n, _ in th.named_children()]
    assert [type(m).__name__ for m in ck.children()] == [type(m).__name__ for m in th.children()]
    assert [n for n, _ in ck.named_buffers()] == [n for n, _ in th.named_buffers()]
    assert [n for n, _ in ck.named_parameters(recurse=False)] == []
    assert len(list(ck.parameters())) == len(list(th.parameters())) == 7


def test_shared_parameter_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight  # tied weights
    model = nn.Sequential(a, b)
    ta, tb = tnn.Linear(3, 3), tnn.Linear(3, 3)
    tb.weight = ta.weight
    tmodel = tnn.Sequential(ta, tb)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())  # state_dict keeps both names, as torch


def test_load_state_dict_both_directions_reproduces_outputs(rng):
    ck, th = CkNet(), TorchNet()
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    # torch -> cnnkit, values given as torch tensors
    th.running.fill_(0.5)
    th.count.fill_(7)
    result = ck.load_state_dict(th.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_allclose(ck(x).numpy(), th(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ck.count == 7 and ck.count.dtype == np.int64 and np.all(ck.running == 0.5)
    # cnnkit -> torch, values given as NumPy arrays
    ck2, th2 = CkNet(), TorchNet()
    th2.load_state_dict(_torch_state(ck2.state_dict()))
    np.testing.assert_allclose(ck2(x).numpy(), th2(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_accepts_tensors_arrays_and_casts_in_place():
    lin = nn.Linear(2, 3)
    weight_array = lin.weight.data
    state = {"weight": cnnkit.Tensor(np.ones((3, 2), np.float64)), "bias": np.arange(3.0)}  # float64 values
    lin.load_state_dict(state)
    assert lin.weight.data is weight_array  # copied in place
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.data, 1.0)
    np.testing.assert_array_equal(lin.bias.data, [0, 1, 2])
    lin.load_state_dict({"weight": [[2.0, 2.0]] * 3, "bias": (0.0, 0.0, 0.0)})  # nested lists too
    np.testing.assert_array_equal(lin.weight.data, 2.0)


def test_state_dict_returns_copies():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    sd["weight"][...] = 123.0
    assert not np.any(lin.weight.data == 123.0)


def test_load_state_dict_missing_unexpected_and_shape_errors():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(4, 2))
    good = model.state_dict()
    before = {k: v.copy() for k, v in good.items()}
    missing = {k: v for k, v in good.items() if k != "0.bias"}
    with pytest.raises(ValueError, match=r"missing key\(s\) in state_dict: '0\.bias'"):
        model.load_state_dict(missing)
    extra = dict(good, **{"2.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"unexpected key\(s\) in state_dict: '2\.weight'"):
        model.load_state_dict(extra)
    bad = dict(good, **{"0.weight": np.zeros((2, 2), np.float32), "1.bias": np.full(2, 9.0, np.float32)})
    with pytest.raises(ValueError, match=r"size mismatch for 0\.weight: the state_dict has shape \(2, 2\), "
                                         r"the parameter in the current model has shape \(2, 1, 3, 3\)"):
        model.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"size mismatch for 0\.weight"):
        model.load_state_dict(bad, strict=False)  # shapes are checked without strict too
    for k, v in model.state_dict().items():  # nothing was changed by the failed loads
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        model.load_state_dict([1, 2])


def test_load_state_dict_is_atomic_when_a_later_value_is_bad():
    """Issue 10: a value that cannot be converted (after valid ones) used to fail
    half-way through, with the earlier parameters already overwritten."""
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: v + 1 for k, v in before.items()}
    state["1.bias"] = np.array(["a", "b"])
    with pytest.raises(ValueError, match=r"value for 1\.bias cannot be converted to the parameter's dtype float32"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert all(p._version == 0 for p in model.parameters())
    state["1.bias"] = before["1.bias"] + 1
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.data, before["0.weight"] + 1)


def test_load_state_dict_non_strict_reports_keys_like_torch():
    model, tmodel = nn.Sequential(nn.Linear(2, 2)), tnn.Sequential(tnn.Linear(2, 2))
    partial = {"0.weight": np.eye(2, dtype=np.float32), "extra": np.zeros(1, np.float32)}
    ours = model.load_state_dict(partial, strict=False)
    theirs = tmodel.load_state_dict(_torch_state(partial), strict=False)
    assert ours.missing_keys == theirs.missing_keys == ["0.bias"]
    assert ours.unexpected_keys == theirs.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[0].weight.data, np.eye(2))


def test_train_eval_recursion():
    model = CkNet()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.features.eval()
    assert model.training and not model.features[0].training and model.head[0].training
    with pytest.raises(TypeError, match="mode must be a bool"):
        model.train("no")


def test_zero_grad(rng):
    model = nn.Sequential(nn.Linear(3, 2))
    model(rng.standard_normal((4, 3)).astype(np.float32)).sum().backward()
    grad = model[0].weight.grad
    assert grad is not None and np.any(grad != 0)
    model.zero_grad(set_to_none=False)
    assert model[0].weight.grad is grad and np.all(grad == 0)  # zeroed in place
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_float_double(rng):
    model = CkNet()
    x = rng.standard_normal((1, 1, 5, 5))
    model(x.astype(np.float32)).sum().backward()
    assert model.double() is model
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model.running.dtype == np.float64 and model.count.dtype == np.int64  # integer buffer kept
    assert model(x).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters()) and model.running.dtype == np.float32
    model.to("float32")
    assert model.features[0].weight.dtype == np.float32
    assert model.to("cpu") is model
    with pytest.raises(TypeError, match="floating dtype"):
        model.to(np.int32)
    if available(torch):  # torch dtypes are accepted too
        model.to(torch.float64)
        assert model.features[0].weight.dtype == np.float64
        with pytest.raises(TypeError, match="floating dtype"):
            model.to(torch.int64)


def test_sequential_indexing_slicing_len_iteration_append():
    layers = [nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)]
    model = nn.Sequential(*layers)
    tmodel = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.Flatten(), tnn.Linear(8, 3))
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2] and model[np.int64(1)] is layers[1]
    tail = model[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    assert [n for n, _ in tail.named_children()] == [n for n, _ in tmodel[1:].named_children()] == ["1", "2"]
    assert list(model[::-1]) == layers[::-1]
    with pytest.raises(IndexError, match="index 3 is out of range for Sequential of length 3"):
        model[3]
    with pytest.raises(TypeError, match="indices must be integers or slices"):
        model["0"]
    extra = nn.Linear(3, 1)
    assert model.append(extra) is model and model[3] is extra and len(model) == 4
    tmodel.append(tnn.Linear(3, 1))
    assert list(model.state_dict()) == list(tmodel.state_dict())
    del model[1]
    del tmodel[1]
    assert [n for n, _ in model.named_children()] == [n for n, _ in tmodel.named_children()] == ["0", "1", "2"]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    model.insert(0, nn.Identity())
    tmodel.insert(0, tnn.Identity())
    assert list(model.state_dict()) == list(tmodel.state_dict())
    replacement = nn.Linear(3, 5)
    model[-1] = replacement
    assert model[3] is replacement
    model.extend([nn.Identity()])
    assert len(model) == 5


def test_sequential_forward_and_ordered_dict_names(rng):
    from collections import OrderedDict

    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3), flat=nn.Flatten()))
    assert list(model.state_dict()) == ["conv.weight", "conv.bias"]
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    assert model(x).shape == (2, 8)
    assert nn.Sequential()(x) is x


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
    tl = tnn.ModuleList([tnn.Linear(2, 2), tnn.Linear(2, 3)])
    assert len(layers) == 2 and layers[-1].out_features == 3
    assert isinstance(layers[:1], nn.ModuleList) and len(layers[:1]) == 1
    layers.append(nn.Linear(3, 1))
    tl.append(tnn.Linear(3, 1))
    layers.insert(1, nn.Identity())
    tl.insert(1, tnn.Identity())
    assert list(layers.state_dict()) == list(tl.state_dict())
    del layers[0]
    del tl[0]
    assert list(layers.state_dict()) == list(tl.state_dict())
    with pytest.raises(IndexError, match="out of range for ModuleList"):
        layers[10]


def test_repr_equals_torch():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2, groups=8, bias=False),
                          nn.Conv2d(8, 4, 3, padding="same", padding_mode="reflect", dilation=2),
                          nn.Flatten(), nn.Linear(16, 10), nn.Sequential(nn.Linear(10, 2)),
                          nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=1))
    tmodel = tnn.Sequential(tnn.Conv2d(1, 8, 3, padding=1), tnn.Conv2d(8, 8, 3, stride=2, groups=8, bias=False),
                            tnn.Conv2d(8, 4, 3, padding="same", padding_mode="reflect", dilation=2),
                            tnn.Flatten(), tnn.Linear(16, 10), tnn.Sequential(tnn.Linear(10, 2)),
                            tnn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=1))
    assert repr(model) == repr(tmodel)
    assert repr(nn.Sequential()) == repr(tnn.Sequential()) == "Sequential()"

    class Multi(nn.Module):
        def extra_repr(self):
            return "a=1\nb=2"

    class TMulti(tnn.Module):
        def extra_repr(self):
            return "a=1\nb=2"

    assert repr(Multi()).replace("Multi", "X") == repr(TMulti()).replace("TMulti", "X")


def test_setattr_registration_and_type_errors():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign ndarray as parameter 'weight'"):
        lin.weight = np.zeros((2, 2))
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'bias'"):
        lin.bias = cnnkit.Tensor(np.zeros(2))
    lin.bias = None
    assert list(lin.state_dict()) == ["weight"]
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="cannot assign int as child module '0'"):
        setattr(model, "0", 3)
    with pytest.raises(TypeError, match="is not a cnnkit.nn.Module"):
        model.add_module("x", "not a module")
    with pytest.raises(ValueError, match="without '.'"):
        model.add_module("a.b", nn.Identity())
    with pytest.raises(ValueError, match="already exists"):
        model.register_buffer("training", np.zeros(1))
    m = nn.Module()
    m.register_buffer("buf", np.zeros(2))
    with pytest.raises(TypeError, match="as buffer 'buf'"):
        m.buf = [1, 2]
    m.buf = np.ones(2)
    assert np.all(m.state_dict()["buf"] == 1)
    m.child = nn.Linear(1, 1)
    del m.child
    assert list(m.children()) == []
    m.plain = 5  # ordinary attributes stay ordinary
    assert m.plain == 5 and "plain" not in m.state_dict()


def test_apply_order_equals_torch():
    ck, th = CkNet(), TorchNet()
    seen_ck, seen_th = [], []
    ck.apply(lambda m: seen_ck.append(type(m).__name__))
    th.apply(lambda m: seen_th.append(type(m).__name__.replace("TorchNet", "CkNet")))
    assert seen_ck == seen_th


def test_get_submodule_parameter_and_requires_grad():
    model = CkNet()
    assert model.get_submodule("features.1") is model.features[1]
    assert model.get_parameter("head.1.bias") is model.head[1].bias
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        model.get_submodule("features.nope")
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
