"""Image reading/writing (oracles: Pillow's own modes and OpenCV's imread) and sample images."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnkit.io import read_image, write_image
from cnnkit.io.image import rgb_to_gray, to_uint8
from cnnkit.samples import SAMPLES, load_image, sample_image

Image = pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")


def _cv2_read(path):
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return a[:, :, ::-1] if a.ndim == 3 else a


# ------------------------------------------------------------------ round trips
def test_png_roundtrip_gray_uint8(tmp_path):
    img = skdata.camera()
    path = write_image(tmp_path / "camera.png", img)
    assert path == tmp_path / "camera.png"
    with Image.open(path) as f:
        assert f.format == "PNG" and f.mode == "L" and f.size == (512, 512)
    back = read_image(path)
    assert back.dtype == np.uint8 and back.shape == (512, 512)
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(_cv2_read(path), img)


def test_png_roundtrip_rgb(tmp_path):
    img = skdata.astronaut()
    path = write_image(tmp_path / "astronaut.PNG", img)
    with Image.open(path) as f:
        assert f.mode == "RGB"
    back = read_image(path)
    assert back.shape == (512, 512, 3) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(_cv2_read(path), img)


def test_png_roundtrip_16bit_gray(tmp_path):
    img = (skdata.coins().astype(np.uint16) * 257)
    img[0, 0], img[0, 1] = 0, 65535
    path = write_image(tmp_path / "coins16.png", img)
    with Image.open(path) as f:
        assert f.mode.startswith("I;16")
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(_cv2_read(path), img)
    with pytest.raises(ValueError, match="uint16 images can only be written as grayscale PNG"):
        write_image(tmp_path / "c.jpg", img)


def test_jpeg_write_and_load(tmp_path):
    img = skdata.astronaut()
    path = write_image(tmp_path / "a.jpg", img, quality=92)
    with Image.open(path) as f:
        assert f.format == "JPEG" and f.mode == "RGB"
    back = read_image(path)
    assert back.shape == img.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - img).mean() < 3  # lossy, but close
    gray = read_image(write_image(tmp_path / "g.jpeg", skdata.camera()))
    assert gray.shape == (512, 512)


def test_modes(tmp_path):
    rgb = skdata.astronaut()
    path = write_image(tmp_path / "rgb.png", rgb)
    with Image.open(path) as f:
        expected_gray = np.asarray(f.convert("L"))
    np.testing.assert_array_equal(read_image(path, mode="L"), expected_gray)
    np.testing.assert_array_equal(rgb_to_gray(rgb), expected_gray)
    gray_path = write_image(tmp_path / "gray.png", skdata.camera())
    as_rgb = read_image(gray_path, mode="RGB")
    assert as_rgb.shape == (512, 512, 3)
    for c in range(3):
        np.testing.assert_array_equal(as_rgb[:, :, c], skdata.camera())
    with pytest.raises(ValueError, match="mode must be None, 'L' or 'RGB', got 'CMYK'"):
        read_image(path, mode="CMYK")


def test_other_pillow_modes_become_gray_or_rgb(tmp_path):
    rgba = np.dstack([skdata.astronaut(), np.full((512, 512), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), skdata.astronaut())  # alpha dropped
    Image.fromarray(skdata.astronaut()).convert("P").save(tmp_path / "pal.png")
    pal = read_image(tmp_path / "pal.png")
    assert pal.shape == (512, 512, 3)
    Image.fromarray(skdata.camera() > 100).save(tmp_path / "bits.png")
    bits = read_image(tmp_path / "bits.png")
    assert bits.dtype == np.uint8 and set(np.unique(bits)) == {0, 255}
    np.testing.assert_array_equal(bits == 255, skdata.camera() > 100)


def test_float_write_rule(tmp_path):
    unit = np.linspace(0, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "u.png", unit)), np.rint(unit * 255))
    byte = np.linspace(0, 255, 12).reshape(3, 4).astype(np.float32)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "b.png", byte)), np.rint(byte))
    dark = np.full((2, 2), 0.8)  # in [0, 1]: "auto" reads it as unit range ...
    assert read_image(write_image(tmp_path / "d.png", dark))[0, 0] == 204
    assert read_image(write_image(tmp_path / "d2.png", dark, value_range="byte"))[0, 0] == 1  # ... unless told
    np.testing.assert_array_equal(to_uint8(np.array([[True, False]])), [[255, 0]])
    np.testing.assert_array_equal(to_uint8(np.array([[3, 250]], dtype=np.int64)), [[3, 250]])
    with pytest.raises(ValueError, match=r"float image values must lie in \[0, 255\].*got \[-1, 3\]"):
        write_image(tmp_path / "x.png", np.array([[-1.0, 3.0]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] \(value_range='unit'\)"):
        write_image(tmp_path / "x.png", np.array([[0.5, 3.0]]), value_range="unit")
    with pytest.raises(ValueError, match="contains NaN"):
        write_image(tmp_path / "x.png", np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match=r"integer image values must lie in \[0, 255\]"):
        write_image(tmp_path / "x.png", np.array([[0, 300]]))
    with pytest.raises(ValueError, match=r"must have shape \(H, W\), \(H, W, 1\) or \(H, W, 3\), got \(2, 2, 4\)"):
        write_image(tmp_path / "x.png", np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match=r"cannot tell the image format of .*x\.bmp"):
        write_image(tmp_path / "x.bmp", np.zeros((2, 2), np.uint8))
    assert not list(tmp_path.glob("x.*"))


# ------------------------------------------------------------------ errors
def test_missing_file(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match=f"image file not found: .*nope.png"):
        read_image(missing)
    with pytest.raises(IsADirectoryError, match="image file .* is a folder, not a file"):
        read_image(tmp_path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a PNG\n")
    with pytest.raises(ValueError, match=r"notes\.png is not an image Pillow can read"):
        read_image(path)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file(tmp_path, ext):
    good = write_image(tmp_path / f"good{ext}", skdata.astronaut())
    data = good.read_bytes()
    bad = tmp_path / f"cut{ext}"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"cut\{ext} is truncated or corrupt"):
        read_image(bad)


def test_write_to_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder for image .* does not exist"):
        write_image(tmp_path / "no" / "dir" / "x.png", np.zeros((2, 2), np.uint8))


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    original = skdata.camera()
    write_image(target, original)
    before = target.read_bytes()

    def failing_save(self, fp, format=None, **params):
        fp.write(b"\x89PNG partial bytes")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, np.zeros((8, 8), np.uint8))
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "new.png", np.zeros((8, 8), np.uint8))
    monkeypatch.undo()
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]  # no temp file, no partial new.png


def test_written_file_has_normal_permissions(tmp_path):
    path = write_image(tmp_path / "perm.png", np.zeros((2, 2), np.uint8))
    umask = os.umask(0o022)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_missing_pillow_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[image\]"'):
        read_image(tmp_path / "x.png")
    with pytest.raises(ImportError, match=r'pip install -e "\.\[image\]"'):
        write_image(tmp_path / "x.png", np.zeros((2, 2), np.uint8))


# ------------------------------------------------------------------ samples
@pytest.mark.parametrize("name", ["camera", "astronaut", "coins"])
def test_sample_images(name):
    img = sample_image(name)
    np.testing.assert_array_equal(img, getattr(skdata, name)())
    np.testing.assert_array_equal(load_image(f"sample:{name}"), img)


def test_every_listed_sample_loads_offline():
    for name in SAMPLES:
        img = sample_image(name)
        assert img.dtype == np.uint8 and img.ndim in (2, 3), name
    assert sample_image("astronaut", mode="L").shape == (512, 512)


def test_sample_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown sample image 'lena'; known samples: camera, astronaut"):
        sample_image("lena")
    with pytest.raises(ValueError, match="unknown sample image"):
        load_image("sample:")
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match=r'the sample image sample:camera needs the optional package .scikit-image.: pip install -e "\.\[samples\]"'):
        sample_image("camera")
    path = write_image(tmp_path / "f.png", np.zeros((3, 3), np.uint8))
    assert load_image(str(path)).shape == (3, 3)  # files still load without scikit-image
