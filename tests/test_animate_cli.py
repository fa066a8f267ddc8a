"""`cnnkit animate` (one real subprocess, the rest through cnnkit.cli.main) and the gallery."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnkit.animate import GALLERY, FrameData, frame_data, gallery
from cnnkit.animate.gallery import cli_command
from cnnkit.cli import main

Image = pytest.importorskip("PIL.Image")
ROOT = Path(__file__).resolve().parents[1]


def test_cli_writes_gif_and_json_in_a_subprocess(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "cnnkit", "animate", "conv2d", "--input", "5x5", "--kernel", "3",
                        "--stride", "2", "--out", str(tmp_path / "a.gif"), "--data", str(tmp_path / "a.json")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "4 frames" in r.stdout and "-> output 2x2" in r.stdout
    data = FrameData.from_dict(json.loads((tmp_path / "a.json").read_text()))
    assert data.to_dict() == frame_data("conv2d", input_size=5, kernel_size=3, stride=2).to_dict()
    assert Image.open(tmp_path / "a.gif").n_frames == 4


def test_cli_options_reach_frame_data(tmp_path, capsys):
    out = tmp_path / "f.json"
    assert main(["animate", "conv_transpose2d", "--input", "3x4", "--kernel", "2x3", "--stride", "2x1",
                 "--padding", "0,1,1,0", "--dilation", "1x2", "--output-padding", "1x0", "--channels", "2",
                 "--seed", "9", "--backward", "--data", str(out)]) == 0
    got = json.loads(out.read_text())
    ref = frame_data("conv_transpose2d", input_size=(3, 4), kernel_size=(2, 3), stride=(2, 1),
                     padding=((0, 1), (1, 0)), dilation=(1, 2), output_padding=(1, 0), channels=2, seed=9,
                     backward=True).to_dict()
    assert got == ref
    assert "frames of data" in capsys.readouterr().out
    assert main(["animate", "separable", "--input-values", json.dumps(np.eye(4).tolist()),
                 "--kernel-values", "[[1,2,1],[1,0,-1]]", "--padding", "same", "--data", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["stages"][0]["kernel"] == [[[[1], [2], [1]]]] and np.shape(got["output"]) == (1, 4, 4)
    assert main(["animate", "max_pool1d", "--input", "8", "--kernel", "3", "--stride", "2", "--ceil-mode",
                 "--no-numbers", "--fps", "5", "--out", str(tmp_path / "m.gif")]) == 0
    im = Image.open(tmp_path / "m.gif")
    assert im.n_frames == 4 and im.info["duration"] == 200


@pytest.mark.parametrize("argv,word", [
    (["animate", "conv2d", "--padding", "1,2,3", "--data", "x.json"], "padding"),
    (["animate", "conv1d", "--input", "5x5", "--data", "x.json"], "input_size"),
    (["animate", "conv2d", "--input", "3", "--kernel", "5", "--data", "x.json"], "larger than the padded input"),
    (["animate", "conv_transpose2d", "--stride", "2", "--output-padding", "2", "--data", "x.json"], "output_padding"),
    (["animate", "conv2d", "--input-values", "[[1, 2]", "--data", "x.json"], "--input-values"),
    (["animate", "conv2d", "--view", "scatter", "--data", "x.json"], "view"),
    (["animate", "conv2d"], "--out"),
    (["animate", "conv2d", "--fps", "0", "--out", "x.gif"], "fps"),
    (["animate", "gallery"], "--out"),
    (["animate", "gallery", "--out", "g", "--only", "nope"], "unknown gallery"),
])
def test_cli_errors_are_one_line(argv, word, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnkit animate: error:") and word in err and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())  # nothing written


def test_gallery_subset_and_index(tmp_path, capsys):
    names = ["padding_strides_odd_transposed", "seed_max_pool_backward"]
    assert main(["animate", "gallery", "--out", str(tmp_path), "--only", ",".join(names)]) == 0
    assert "wrote 2 animations" in capsys.readouterr().out
    index = (tmp_path / "index.html").read_text()
    for name in names:
        assert Image.open(tmp_path / f"{name}.gif").n_frames == len(frame_data(GALLERY[name].op,
                                                                               **GALLERY[name].options).frames)
        assert f'src="{name}.gif"' in index
    assert "output_padding 1" in index and "cnnkit animate conv_transpose2d" in index


def test_gallery_commands_reproduce_the_entries(tmp_path):
    """The command the index page prints for each entry gives the same frame data."""
    import shlex
    for name, entry in GALLERY.items():
        argv = shlex.split(cli_command(entry.op, entry.options, "x.gif"))[1:]
        argv = argv[:argv.index("--out")] + ["--data", str(tmp_path / "d.json")]
        assert main(argv) == 0, name
        got = json.loads((tmp_path / "d.json").read_text())
        assert got == frame_data(entry.op, **entry.options).to_dict(), name


def test_gallery_has_the_arithmetic_set_and_the_seed_examples():
    arithmetic = ["no_padding_no_strides", "arbitrary_padding_no_strides", "same_padding_no_strides",
                  "full_padding_no_strides", "no_padding_strides", "padding_strides", "padding_strides_odd",
                  "dilation"]
    for name in arithmetic:
        assert GALLERY[name].op == "conv2d" and GALLERY[f"{name}_transposed"].op == "conv_transpose2d"
    # each transposed counterpart maps the convolution's output size back to its input size
    for name in arithmetic:
        fwd, back = GALLERY[name], GALLERY[f"{name}_transposed"]
        y = frame_data(fwd.op, **fwd.options)
        xb = frame_data(back.op, **back.options)
        assert np.shape(xb.input)[1:] == np.shape(y.output)[1:], name
        assert np.shape(xb.output)[1:] == np.shape(y.input)[1:], name
    ops = {e.op for e in GALLERY.values()}
    assert {"separable", "depthwise-separable", "max_pool2d", "avg_pool2d", "conv1d"} <= ops
    assert frame_data(**{"op": "conv2d", **GALLERY["same_padding_no_strides"].options}).params["padding"] == \
        [[1, 1], [1, 1]]


@pytest.mark.slow
def test_the_whole_gallery_renders(tmp_path):
    """Every entry is drawn, with one frame per frame-data frame, and the index lists them all
    (its time is measured, not asserted: about 7 s on this project's 2 cores)."""
    paths = gallery(tmp_path)
    assert [p.stem for p in paths[:-1]] == list(GALLERY) and paths[-1].name == "index.html"
    index = paths[-1].read_text()
    for p in paths[:-1]:
        entry = GALLERY[p.stem]
        frames = Image.open(p).n_frames
        # one frame per output cell; the scatter view draws one per input cell instead
        cells = (np.prod(np.shape(frame_data(entry.op, **entry.options).input)[1:])
                 if entry.options.get("view") == "scatter" else len(frame_data(entry.op, **entry.options).frames))
        assert frames == cells, p.stem
        assert p.name in index and f"{frames} frames" in index, p.stem


def test_readme_gifs_are_what_their_commands_draw(tmp_path):
    """docs/animate_*.gif are made by the `cnnkit animate ... --out docs/...` lines of README.md."""
    import re
    import shlex
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^cnnkit animate .*--out (docs/\S+\.gif)$", readme, flags=re.M)
    lines = [line for line in readme.splitlines() if line.startswith("cnnkit animate") and "--out docs/" in line]
    assert len(lines) == len(commands) == 3
    for line, target in zip(lines, commands):
        argv = shlex.split(line)[1:]
        argv[argv.index("--out") + 1] = str(tmp_path / "x.gif")
        assert main(argv) == 0
        ours, theirs = Image.open(tmp_path / "x.gif"), Image.open(ROOT / target)
        assert (ours.n_frames, ours.size) == (theirs.n_frames, theirs.size), target
        for i in range(ours.n_frames):
            ours.seek(i)
            theirs.seek(i)
            a, b = np.asarray(ours.convert("RGB")).astype(int), np.asarray(theirs.convert("RGB")).astype(int)
            assert (np.abs(a - b).max(axis=2) > 40).mean() < 0.01, f"{target} frame {i}: regenerate it"


def test_without_pillow_the_data_still_works_and_the_gif_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL.Image", None)   # `import PIL.Image` now raises ImportError
    assert main(["animate", "conv1d", "--data", str(tmp_path / "d.json")]) == 0
    assert main(["animate", "conv1d", "--out", str(tmp_path / "a.gif")]) == 2
    err = capsys.readouterr().err
    assert "needs the optional package 'Pillow'" in err and 'pip install "cnnkit[image]"' in err
    assert err.count("\n") == 1 and not (tmp_path / "a.gif").exists()
