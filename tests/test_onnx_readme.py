"""README "Export to ONNX": its commands run as written (the training cut short to 2,000
images) and the onnxruntime example prints the test accuracy that cnnkit measured for the
same weights at the end of training (its metrics.json, all 10,000 test images)."""
from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("cnnkit.onnx")

from cnnkit.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _section() -> tuple[list[str], str]:
    text = (ROOT / "README.md").read_text()
    body = text.split("### Export to ONNX", 1)[1].split("\n## ", 1)[0]
    bash = re.search(r"```bash\n(.*?)```", body, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", body, re.S).group(1)
    return [line for line in bash.splitlines() if line.strip()], python


@pytest.mark.slow
def test_readme_export_section_runs_and_agrees_with_cnnkit(data_dir, tmp_path, monkeypatch):
    if not (Path(data_dir) / "mnist").is_dir():
        pytest.skip(f"needs MNIST: {data_dir}/mnist not found")
    monkeypatch.setenv("CNNKIT_DATA", str(Path(data_dir).resolve()))
    monkeypatch.chdir(tmp_path)
    commands, code = _section()
    assert [c.split()[:2] for c in commands] == [["cnnkit", "train"], ["cnnkit", "export"]]
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] == "train":  # one epoch on 2,000 images instead of 60,000: the same commands, quicker
            argv += ["--limit-train", "2000", "--no-progress"]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0, command
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md Export to ONNX", "exec"), {"__name__": "__readme__"})
    printed = re.fullmatch(r"onnxruntime: test accuracy ([\d.]+)% on 10000 images\n", out.getvalue())
    assert printed, out.getvalue()
    history = json.loads(Path("runs/lenet5-1epoch/metrics.json").read_text())["history"]
    assert printed.group(1) == f"{100 * history[-1]['test_accuracy']:.2f}"  # cnnkit's own, on the same 10,000
