"""``cnnkit export CHECKPOINT model.onnx`` and ``cnnkit summary model.onnx``."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from onnx_helpers import onnx, ort_session

import cnnkit
from cnnkit import checkpoint
from cnnkit.cli import main
from cnnkit.models import lenet5

pytest.importorskip("cnnkit.onnx")


def test_export_a_checkpoint_and_run_it(tmp_path, capsys):
    cnnkit.manual_seed(3)
    model = lenet5()
    ckpt = tmp_path / "lenet5_trained.safetensors"
    checkpoint.save(model, ckpt, metadata={"model": "lenet5"})
    out = tmp_path / "lenet5.onnx"
    assert main(["export", str(ckpt), str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"wrote {out}: LeNet5, opset 28, input input [N, 1, 32, 32] float32 -> output output [N, 10], "
                    "12 nodes, 61,706 parameters")
    x = np.random.default_rng(0).standard_normal((5, 1, 32, 32)).astype(np.float32)
    with cnnkit.no_grad():
        expected = model.eval()(x).numpy()
    np.testing.assert_allclose(ort_session(onnx.load(str(out))).run(None, {"input": x})[0], expected,
                               rtol=1e-5, atol=1e-5)


def test_export_options_and_summary_of_the_file(tmp_path, capsys):
    out = tmp_path / "t.onnx"
    assert main(["export", "textcnn", str(out), "--input-shape", "3,20", "--static-batch", "--opset", "20"]) == 0
    assert "input input [3, 20] int64 -> output output [3, 2]" in capsys.readouterr().out
    assert onnx.load(str(out)).opset_import[0].version == 20
    assert main(["summary", str(out)]) == 0
    table = capsys.readouterr().out
    assert "OnnxGraph" in table and "convs.0 (Conv1d)" in table and "[3, 20]" in table
    assert "Total params: 38,290" in table  # the zoo TextCNN's, as `cnnkit summary textcnn` counts them


def test_summary_of_an_exported_lenet_matches_the_zoo_table(tmp_path, capsys):
    out = tmp_path / "l.onnx"
    assert main(["export", "lenet5", str(out)]) == 0
    capsys.readouterr()
    assert main(["summary", "lenet5"]) == 0
    zoo = capsys.readouterr().out.splitlines()
    assert main(["summary", str(out)]) == 0
    ours = capsys.readouterr().out.splitlines()
    assert ours[3].startswith("OnnxGraph") and zoo[3].startswith("LeNet5")
    assert ours[4:] == zoo[4:]  # every layer row, receptive fields and totals


@pytest.mark.parametrize("argv, match", [
    (["export", "lenet5", "x.txt"], "must end in .onnx"),
    (["export", "lenet5", "{tmp}/x.onnx", "--input-shape", "1,3,32,32"], "forward pass on an input of shape"),
    (["export", "lenet5", "{tmp}/x.onnx", "--opset", "12"], "opset must be an int from 18 to 28"),
    (["export", "{tmp}/missing.safetensors", "{tmp}/x.onnx"], "not found"),
    (["summary", "{tmp}/corrupt.onnx"], "not an ONNX model"),
])
def test_errors_are_one_line_and_exit_2(tmp_path, capsys, argv, match):
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07garbage" * 10)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and err.startswith(f"cnnkit {argv[0]}: error:")


def test_without_onnx_installed_the_cli_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "cnnkit.onnx"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    assert main(["export", "lenet5", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("cnnkit export: error: ONNX export and import needs the optional package 'onnx': "
                   'pip install -e ".[onnx]" (from a checkout) or pip install "cnnkit[onnx]"')
