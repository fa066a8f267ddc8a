"""`cnnkit explain`: the four forms write what they say, and what they print and save is
what the library computes; errors are one line and exit code 2."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explain_twins import DATA, TokenSpans, digits, pretrained, small_textcnn, small_textcnn_vocab  # noqa: F401

from cnnkit import explain
from cnnkit.cli import main

pytest.importorskip("matplotlib")


def _run(capsys, *args):
    code = main(["explain", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_image_methods_write_maps_and_pictures(capsys, tmp_path, pretrained, digits):
    _, x, _ = digits
    code, out, err = _run(capsys, "pretrained", "--mnist-index", 1, "--method", "saliency,ig,grad-cam",
                          "--steps", 8, "--data-dir", DATA, "--out", tmp_path)
    assert code == 0, err
    assert "input: MNIST test digit 1 (label 2)" in out and "prediction: class 2 (probability" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["grad-cam.npy", "grad-cam.png", "ig.npy", "ig.png", "overview.png", "saliency.npy",
                     "saliency.png"]
    np.testing.assert_array_equal(np.load(tmp_path / "saliency.npy"), explain.saliency(pretrained, x[1:2], 2)[0])
    np.testing.assert_array_equal(np.load(tmp_path / "grad-cam.npy"), explain.grad_cam(pretrained, x[1:2], 2)[0])
    black = float(x[0, 0, 0, 0])
    np.testing.assert_array_equal(np.load(tmp_path / "ig.npy"),
                                  explain.integrated_gradients(pretrained, x[1:2], 2, black, steps=8)[0])


def test_a_picture_file_and_a_chosen_target(capsys, tmp_path, digits):
    from cnnkit.io import write_image
    images, _, _ = digits
    write_image(tmp_path / "digit.png", images[0])
    code, out, err = _run(capsys, "pretrained", tmp_path / "digit.png", "--target", 3, "--layer", "conv2",
                          "--out", tmp_path / "o")
    assert code == 0, err
    assert "prediction: class 7" in out and (tmp_path / "o" / "grad-cam.png").is_file()


def test_depth(capsys, tmp_path):
    code, out, err = _run(capsys, "depth", "pretrained", "--layers", "conv1,fc3", "--steps", 4, "--out", tmp_path)
    assert code == 0, err
    assert "conv1: 6 units, receptive field 5x5" in out and "fc3: 10 units, receptive field the whole input" in out
    saved = np.load(tmp_path / "depth.npz")
    assert saved["conv1.patterns"].shape == (6, 1, 32, 32) and saved["fc3.activations"].shape == (10, 5)
    assert np.all(np.diff(saved["fc3.activations"], axis=1) >= 0)
    assert (tmp_path / "depth.png").stat().st_size > 10_000


def test_sanity_prints_and_saves_the_librarys_numbers(capsys, tmp_path, pretrained, digits):
    _, x, _ = digits
    code, out, err = _run(capsys, "sanity", "pretrained", "--method", "saliency,grad-cam", "--samples", 3,
                          "--data-dir", DATA, "--out", tmp_path)
    assert code == 0, err
    saved = json.loads((tmp_path / "sanity.json").read_text())
    for entry, method in zip(saved["results"], ["saliency", "grad_cam"]):
        r = explain.sanity_check(pretrained, x[:3], None, method)
        assert entry["method"] == method
        np.testing.assert_allclose([row[1] for row in entry["rows"]], r.correlations)
        np.testing.assert_allclose([row[2] for row in entry["rows"]], r.ssim)
        assert f"{r.correlations[-1]:.3f} ({r.ssim[-1]:+.3f})" in out
    assert "+ conv1" in out and (tmp_path / "sanity.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory, small_textcnn, small_textcnn_vocab):
    from cnnkit.training.mr import DEFAULTS, save_textcnn
    model, ids, _ = small_textcnn
    vocab = small_textcnn_vocab
    config = {**DEFAULTS, "embed_dim": 16, "maps": 8, "limit": 1200}
    path = tmp_path_factory.mktemp("tc") / "model_fold1.safetensors"
    return save_textcnn(path, model, vocab, config, fold=1, padded_length=ids.shape[1]), vocab


def test_text(capsys, tmp_path, small_textcnn, text_checkpoint):
    from cnnkit.training.mr import encode_sentence
    model, ids, _ = small_textcnn
    path, vocab = text_checkpoint
    sentence = "a funny and moving film , not a dull moment zzyzx"
    code, out, err = _run(capsys, path, "--text", sentence, "--method", "input-x-gradient", "--color", "always",
                          "--out", tmp_path)
    assert code == 0, err
    assert "prediction: " in out and "not in the vocabulary (<unk>): zzyzx" in out
    assert "\x1b[48;2;" in out and "\x1b[0m" in out
    encoded, tokens = encode_sentence(sentence, vocab, 5, ids.shape[1])
    want = explain.token_relevance(model, encoded, None, "input_x_gradient")[0, 4:4 + len(tokens)]
    spans = TokenSpans((tmp_path / "text_input-x-gradient.html").read_text()).spans
    assert [t for t, _ in spans] == tokens
    np.testing.assert_allclose([float(a["data-relevance"]) for _, a in spans], want, rtol=1e-5, atol=1e-9)
    assert (tmp_path / "text_input-x-gradient.png").is_file()
    code, out, _ = _run(capsys, path, "--text", "a dull film", "--color", "never", "--out", tmp_path)
    assert code == 0 and "integrated gradients for " in out and "dull[" in out  # plain values without colours


@pytest.mark.parametrize("args, message", [
    (["pretrained", "--out", "x"], "give either an IMAGE or --mnist-index N"),
    (["missing.safetensors", "d.png", "--out", "x"], "not found"),
    (["pretrained", "--text", "hi", "--out", "x"], "--text needs a TextCNN checkpoint"),
    (["pretrained", "--mnist-index", "0", "--method", "lime", "--out", "x"], "--method: lime not one of"),
    (["depth", "--out", "x"], "usage: cnnkit explain depth CHECKPOINT"),
    (["--out", "x"], "give a CHECKPOINT"),
])
def test_errors_are_one_line(capsys, tmp_path, args, message):
    code, out, err = _run(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
