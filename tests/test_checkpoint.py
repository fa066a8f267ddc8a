"""safetensors checkpoints: torch interoperability, clear errors, atomic writes, training state."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import cnnkit
from cnnkit import checkpoint, nn, optim
from cnnkit.optim import lr_scheduler
from cnnkit.io import atomic
from helpers import optional, torch

st_numpy = pytest.importorskip("safetensors.numpy")  # what cnnkit.checkpoint needs
st_torch = optional("safetensors.torch")  # an oracle: the interoperability tests skip without torch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, padding_mode="reflect"),
                                      nn.SeparableConv2d(3, 4, 3))
        self.head = nn.Linear(4, 2)
        self.register_buffer("scale", np.full(4, 0.5, np.float32))
        self.register_buffer("steps", np.array(0, np.int64))

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)) * self.scale)


def TorchNet():
    """The same network in PyTorch (built lazily, so that this module imports without torch)."""

    class _TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            sep = torch.nn.Module()
            sep.depthwise = torch.nn.Conv2d(3, 3, 3, groups=3, bias=False)
            sep.pointwise = torch.nn.Conv2d(3, 4, 1)
            sep.forward = lambda x: sep.pointwise(sep.depthwise(x))
            self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1, padding_mode="reflect"), sep)
            self.head = torch.nn.Linear(4, 2)
            self.register_buffer("scale", torch.full((4,), 0.5))
            self.register_buffer("steps", torch.tensor(0))

        def forward(self, x):
            return self.head(self.features(x).mean(dim=(2, 3)) * self.scale)

    return _TorchNet()


@pytest.fixture
def x(rng):
    return rng.standard_normal((2, 1, 7, 7)).astype(np.float32)


def test_cnnkit_checkpoint_loads_into_torch(tmp_path, x):
    model = Net()
    model.steps[...] = 12
    path = checkpoint.save(model, tmp_path / "net.safetensors")
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    tmodel = TorchNet()
    tmodel.load_state_dict(st_torch.load_file(str(path)))  # strict: keys are torch's names
    assert int(tmodel.steps) == 12
    np.testing.assert_allclose(model(x).numpy(), tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_torch_checkpoint_loads_into_cnnkit(tmp_path, x):
    tmodel = TorchNet()
    tmodel.scale.fill_(2.0)
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(tmodel.state_dict(), str(path))
    model = Net()
    result = checkpoint.load_into(model, path)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_allclose(model(x).numpy(), tmodel(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_returns_numpy_arrays_under_state_dict_names(tmp_path):
    model = Net()
    checkpoint.save(model, tmp_path / "m.safetensors", metadata={"note": "hello", "epoch": "3"})
    loaded = checkpoint.load(tmp_path / "m.safetensors")
    expected = model.state_dict()
    assert sorted(loaded) == sorted(expected)
    for k, v in expected.items():
        assert isinstance(loaded[k], np.ndarray) and loaded[k].dtype == v.dtype and loaded[k].shape == v.shape, k
        np.testing.assert_array_equal(loaded[k], v)
    assert checkpoint.load_metadata(tmp_path / "m.safetensors") == {"note": "hello", "epoch": "3"}
    # a plain dict of arrays (and of torch tensors) can be saved too
    checkpoint.save({"a": np.arange(3.0), "b": torch.ones(2, 2)}, tmp_path / "d.safetensors")
    d = checkpoint.load(str(tmp_path / "d.safetensors"))
    assert d["a"].dtype == np.float64 and d["b"].dtype == np.float32


def test_file_mode_follows_umask(tmp_path):
    path = checkpoint.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)


def test_missing_and_corrupt_files_give_clear_errors(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        checkpoint.load(missing)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        checkpoint.load_into(nn.Linear(2, 2), missing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "no_dir" / "m.safetensors")
    good = checkpoint.save(Net(), tmp_path / "good.safetensors").read_bytes()
    cases = {
        "truncated_body": good[:-10],
        "truncated_header": good[:40],
        "tiny": good[:5],
        "empty": b"",
        "garbage": b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!",
        "pickle": b"\x80\x04\x95" + b"\x00" * 40,
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        with pytest.raises(ValueError, match=f"{name}.safetensors is not a valid safetensors checkpoint"):
            checkpoint.load(path)
    with pytest.raises(ValueError, match=r"truncated\?"):
        checkpoint.load(tmp_path / "truncated_body.safetensors")


def test_mismatched_checkpoint_gives_clear_errors(tmp_path):
    path = checkpoint.save(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), tmp_path / "mlp.safetensors")
    wrong_shape = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    before = wrong_shape.state_dict()
    with pytest.raises(ValueError, match=r"(?s)mlp.safetensors does not match Sequential.*size mismatch for 0\.weight: "
                                         r"the state_dict has shape \(3, 4\), the parameter in the current model "
                                         r"has shape \(5, 4\)"):
        checkpoint.load_into(wrong_shape, path)
    for k, v in wrong_shape.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # unchanged
    deeper = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 1))
    with pytest.raises(ValueError, match=r"missing key\(s\) in state_dict: '2\.weight', '2\.bias'"):
        checkpoint.load_into(deeper, path)
    result = checkpoint.load_into(deeper, path, strict=False)
    assert result.missing_keys == ["2.weight", "2.bias"] and result.unexpected_keys == []
    shallower = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"unexpected key\(s\) in state_dict: '1\.") as info:
        checkpoint.load_into(shallower, path)
    assert "'1.weight'" in str(info.value) and "'1.bias'" in str(info.value)


def test_save_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="metadata must map str to str"):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "m.safetensors", metadata={"epoch": 3})
    with pytest.raises(TypeError, match="expected a cnnkit.nn.Module or a mapping"):
        checkpoint.save([np.zeros(2)], tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="must be a numeric array"):
        checkpoint.save({"a": np.array(["x"])}, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failing", ["fsync", "replace", "serialize"])
def test_atomic_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing):
    path = tmp_path / "model.safetensors"
    old = nn.Linear(3, 2)
    checkpoint.save(old, path)
    old_bytes = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if failing == "fsync":  # after the new bytes went into the temporary file
        monkeypatch.setattr(atomic.os, "fsync", boom)
    elif failing == "replace":
        monkeypatch.setattr(atomic.os, "replace", boom)
    else:
        monkeypatch.setattr(st_numpy, "save", boom)
    with pytest.raises(OSError, match="simulated"):
        checkpoint.save(nn.Linear(3, 2), path)
    assert path.read_bytes() == old_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temporary file left
    monkeypatch.undo()
    fresh = nn.Linear(3, 2)
    checkpoint.load_into(fresh, path)
    np.testing.assert_array_equal(fresh.weight.data, old.weight.data)


def test_missing_safetensors_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)  # makes `import safetensors.numpy` fail
    with pytest.raises(ImportError, match=r'pip install -e "\.\[weights\]"'):
        checkpoint.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    with pytest.raises(ImportError, match=r'pip install -e "\.\[weights\]"'):
        checkpoint.load(tmp_path / "m.safetensors")


# ------------------------------------------------------------ training state
def _setup(seed):
    cnnkit.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    opt = optim.Adam([{"params": [model[0].weight, model[0].bias], "lr": 0.01},
                      {"params": list(model[2].parameters())}], lr=0.003, amsgrad=True)
    sched = lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, 0.2, total_iters=2),
                                            lr_scheduler.CosineAnnealingLR(opt, T_max=6)], milestones=[2])
    return model, opt, sched


def _train(model, opt, sched, steps):
    gen = cnnkit.random.default_generator()
    for _ in range(steps):
        x = gen.standard_normal((4, 1, 6, 6)).astype(np.float32)  # data drawn from cnnkit's generator
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
        sched.step()


def test_training_state_resumes_exactly(tmp_path):
    model, opt, sched = _setup(0)
    _train(model, opt, sched, 3)
    path = checkpoint.save_training_state(tmp_path / "run.safetensors", model, opt, epoch=3, scheduler=sched,
                                          extra={"best_accuracy": 0.5, "history": [1, 2]})
    saved_lrs = [g["lr"] for g in opt.param_groups]
    _train(model, opt, sched, 4)  # the uninterrupted run
    expected = model.state_dict()
    expected_lr = sched.get_last_lr()

    model2, opt2, sched2 = _setup(99)  # another initialisation and generator state
    info = checkpoint.load_training_state(path, model2, opt2, scheduler=sched2)
    assert info == {"epoch": 3, "extra": {"best_accuracy": 0.5, "history": [1, 2]}}
    _train(model2, opt2, sched2, 4)
    for k, v in expected.items():
        np.testing.assert_array_equal(model2.state_dict()[k], v, err_msg=k)
    assert sched2.get_last_lr() == expected_lr

    keys = set(checkpoint.load(path))
    assert {"model.0.weight", "model.2.bias", "optimizer.state.0.exp_avg", "optimizer.state.3.max_exp_avg_sq"} <= keys
    meta = json.loads(checkpoint.load_metadata(path)["cnnkit.training_state"])
    assert meta["optimizer"]["type"] == "Adam" and meta["optimizer"]["scalars"]["0"] == {"step": 3}
    assert [g["lr"] for g in meta["optimizer"]["param_groups"]] == saved_lrs
    assert [g["params"] for g in meta["optimizer"]["param_groups"]] == [[0, 1], [2, 3]]


def test_training_state_with_explicit_generator_and_no_optimizer(tmp_path):
    model = nn.Linear(3, 2)
    gen = np.random.default_rng(7)
    gen.random(5)
    path = checkpoint.save_training_state(tmp_path / "s.safetensors", model, generator=gen)
    expected = gen.random(3)
    other = np.random.default_rng(1)
    info = checkpoint.load_training_state(path, nn.Linear(3, 2), generator=other)
    assert info == {"epoch": None, "extra": None}
    np.testing.assert_array_equal(other.random(3), expected)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        checkpoint.load_training_state(path, nn.Linear(3, 2), optim.SGD(nn.Linear(3, 2).parameters()))


def test_training_state_errors(tmp_path):
    model, opt, sched = _setup(0)
    _train(model, opt, sched, 1)
    path = checkpoint.save_training_state(tmp_path / "run.safetensors", model, opt)
    plain = checkpoint.save(model, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="plain.safetensors is not a cnnkit training state"):
        checkpoint.load_training_state(plain, model)
    other_model, _, _ = _setup(1)
    sgd = optim.SGD(other_model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds Adam state, cannot load it into SGD"):
        checkpoint.load_training_state(path, other_model, sgd)
    wrong = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    with pytest.raises(ValueError, match=r"(?s)run.safetensors does not match Sequential.*size mismatch for 0\.weight"):
        checkpoint.load_training_state(path, wrong)
    # an optimizer over a different parameter layout: the model is left as it was
    model3, _, _ = _setup(2)
    before = model3.state_dict()
    one_group = optim.Adam(model3.parameters())
    with pytest.raises(ValueError, match="(?s)does not match the optimizer.*2 parameter groups"):
        checkpoint.load_training_state(path, model3, one_group)
    for k, v in model3.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        checkpoint.save_training_state(tmp_path / "bad.safetensors", model, extra={"f": object()})
    assert not (tmp_path / "bad.safetensors").exists()
