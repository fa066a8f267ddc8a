"""Issue 10: every CLI command prints ONE line and exits non-zero on bad input
(never a traceback, never the path twice), checks optional packages before it
starts working, and its help says what it accepts."""
from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from cnnkit.cli import error_line, main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv, match: str, code: int = 2) -> str:
    rc, out, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == code, (argv, rc, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]
    return lines[0]


def test_missing_files_name_the_path_once(capsys, tmp_path):
    line = one_line_error(capsys, "summary", tmp_path / "net.py", match="model file not found")
    assert line.count("net.py") == 1 and "[Errno" not in line
    pytest.importorskip("safetensors")
    missing = tmp_path / "nope.safetensors"
    line = one_line_error(capsys, "eval", missing, match="checkpoint file not found")
    assert line.count(str(missing)) == 1 and "[Errno" not in line


def test_error_line_of_a_plain_oserror():
    try:
        open("/definitely/not/here.txt")
    except OSError as exc:
        assert error_line(exc) == "No such file or directory: /definitely/not/here.txt"
    assert error_line(ValueError("a\n  b\n\tc")) == "a; b; c"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_one_line_not_a_hang(capsys, tmp_path):
    pytest.importorskip("PIL")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    one_line_error(capsys, "filter", fifo, tmp_path / "out.png", "--kernel", "sharpen",
                   match="is a FIFO (named pipe); cnnkit reads regular files only")


def test_kernel_factories_refuse_absurd_sizes(capsys, tmp_path):
    one_line_error(capsys, "kernels", "gaussian:30001", match="size 30001 is too large: at most 1025")
    pytest.importorskip("PIL")
    img = tmp_path / "in.png"
    from cnnkit.io import write_image
    write_image(img, np.zeros((8, 8), np.uint8))
    one_line_error(capsys, "filter", img, tmp_path / "o.png", "--kernel", "box:40000", match="box: size 40000")


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def test_bad_images_are_one_line(capsys, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))
    one_line_error(capsys, "filter", bomb, tmp_path / "o.png", "--kernel", "sharpen", match="too large to decode safely")
    tiff = tmp_path / "f.tif"
    Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F").save(tiff)
    one_line_error(capsys, "filter", tiff, tmp_path / "o.png", "--kernel", "sharpen", match="f.tif: 32-bit float images")


def test_crafted_checkpoints_and_training_states_are_one_line(capsys, tmp_path):
    deep = b"[" * 50_000 + b"]" * 50_000
    path = tmp_path / "deep.safetensors"
    path.write_bytes(len(deep).to_bytes(8, "little") + deep)
    pytest.importorskip("safetensors")
    one_line_error(capsys, "eval", path, match="nested too deeply")
    one_line_error(capsys, "summary", path, match="nested too deeply")
    from cnnkit import checkpoint
    from cnnkit.models import lenet5

    bad = checkpoint.save(lenet5(), tmp_path / "state.safetensors", metadata={
        "cnnkit.config": json.dumps({"model": "lenet5"}), checkpoint.TRAINING_STATE_KEY: "[1]"})
    one_line_error(capsys, "eval", bad, match="malformed training state: the metadata is a list")


def test_bad_datasets_are_one_line(capsys, tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 10000, 28, 28)
    (mnist / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(10000 * 28 * 28 + 10)))
    (mnist / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 10000)
                                                                    + bytes(10000)))
    from cnnkit import checkpoint
    from cnnkit.models import lenet5
    ckpt = checkpoint.save(lenet5(), tmp_path / "m.safetensors",
                           metadata={"cnnkit.config": json.dumps({"model": "lenet5", "variant": "modern"})})
    one_line_error(capsys, "eval", ckpt, "--data-dir", tmp_path, match="IDX payload has trailing bytes")
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_line_error(capsys, "eval", ckpt, "--data-dir", empty, match="MNIST 'test' split not found")
    assert "only it was searched" in line  # no silent fall-back to $CNNKIT_DATA
    mr = tmp_path / "mr"
    mr.mkdir()
    (mr / "rt-polarity.pos").write_text("good\n", encoding="utf-16")
    (mr / "rt-polarity.neg").write_bytes(b"bad\n")
    one_line_error(capsys, "train", "textcnn", "--data-dir", tmp_path, "--out", tmp_path / "run", "--no-progress",
                   match="looks like UTF-16 or UTF-32 text")
    (mr / "rt-polarity.pos").write_bytes(b"good \x8d\n")
    one_line_error(capsys, "train", "textcnn", "--data-dir", tmp_path, "--out", tmp_path / "run", "--no-progress",
                   match="rt-polarity.pos, line 1, column 6: byte 0x8d is not valid cp1252 text")


def test_missing_optional_package_fails_before_training(capsys, tmp_path, monkeypatch):
    """`train` used to crash at the end of the first epoch when safetensors was absent."""
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    rc, out, err = run(capsys, "train", "lenet5", "--out", tmp_path / "run", "--epochs", "1", "--no-progress")
    assert rc == 2 and "epoch" not in out and "Traceback" not in err
    assert err.strip() == ("cnnkit train: error: cnnkit train (checkpoints) needs the optional package 'safetensors': "
                           "pip install -e \".[weights]\" (from a checkout) or pip install \"cnnkit[weights]\"")
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    one_line_error(capsys, "filter", "in.png", tmp_path / "o.png", "--kernel", "sharpen",
                   match="needs the optional package 'Pillow': pip install -e \".[image]\"")


def test_internal_errors_are_one_line_too(capsys, monkeypatch):
    import cnnkit.cli.kernels as kernels_cli

    def boom(args):
        raise KeyError("oops")

    monkeypatch.setattr(kernels_cli, "run", boom)
    monkeypatch.delenv("CNNKIT_TRACEBACK", raising=False)
    one_line_error(capsys, "kernels", match="internal error: KeyError: 'oops' (set CNNKIT_TRACEBACK=1", code=1)


def test_textcnn_with_a_tiny_limit_reports_numbers(capsys, data_dir, tmp_path):
    """`--limit 10 --folds 2` printed nan% and ended in a KeyError (an empty dev set)."""
    pytest.importorskip("safetensors", reason="fold checkpoints are safetensors files")
    rc, out, err = run(capsys, "train", "textcnn", "--limit", "10", "--folds", "2", "--epochs", "2",
                       "--out", tmp_path / "tc", "--no-progress")
    assert rc == 0, err
    assert "nan" not in out and "mean test accuracy over 2 folds" in out
    code = main(["train", "textcnn", "--limit", "2", "--folds", "2", "--out", str(tmp_path / "tc2"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "too few for 2 folds" in err and len(err.strip().splitlines()) == 1


def test_train_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--variant", "--folds", "--limit", "--data-dir"):
        assert option in out, option
    with pytest.raises(SystemExit):
        main(["train", "lenet5", "--help"])
    out = capsys.readouterr().out
    assert "99.2% test accuracy" in out and "%%" not in out


def test_kernels_give_the_english_label_next_to_the_original(capsys):
    rc, out, _ = run(capsys, "kernels")
    assert rc == 0 and "the study text" in out and "seed" not in out
    assert '[图像锐化 "image sharpening"]' in out and '[高斯模糊 "Gaussian blur"]' in out
    rc, out, _ = run(capsys, "kernels", "box_blur")
    assert out.splitlines()[0] == 'box_blur  [the study text\'s label: 方块模糊 "box blur"]'


def test_a_real_process_prints_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "cnnkit", "summary", str(tmp_path / "x.py")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"cnnkit summary: error: model file not found: {tmp_path / 'x.py'}"]
