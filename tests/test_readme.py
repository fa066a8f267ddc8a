"""README.md's Python examples run as written and print what the README shows.

Each ```python block runs in a fresh namespace (in a temporary working folder);
when the block is directly followed by a ```text block, that block is the exact
expected stdout. The training example's accuracy (printed, not compared digit
for digit: float32 rounding differs between BLAS builds) must be far above
chance. Blocks that read MNIST skip when the data is absent."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str | None]]:
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer((ROOT / "README.md").read_text())]
    text = (ROOT / "README.md").read_text()
    out = []
    for i, (lang, code, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        expected = None
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text" and not text[end:blocks[i + 1][2]].strip():
            expected = blocks[i + 1][1]
        out.append((code, expected))
    return out


EXAMPLES = _examples()


def test_readme_has_examples():
    assert len(EXAMPLES) >= 5
    assert sum(expected is not None for _, expected in EXAMPLES) >= 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example(index, tmp_path, monkeypatch, request):
    code, expected = EXAMPLES[index]
    if '"lenet5.onnx"' in code:  # needs the file the section's `cnnkit train` / `cnnkit export` commands write
        pytest.skip("run by tests/test_onnx_readme.py after the section's commands")
    if "load_mnist" in code:
        data_dir = request.getfixturevalue("data_dir")  # skips when the datasets are absent
        if not (Path(data_dir) / "mnist").is_dir():
            pytest.skip(f"README example needs MNIST: {data_dir}/mnist not found")
        monkeypatch.setenv("CNNKIT_DATA", str(Path(data_dir).resolve()))
    if "import torch" in code:
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, f"README.md example {index}", "exec"), {"__name__": "__readme__"})
    if expected is not None:
        assert stdout.getvalue() == expected, f"README example {index} printed:\n{stdout.getvalue()}"
    accuracies = [float(a) for a in re.findall(r"test accuracy ([\d.]+)%", stdout.getvalue())]
    if accuracies:  # the training example: learns far above chance (README shows 93.5%)
        assert accuracies[-1] > 90.0 and accuracies[-1] >= accuracies[0], stdout.getvalue()
