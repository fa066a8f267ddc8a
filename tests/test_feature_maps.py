"""Feature maps (values and shapes) and the PNG pictures, through the API and the CLI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from cnnkit.analysis import zoo
from cnnkit.viz import conv_layer_names, feature_maps, save_feature_grid, save_kernel_grid

PIL = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[1]


def _model():
    cnnkit.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sequential(nn.Conv2d(4, 6, 3, stride=2), nn.Conv2d(6, 6, 1)),
                         nn.Flatten(), nn.Linear(6 * 7 * 7, 3))


def _check_png(path: Path, min_size=(200, 150)):
    assert path.is_file(), path
    with PIL.open(path) as im:
        assert im.format == "PNG"
        assert im.mode in ("RGB", "RGBA")
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 5, f"{path} is (nearly) constant"
    return arr


def test_feature_maps_shapes_values_and_state(rng):
    model = _model()
    model.train()
    image = rng.standard_normal((2, 1, 16, 16)).astype(np.float32)
    maps = feature_maps(model, image)
    assert list(maps) == ["0", "1.0", "1.1"]  # every leaf whose output still has spatial axes
    assert [m.shape for m in maps.values()] == [(2, 4, 16, 16), (2, 6, 7, 7), (2, 6, 7, 7)]
    assert all(m.dtype == np.float32 for m in maps.values())
    expected = cnnkit.functional.conv2d(image, model[0].weight, model[0].bias, padding=1).numpy()
    np.testing.assert_array_equal(maps["0"], expected)
    picked = feature_maps(model, image[0, 0], layers=["1", "3"])  # (H, W) image; a container and the last layer
    assert list(picked) == ["1", "3"] and picked["1"].shape == (1, 6, 7, 7) and picked["3"].shape == (1, 3)
    assert all(m.training for m in model.modules()) and all("forward" not in m.__dict__ for m in model.modules())
    with pytest.raises(ValueError, match=r"layers \['nope'\] are not in the model"):
        feature_maps(model, image, layers=["nope"])
    with pytest.raises(ValueError, match=r"image must be \(H, W\), \(C, H, W\) or \(N, C, H, W\), got shape"):
        feature_maps(model, np.zeros(5, np.float32))
    assert conv_layer_names(model) == ["0", "1.0", "1.1"]


def test_feature_maps_of_a_shared_layer_and_1d(rng):
    conv = nn.Conv1d(2, 2, 3, padding=1)
    maps = feature_maps(nn.Sequential(conv, conv), rng.standard_normal((1, 2, 10)).astype(np.float32))
    assert list(maps) == ["0", "0#2"] and maps["0"].shape == maps["0#2"].shape == (1, 2, 10)
    assert not np.array_equal(maps["0"], maps["0#2"])


def test_pictures_are_legible_pngs(tmp_path, rng):
    model = _model()
    maps = feature_maps(model, rng.standard_normal((1, 1, 16, 16)).astype(np.float32))
    arr = _check_png(save_feature_grid(maps["0"], tmp_path / "a.png", title="layer 0"))
    assert arr.shape[0] < arr.shape[1] * 2
    _check_png(save_feature_grid(maps["1.0"], tmp_path / "sub" / "b.png", max_maps=4))  # makes the folder
    _check_png(save_feature_grid(rng.standard_normal((1, 5, 30)), tmp_path / "c.png", title="1-D"))
    _check_png(save_kernel_grid(model[0].weight, tmp_path / "k.png"))
    _check_png(save_kernel_grid(rng.standard_normal((4, 3, 5, 5)), tmp_path / "rgb.png"))  # one RGB tile per kernel
    with pytest.raises(ValueError, match=r"activations must be \(N, C, H, W\) or \(N, C, L\)"):
        save_feature_grid(np.zeros((3, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"max_maps must be a positive int, got 0"):
        save_feature_grid(maps["0"], tmp_path / "x.png", max_maps=0)
    with pytest.raises(ValueError, match=r"conv_weight must be \(O, I, kH, kW\) or \(O, I, k\), got shape \(3, 3\)"):
        save_kernel_grid(np.zeros((3, 3)), tmp_path / "x.png")


def test_feature_grid_with_input_tile_and_atomic_write(tmp_path, rng, monkeypatch):
    digit = np.zeros((16, 16))
    digit[4:12, 7:9] = 255.0  # a bright bar: the input tile is drawn in gray, unlike the viridis maps
    maps = rng.standard_normal((3, 8, 8))
    path = tmp_path / "with_input.png"
    arr = _check_png(save_feature_grid(maps, path, batched=False, input_image=digit))
    gray = (np.abs(arr[..., 0].astype(int) - arr[..., 1]) < 3) & (np.abs(arr[..., 1].astype(int) - arr[..., 2]) < 3)
    assert (gray & (arr[..., 0] > 240)).sum() > 20  # the white bar of the input tile is there
    with pytest.raises(ValueError, match=r"input_image must be \(H, W\), got shape \(2, 3, 3\)"):
        save_feature_grid(maps, tmp_path / "x.png", batched=False, input_image=np.zeros((2, 3, 3)))
    # a failing save leaves the previous picture intact and no temporary file behind
    good = path.read_bytes()
    from matplotlib.figure import Figure

    def broken_savefig(self, fname, **kw):
        fname.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        save_feature_grid(maps, path, batched=False)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["with_input.png"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=180)


def test_cli_features_writes_pngs(tmp_path, rng):
    image = tmp_path / "digit.png"
    PIL.fromarray((rng.uniform(0, 255, (20, 24))).astype(np.uint8)).save(image)
    script = tmp_path / "net.py"
    script.write_text("from cnnkit import nn\n"
                      "model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sequential(nn.Conv2d(4, 8, 3, stride=2)))\n"
                      "input_shape = (1, 1, 28, 28)\n")
    out_dir = tmp_path / "out"
    run = _cli("features", str(script), str(image), "--out", str(out_dir))
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["00_input.png", "01_0.png", "02_1.0.png", "kernels_0.png"]
    assert run.stdout.split() == [str(out_dir / n) for n in ["00_input.png", "01_0.png", "02_1.0.png", "kernels_0.png"]]
    for n in names:
        _check_png(out_dir / n)
    run = _cli("features", str(script), str(image), "--out", str(tmp_path / "o2"), "--layers", "1,1.0")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["00_input.png", "01_1.png", "02_1.0.png",
                                                                  "kernels_0.png"]
    run = _cli("features", str(script), str(image), "--out", str(tmp_path / "o3"), "--layers", "zzz")
    assert run.returncode == 2 and "zzz" in run.stderr
    run = _cli("features", str(script), str(tmp_path / "missing.png"), "--out", str(tmp_path / "o4"))
    assert run.returncode == 2 and "missing.png not found" in run.stderr


def test_cli_features_from_a_checkpoint(tmp_path, rng):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model, shape = zoo.build("seed-transposed", seed=1)
    ckpt = tmp_path / "seed-transposed.safetensors"
    safetensors_numpy.save_file(dict(model.state_dict()), str(ckpt))
    np.save(tmp_path / "x.npy", rng.standard_normal((5, 5)).astype(np.float32))
    run = _cli("features", str(ckpt), str(tmp_path / "x.npy"), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00_input.png", "01_0.png", "02_1.png",
                                                                   "kernels_0.png"]


def test_cli_features_of_the_seed_kernels_model(tmp_path, rng):
    """The fixed classic kernels first, then deeper layers with growing fields (titles say so)."""
    image = tmp_path / "x.png"
    PIL.fromarray((rng.uniform(0, 255, (28, 28))).astype(np.uint8)).save(image)
    run = _cli("features", "seed-kernels", str(image), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "00_input.png", "01_0.png", "02_1.png", "03_4.png", "04_7.png", "kernels_0.png"]
    for p in (tmp_path / "out").iterdir():
        _check_png(p)


def test_cli_summary_lenet5():
    out = _cli("summary", "lenet5")
    assert out.returncode == 0, out.stderr
    for text in ("Total params: 61,706", "[1, 6, 28, 28]", "16x16 flat", "global 32x32", "14x14"):
        assert text in out.stdout, text
