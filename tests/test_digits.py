"""MNIST-style digits: the one input preparation (prepare_mnist), MNIST's own recipe for making a
digit from a picture (to_mnist_digit), the bundled pretrained LeNet-5, and the CLI that uses them."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit.data import as_mnist_digit, prepare_mnist, to_mnist_digit
from cnnkit.models import lenet as lenet_module
from cnnkit.models import lenet5

PIL = pytest.importorskip("PIL.Image")
ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    img = img.astype(np.float64)
    m = img.sum()
    return (img.sum(1) * np.arange(img.shape[0])).sum() / m, (img.sum(0) * np.arange(img.shape[1])).sum() / m


# ----------------------------------------------------------------- prepare_mnist
def test_prepare_mnist_is_torchvision_pad_totensor_normalize(rng):
    torch = pytest.importorskip("torch")
    digits = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    t = torch.from_numpy(digits).float()[:, None] / 255.0                      # ToTensor
    t = torch.nn.functional.pad(t, (2, 2, 2, 2))                                 # Pad(2)
    expected = ((t - 0.1307) / 0.3081).numpy()                                   # Normalize
    got = prepare_mnist(digits)
    assert got.shape == (5, 1, 32, 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)
    np.testing.assert_array_equal(prepare_mnist(digits[0]), got[:1])            # one digit (28, 28)
    # the training recipe uses exactly this function
    from cnnkit.training.mnist import prepare_images
    np.testing.assert_array_equal(prepare_images(digits), got)


@pytest.mark.parametrize("bad, kind, text", [
    (np.zeros((28, 27), np.uint8), ValueError, "(N, 28, 28)"),
    (np.zeros((2, 1, 28, 28), np.uint8), ValueError, "(N, 28, 28)"),
    (np.full((28, 28), 300.0), ValueError, "0..255"),
    (np.full((28, 28), np.nan), ValueError, "NaN"),
    (np.array([["a"] * 28] * 28), TypeError, "numeric"),
])
def test_prepare_mnist_rejects_bad_input(bad, kind, text):
    with pytest.raises(kind, match=text.replace("(", r"\(").replace(")", r"\)")):
        prepare_mnist(bad)


# ---------------------------------------------------------------- to_mnist_digit
def _page_with_ink(h=200, w=160, box=(30, 150, 60, 100), dark_ink=True):
    """A light page with a dark ink rectangle plus a diagonal stroke (so the centre of mass is off-centre)."""
    page = np.full((h, w), 235 if dark_ink else 10, dtype=np.uint8)
    r0, r1, c0, c1 = box
    ink = 20 if dark_ink else 250
    page[r0:r1, c0:c0 + 12] = ink
    for i in range(r0, r1):
        c = c0 + (i - r0) * (c1 - c0) // (r1 - r0)
        page[i, c:c + 6] = ink
    return page


@pytest.mark.parametrize("dark_ink", [True, False])
def test_to_mnist_digit_follows_mnists_recipe(dark_ink):
    page = _page_with_ink(dark_ink=dark_ink)
    digit = to_mnist_digit(page)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    border = np.concatenate([digit[0], digit[-1], digit[:, 0], digit[:, -1]])
    assert border.max() == 0, "white ink on a black field, nothing on the border"
    rows, cols = np.nonzero(digit > 25)
    # the bounding box is scaled so that its longer side is 20 pixels (the box is 120 x ~46 here)
    assert rows.max() - rows.min() + 1 in (20, 21)
    assert cols.max() - cols.min() + 1 < 15
    cy, cx = _centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_to_mnist_digit_invert_rgb_and_errors():
    page = _page_with_ink()
    auto = to_mnist_digit(page)                                 # light page: inverted automatically
    np.testing.assert_allclose(to_mnist_digit(255 - page, invert=False), auto, atol=1)
    wrong = to_mnist_digit(page, invert=False)                  # the page itself taken as ink: a filled box
    assert wrong.sum() > 2 * auto.sum()
    rgb = np.repeat(page[..., None], 3, axis=2)
    np.testing.assert_array_equal(to_mnist_digit(rgb), to_mnist_digit(page))
    with pytest.raises(ValueError, match="blank"):
        to_mnist_digit(np.full((40, 40), 7, np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        to_mnist_digit(np.zeros((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="invert"):
        to_mnist_digit(page, invert="yes")


def test_as_mnist_digit_keeps_mnist_digits_and_recentres_others(data_dir):
    from cnnkit.data import load_mnist
    images, _ = load_mnist("test", data_dir)
    for digit in images[:20]:
        np.testing.assert_array_equal(as_mnist_digit(digit), digit)
    shifted = np.zeros((28, 28), np.uint8)
    shifted[:, :20] = images[0][:, 8:]                          # moved 8 pixels left: no longer MNIST-centred
    shifted[0, :] = 0
    out = to_mnist_digit(shifted)
    cy, cx = _centre_of_mass(out)
    assert abs(cx - 14) <= 0.5


# ---------------------------------------------------------------- pretrained LeNet-5
def test_pretrained_weights_are_recorded_and_checked(tmp_path, monkeypatch):
    path = lenet_module.PRETRAINED_PATH
    assert path.is_file(), "the bundled checkpoint ships inside the package"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == lenet_module.PRETRAINED_SHA256
    readme = (path.parent / "README.md").read_text()
    assert lenet_module.PRETRAINED_SHA256 in readme and f"{100 * lenet_module.PRETRAINED_ACCURACY:.2f}%" in readme
    model = lenet5(pretrained=True)
    fresh = lenet5()
    assert not np.array_equal(model.conv1.weight.data, fresh.conv1.weight.data)
    damaged = tmp_path / "lenet5.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(lenet_module, "PRETRAINED_PATH", damaged)
    with pytest.raises(ValueError, match="SHA-256"):
        lenet5(pretrained=True)
    with pytest.raises(ValueError, match="modern"):
        lenet5("classic", pretrained=True)
    with pytest.raises(TypeError, match="pretrained"):
        lenet5(pretrained="yes")


def test_pretrained_accuracy_on_mnist_and_on_redrawn_digits(data_dir):
    """The bundled model on MNIST test digits, and on the same digits drawn large, black on white
    (as a scan or a canvas gives them), brought back by MNIST's recipe."""
    from cnnkit.data import load_mnist
    images, labels = load_mnist("test", data_dir)
    model = lenet5(pretrained=True).eval()
    with cnnkit.no_grad():
        pred = model(prepare_mnist(images[:2000])).numpy().argmax(1)
    assert (pred == labels[:2000]).mean() >= 0.985
    redrawn = []
    for digit in images[:300]:
        page = 255 - np.asarray(PIL.fromarray(digit).resize((140, 140), PIL.BILINEAR))
        redrawn.append(as_mnist_digit(page))
    with cnnkit.no_grad():
        pred = model(prepare_mnist(np.stack(redrawn))).numpy().argmax(1)
    assert (pred == labels[:300]).mean() >= 0.97


# ---------------------------------------------------------------- CLI
def test_cli_eval_pretrained(data_dir):
    run = _cli("eval", "pretrained", "--data-dir", str(data_dir))
    assert run.returncode == 0, run.stderr
    assert f"test accuracy {100 * lenet_module.PRETRAINED_ACCURACY:.2f}%" in run.stdout


def test_cli_features_pretrained_mnist_index_and_picture(tmp_path, data_dir):
    pytest.importorskip("matplotlib")
    run = _cli("features", "pretrained", "--mnist-index", "0", "--data-dir", str(data_dir), "--out", str(tmp_path / "a"))
    assert run.returncode == 0, run.stderr
    assert "MNIST test digit 0 (label 7)" in run.stdout and "prediction: class 7" in run.stdout
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["00_input.png", "01_conv1.png", "02_conv2.png",
                                                                  "kernels_conv1.png"]
    # a large black-on-white picture of the same digit gives the same prediction
    from cnnkit.data import load_mnist
    digit = load_mnist("test", data_dir)[0][0]
    picture = tmp_path / "seven.png"
    PIL.fromarray(255 - np.asarray(PIL.fromarray(digit).resize((120, 120), PIL.BILINEAR))).save(picture)
    run = _cli("features", "pretrained", str(picture), "--out", str(tmp_path / "b"))
    assert run.returncode == 0, run.stderr
    assert "as an MNIST-style digit" in run.stdout and "prediction: class 7" in run.stdout


def test_cli_features_sample_images_and_one_line_errors(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("skimage")
    run = _cli("features", "seed-kernels", "sample:camera", "--out", str(tmp_path / "c"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "c" / "01_0.png").is_file()
    for args, text in [((), "give an IMAGE or --mnist-index"),
                       (("x.png", "--mnist-index", "3"), "not both"),
                       (("sample:nope",), "unknown sample image"),
                       (("missing.png",), "missing.png not found")]:
        run = _cli("features", "pretrained", *args, "--out", str(tmp_path / "d"))
        assert run.returncode == 2 and text in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_feature_maps_after_activation_are_what_the_next_layer_sees():
    from cnnkit.viz import feature_maps
    from cnnkit.viz.feature_maps import following_activations
    model = lenet5(pretrained=True)
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    assert following_activations(model, x, ["conv1", "conv2"]) == {"conv1": "act1", "conv2": "act2"}
    maps = feature_maps(model, x, ["conv1", "act1"])
    np.testing.assert_array_equal(maps["act1"], np.maximum(maps["conv1"], 0))
