"""`cnnkit kernels` and `cnnkit filter` through a real subprocess
([sys.executable, "-m", "cnnkit", ...]), checking the files they write."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnkit.filtering import display_rule, filter2d, to_display
from cnnkit.io import read_image, write_image
from cnnkit.kernels import KERNELS, SEED_KERNELS, get_kernel
from cnnkit.sheet import SheetPanel, kernel_panels, kernel_sheet, render_sheet

Image = pytest.importorskip("PIL.Image")
skdata = pytest.importorskip("skimage.data")

ROOT = Path(__file__).resolve().parents[1]


def cnnkit(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "cnnkit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_kernels_lists_every_name():
    r = cnnkit("kernels")
    assert r.returncode == 0, r.stderr
    for name, info in KERNELS.items():
        line = next(line for line in r.stdout.splitlines() if f" {name} " in line)
        assert info.description in line
    assert "图像锐化" in r.stdout and "gaussian:SIZE" in r.stdout


def test_kernels_shows_matrix_and_factors():
    r = cnnkit("kernels", "sobel_x")
    assert r.returncode == 0, r.stderr
    assert "[ -2   0   2 ]" in r.stdout
    assert "separable: yes" in r.stdout and "column [ 1  2  1 ]" in r.stdout and "row    [ -1   0   1 ]" in r.stdout
    r = cnnkit("kernels", "sharpen")
    assert "separable: no" in r.stdout and "[ -1   5  -1 ]" in r.stdout
    r = cnnkit("kernels", "nope")
    assert r.returncode == 2
    assert "unknown kernel 'nope'; known kernels: identity" in r.stderr


@pytest.mark.parametrize("sample,kernel,border", [("camera", "edge_laplacian", "reflect101"),
                                                  ("astronaut", "sharpen", "zero")])
def test_filter_writes_the_displayed_result(tmp_path, sample, kernel, border):
    out = tmp_path / "out.png"
    r = cnnkit("filter", f"sample:{sample}", out, "--kernel", kernel, "--border", border)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    image = getattr(skdata, sample)()
    with Image.open(out) as f:
        assert f.format == "PNG" and f.size == (image.shape[1], image.shape[0])
        assert f.mode == ("L" if image.ndim == 2 else "RGB")
    expected = to_display(filter2d(image, kernel, border=border), display_rule(get_kernel(kernel)))
    np.testing.assert_array_equal(read_image(out), expected)


def test_filter_file_input_custom_kernel_convolve(tmp_path):
    src = write_image(tmp_path / "coins.png", skdata.coins())
    out = tmp_path / "custom.png"
    r = cnnkit("filter", src, out, "--custom", "[[1, 0], [0, -1], [2, 0.5]]", "--mode", "convolve",
               "--border", "wrap")
    assert r.returncode == 0, r.stderr
    k = np.array([[1, 0], [0, -1], [2, 0.5]])
    expected = to_display(filter2d(skdata.coins(), k, border="wrap", mode="convolve"), "clip")
    np.testing.assert_array_equal(read_image(out), expected)


def test_filter_16bit_png_and_jpeg_output(tmp_path):
    src = write_image(tmp_path / "c16.png", skdata.coins().astype(np.uint16) * 257)
    r = cnnkit("filter", src, tmp_path / "b16.png", "--kernel", "box_blur")
    assert r.returncode == 0, r.stderr
    out = read_image(tmp_path / "b16.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, to_display(filter2d(read_image(src), "box_blur", border="reflect101"),
                                                  "clip", max_value=65535))
    r = cnnkit("filter", "sample:astronaut", tmp_path / "g.jpg", "--kernel", "gaussian_blur", "--gray")
    assert r.returncode == 0, r.stderr
    with Image.open(tmp_path / "g.jpg") as f:
        assert f.format == "JPEG" and f.mode == "L" and f.size == (512, 512)


CUSTOM_ERRORS = [
    ("[[1, 2], [3]", "--custom is not valid JSON"),
    ("__import__('os').system('echo hi')", "--custom is not valid JSON"),
    ("[[1, 2], [3]]", "--custom rows have different lengths"),
    ("[1, 2, 3]", "--custom must be a non-empty list of non-empty rows"),
    ("[]", "--custom must be a non-empty list"),
    ('[["a", 1]]', "--custom entry 'a' is not a finite number"),
    ("[[true, 1]]", "--custom entry True is not a finite number"),
    ("[[NaN, 1]]", "--custom entry nan is not a finite number"),
]


@pytest.mark.parametrize("custom,message", CUSTOM_ERRORS[1:3])
def test_custom_kernel_errors_subprocess(tmp_path, custom, message):
    r = cnnkit("filter", "sample:camera", tmp_path / "x.png", "--custom", custom)
    assert r.returncode == 2
    assert message in r.stderr and "expected" in r.stderr
    assert "Traceback" not in r.stderr and "hi" not in r.stdout
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("custom,message", CUSTOM_ERRORS)
def test_custom_kernel_errors(tmp_path, capsys, custom, message):
    """The same CLI entry point in-process (cnnkit.cli.main), for the whole list."""
    from cnnkit.cli import main
    assert main(["filter", "sample:camera", str(tmp_path / "x.png"), "--custom", custom]) == 2
    err = capsys.readouterr().err
    assert message in err and "expected" in err
    assert not (tmp_path / "x.png").exists()


def test_filter_usage_errors(tmp_path, capsys):
    r = cnnkit("filter", tmp_path / "missing.png", tmp_path / "x.png", "--kernel", "sharpen")
    assert r.returncode == 2 and "image file not found" in r.stderr and "missing.png" in r.stderr
    from cnnkit.cli import main
    assert main(["filter", "sample:camera", "--all"]) == 2
    assert "--sheet" in capsys.readouterr().err
    assert main(["filter", "sample:camera", str(tmp_path / "x.gif"), "--kernel", "sharpen"]) == 2
    assert "must end in one of .png" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["filter", "sample:camera", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "one of the arguments --kernel --custom --all is required" in capsys.readouterr().err


def test_contact_sheet(tmp_path):
    sheet_path = tmp_path / "sheet.png"
    r = cnnkit("filter", "sample:camera", "--all", "--sheet", sheet_path, "--tile", "256")
    assert r.returncode == 0, r.stderr
    with Image.open(sheet_path) as f:
        assert f.format == "PNG" and f.mode == "RGB"
        size = f.size
    camera = skdata.camera()
    in_process = kernel_sheet(camera, tile=256)
    assert size == in_process.size and size[0] >= 4 * 256 and size[1] >= 2 * 256
    np.testing.assert_array_equal(read_image(sheet_path), np.asarray(in_process))
    # the panels are the original and the six seed kernels, displayed by the documented rule
    panels = kernel_panels(camera)
    assert [p.title for p in panels] == ["original", *SEED_KERNELS]
    np.testing.assert_array_equal(panels[0].pixels, camera)
    for panel, name in zip(panels[1:], SEED_KERNELS):
        np.testing.assert_array_equal(panel.kernel, get_kernel(name))
        expected = to_display(filter2d(camera, name, border="reflect101"), display_rule(get_kernel(name)))
        np.testing.assert_array_equal(panel.pixels, expected, err_msg=name)
    # a panel is pasted unscaled when tile >= the image (here at the 16-pixel margin)
    single = np.asarray(render_sheet([SheetPanel(camera, "original")], columns=1, tile=512))
    np.testing.assert_array_equal(single[16:16 + 512, 16:16 + 512, 0], camera)


def test_sheet_headings_wrap_to_the_sheet_width():
    from PIL import ImageDraw

    from cnnkit.sheet import _font, _text_width, _wrap

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _font(14)
    text = "Edge kernels (weights sum to 0): |result| scaled so its 99.5th percentile is white. " * 3
    lines = _wrap(draw, text, font, 300)
    assert len(lines) > 3 and " ".join(lines) == " ".join(text.split())
    assert all(_text_width(draw, line, font) <= 300 for line in lines)
    # a narrow sheet grows downwards instead of cutting its subtitle off
    panel = SheetPanel(np.zeros((64, 64), np.uint8), "blank")
    short = render_sheet([panel], columns=1, tile=64, title="t", subtitle="s")
    long = render_sheet([panel], columns=1, tile=64, title="t", subtitle=text)
    assert long.size[0] == short.size[0] and long.size[1] >= short.size[1] + 20 * (len(_wrap(draw, text, font, 64)) - 1)
