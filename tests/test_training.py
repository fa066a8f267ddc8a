"""The training loop: learning on real data, resume == uninterrupted, Ctrl-C, progress, the CLI."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit import checkpoint, optim
from cnnkit import functional as F
from cnnkit.models import lenet5, textcnn
from cnnkit.data import DataLoader
from cnnkit.training import StopFlag, epoch_order, fit
from cnnkit.training.loop import epoch_generator
from cnnkit.training.mnist import build, load_data, prepare_images, train_lenet5
from cnnkit.training.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def _quiet(_msg):
    pass


def test_lenet5_learns_an_mnist_subset(data_dir):
    config = dict(limit_train=2000, limit_test=1000, epochs=1, batch_size=20, lr=2e-3, schedule="none")
    summary = train_lenet5(config, data_dir=data_dir, progress=False, log=_quiet)
    assert summary["status"] == "complete"
    assert summary["test_accuracy"] >= 0.80  # chance is 0.10; a full run reaches 0.99 (BENCHMARKS.md)


def test_prepare_images_pads_and_normalises():
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[1, 0, 0] = 255
    x = prepare_images(digits)
    assert x.shape == (2, 1, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], -0.1307 / 0.3081, rtol=1e-6)  # padding is background, normalised
    np.testing.assert_allclose(x[1, 0, 2, 2], (1 - 0.1307) / 0.3081, rtol=1e-6)


def test_epoch_order():
    a = epoch_order(10, 0, seed=5)
    assert sorted(a) == list(range(10))
    loader = DataLoader((np.arange(10), np.arange(10)), batch_size=3, shuffle=True, generator=epoch_generator(0, 5))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in loader]), a)  # the order train_epoch sees
    np.testing.assert_array_equal(a, epoch_order(10, 0, seed=5))
    assert not np.array_equal(a, epoch_order(10, 1, seed=5))


# ------------------------------------------------------------------ resume == uninterrupted
def _stopping_after(step: int, flag: StopFlag):
    count = [0]

    def after_step():
        count[0] += 1
        if count[0] == step:
            flag.request()
    return after_step


def _lenet_run(data, out, stop_after=None, resume=False):
    config = dict(variant="modern", epochs=2, batch_size=32, optimizer="adam", lr=2e-3, momentum=0.9,
                  weight_decay=0.0, schedule="cosine", seed=3)
    model, opt, sched = build(config)
    flag = StopFlag()
    after = _stopping_after(stop_after, flag) if stop_after else None
    (tr_x, tr_y), (te_x, te_y) = data
    summary = fit(model, opt, F.cross_entropy, (tr_x, tr_y), {"test": (te_x, te_y)}, epochs=2, batch_size=32,
                  seed=3, out_dir=out, prepare=prepare_images, scheduler=sched, after_step=after, resume=resume,
                  config=config, progress=False, log=_quiet, stop=flag)
    return model, summary


def _strip_times(history):
    return [{k: v for k, v in row.items() if k not in ("time_s", "samples_per_s")} for row in history]


@pytest.mark.parametrize("stop_after", [3, 5, 7])  # mid epoch 1, at the epoch boundary (5 batches), mid epoch 2
def test_resume_equals_uninterrupted_lenet5(data_dir, tmp_path, stop_after):
    data = load_data(dict(limit_train=160, limit_test=100), data_dir)
    straight, s1 = _lenet_run(data, tmp_path / "straight")
    _, s2 = _lenet_run(data, tmp_path / "resumed", stop_after=stop_after)
    assert s2["status"] == "interrupted"
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    resumed, s3 = _lenet_run(data, tmp_path / "resumed", resume=True)
    assert s3["status"] == "complete"
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert _strip_times(s1["history"]) == _strip_times(s3["history"])
    saved = checkpoint.load(tmp_path / "resumed" / "model.safetensors")
    np.testing.assert_array_equal(saved["fc3.weight"], straight.fc3.weight.data)


def _textcnn_run(out, stop_after=None, resume=False):
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(1, 40, size=(60, 9)), rng.integers(0, 2, size=60)
    cnnkit.manual_seed(11)
    model = textcnn(40, embed_dim=6, maps=3, dropout=0.5)
    opt = optim.Adadelta(model.parameters(), rho=0.95, eps=1e-6)
    flag = StopFlag()
    stopper = _stopping_after(stop_after, flag) if stop_after else (lambda: None)

    def after_step():
        model.max_norm_(3.0)
        stopper()
    fit(model, opt, F.cross_entropy, (ids, labels), epochs=2, batch_size=10, seed=1, out_dir=out,
        after_step=after_step, resume=resume, config={"model": "textcnn"}, progress=False, log=_quiet, stop=flag)
    return model


def test_resume_restores_dropout_rng_and_optimizer(tmp_path):
    straight = _textcnn_run(tmp_path / "a")
    _textcnn_run(tmp_path / "b", stop_after=4)
    # the resumed run re-seeds and re-initialises before loading: only the restored generator state
    # (advanced by 4 steps of dropout) reproduces the rest of the straight run's dropout masks
    resumed = _textcnn_run(tmp_path / "b", resume=True)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_resume_without_state(tmp_path):
    with pytest.raises(FileNotFoundError, match="no training_state.safetensors"):
        _textcnn_run(tmp_path / "empty", resume=True)


def test_stop_flag_turns_sigint_into_a_request():
    with StopFlag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.requested
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C aborts
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_plain_fallback(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    stream = io.StringIO()
    bar = Progress(100, "epoch 1/1", stream=stream, min_interval=0.0)
    bar.update(50, loss=0.5, accuracy=0.9)
    bar.update(50, loss=0.25, accuracy=0.95)
    bar.close()
    text = stream.getvalue()
    assert "epoch 1/1 100/100 loss 0.2500 acc 95.00%" in text and "samples/s ETA 0:00" in text


# ------------------------------------------------------------------ the CLI, in a subprocess
def _cli(*args, check=True, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "cnnkit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, **kw)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_train_and_eval_lenet5(data_dir, tmp_path):
    for package in ("safetensors", "matplotlib"):  # `cnnkit train lenet5` checks them before it starts
        pytest.importorskip(package)
    out = tmp_path / "run"
    proc = _cli("train", "lenet5", "--limit-train", 300, "--limit-test", 200, "--epochs", 1, "--batch-size", 50,
                "--out", out, "--data-dir", data_dir, "--no-progress")
    assert "LeNet-5 test accuracy" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and len(metrics["history"]) == 1
    assert metrics["config"]["limit_train"] == 300 and metrics["config"]["model"] == "lenet5"
    assert (out / "feature_maps_conv1_digit0.png").stat().st_size > 0
    assert (out / "feature_maps_conv2_digit3.png").stat().st_size > 0
    from PIL import Image

    with Image.open(out / "kernels_conv1.png") as im:  # conv1's six 5x5 kernels, drawn by cnnkit.viz
        assert im.format == "PNG" and im.size[0] >= 300 and im.size[1] >= 200
    acc = metrics["history"][0]["test_accuracy"]
    proc = _cli("eval", out / "model.safetensors", "--data-dir", data_dir, "--limit-test", 200)
    assert f"test accuracy {100 * acc:.2f}%" in proc.stdout
    # the trained checkpoint goes straight into `cnnkit features` (architecture from its config)
    from cnnkit.data import load_mnist
    from cnnkit.io import write_image

    digit = tmp_path / "digit.png"
    write_image(digit, load_mnist("test", data_dir, download=False)[0][0])
    proc = _cli("features", out / "model.safetensors", digit, "--out", tmp_path / "maps")
    written = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert written == ["00_input.png", "01_conv1.png", "02_conv2.png", "kernels_conv1.png"], written
    again = _cli("train", "lenet5", "--out", out, "--data-dir", data_dir, check=False)
    assert again.returncode == 2 and "already holds a run: pass --resume" in again.stderr
    clash = _cli("train", "lenet5", "--out", out, "--resume", "--lr", 0.5, check=False)
    assert clash.returncode == 2 and "lr was 0.002, now 0.5" in clash.stderr


def test_cli_ctrl_c_then_resume_equals_straight_run(data_dir, tmp_path):
    for package in ("safetensors", "matplotlib"):  # `cnnkit train lenet5` checks them before it starts
        pytest.importorskip(package)
    args = ["train", "lenet5", "--limit-train", 1000, "--limit-test", 100, "--epochs", 2, "--batch-size", 10,
            "--data-dir", data_dir, "--no-progress"]
    _cli(*args, "--out", tmp_path / "straight")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    child = subprocess.Popen([sys.executable, "-m", "cnnkit", *map(str, args), "--out", str(tmp_path / "cut")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in child.stdout:  # wait for the end of epoch 1, then press Ctrl-C
        if line.startswith("epoch 1/2"):
            child.send_signal(signal.SIGINT)
            break
    child.communicate(timeout=300)
    assert child.returncode == 130
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["status"] == "interrupted"
    proc = _cli("train", "lenet5", "--out", tmp_path / "cut", "--resume", "--data-dir", data_dir, "--no-progress")
    assert "resuming from" in proc.stdout
    a = checkpoint.load(tmp_path / "straight" / "model.safetensors")
    b = checkpoint.load(tmp_path / "cut" / "model.safetensors")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_cli_textcnn_folds(data_dir, tmp_path):
    pytest.importorskip("safetensors", reason="fold checkpoints are safetensors files")
    out = tmp_path / "tc"
    proc = _cli("train", "textcnn", "--dataset", "mr", "--limit", 300, "--folds", 3, "--fold-ids", 1, 2,
                "--epochs", 1, "--optimizer", "adam", "--out", out, "--data-dir", data_dir, "--no-progress")
    assert "mean test accuracy over 2 folds" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "partial" and [f["fold"] for f in metrics["folds"]] == [1, 2]
    assert sum(f["test_size"] for f in metrics["folds"]) == 200  # 2 of 3 folds of 300 sentences
    proc = _cli("train", "textcnn", "--limit", 300, "--folds", 3, "--epochs", 1, "--optimizer", "adam",
                "--out", out, "--data-dir", data_dir, "--no-progress", "--resume")
    assert "mean test accuracy over 3 folds" in proc.stdout  # folds 1 and 2 reused, fold 3 run
    assert json.loads((out / "metrics.json").read_text())["status"] == "complete"


def test_trained_checkpoint_resolves_to_its_variant(tmp_path):
    from cnnkit import checkpoint
    from cnnkit.analysis.zoo import resolve_model
    from cnnkit.training.fit import CONFIG_KEY

    cnnkit.manual_seed(3)
    trained = lenet5("classic")
    path = tmp_path / "model.safetensors"
    checkpoint.save(trained, path, metadata={CONFIG_KEY: json.dumps({"model": "lenet5", "variant": "classic"})})
    model, shape = resolve_model(str(path))
    assert model.variant == "classic" and shape == (1, 1, 32, 32)
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(model.eval()(x).numpy(), trained.eval()(x).numpy())


def test_fit_with_an_out_dir_needs_safetensors_before_the_first_epoch(tmp_path, monkeypatch):
    """Issue 10: the missing package used to surface only when the first epoch's checkpoint was written."""
    import sys

    from cnnkit._optional import MissingDependency

    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    model = cnnkit.nn.Linear(3, 2)
    steps = []
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.step = lambda *a, **k: steps.append(1)
    with pytest.raises(MissingDependency, match=r'fit\(out_dir=...\) \(its checkpoints\) needs the optional package'):
        fit(model, opt, F.cross_entropy, (np.ones((4, 3), np.float32), np.zeros(4, np.int64)), epochs=1,
            batch_size=2, seed=0, out_dir=tmp_path, progress=False, log=_quiet)
    assert steps == []  # not a single training step
