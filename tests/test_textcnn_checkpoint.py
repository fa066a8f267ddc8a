"""TextCNN fold checkpoints: weights + config + vocabulary in one safetensors file,
validated on load; `cnnkit train textcnn` writes them and `cnnkit eval` re-measures them."""
from __future__ import annotations

import json

import numpy as np
import pytest

import cnnkit
from cnnkit import checkpoint
from cnnkit.data.mr import Vocabulary
from cnnkit.models import textcnn
from cnnkit.training.fit import CONFIG_KEY
from cnnkit.training.mr import (DEFAULTS, TEXTCNN_KEY, encode_sentence, load_textcnn, save_textcnn)

WORDS = ["<pad>", "<unk>", "the", "film", "is", "good", "bad", "not"]


def _saved(tmp_path, **changes):
    cnnkit.manual_seed(0)
    config = {**DEFAULTS, "embed_dim": 6, "maps": 3, "windows": [2, 3]}
    model = textcnn(len(WORDS), 6, (2, 3), 3, 2, 0.5)
    path = save_textcnn(tmp_path / "m.safetensors", model, Vocabulary(WORDS), config, fold=2, padded_length=9)
    return model, path, config


def test_round_trip_gives_the_same_logits(tmp_path):
    model, path, config = _saved(tmp_path)
    ck = load_textcnn(path)
    assert ck.vocab.itos == WORDS and ck.fold == 2 and ck.padded_length == 9 and ck.config == config
    assert not ck.model.training
    ids = np.random.default_rng(0).integers(0, len(WORDS), (4, 9))
    np.testing.assert_array_equal(ck.model(ids).numpy(), model.eval()(ids).numpy())


def test_encode_sentence_pads_as_training():
    vocab = Vocabulary(WORDS)
    ids, tokens = encode_sentence("The film is NOT good!", vocab, max_window=3, padded_length=9)
    assert tokens == ["the", "film", "is", "not", "good", "!"]
    assert ids.tolist() == [[0, 0, 2, 3, 4, 7, 5, 1, 0]]  # 2 zeros in front ("!" is unknown), zeros behind
    long, _ = encode_sentence("good " * 12, vocab, max_window=3, padded_length=9)
    assert long.shape == (1, 14)  # a longer sentence keeps every token
    with pytest.raises(ValueError, match="no tokens"):
        encode_sentence("   ", vocab, 3, 9)


def _rewrite(path, **meta):
    tensors, old = checkpoint.load(path), checkpoint.load_metadata(path)
    checkpoint.save(tensors, path, metadata={**old, **meta})


@pytest.mark.parametrize("meta, message", [
    ({TEXTCNN_KEY: json.dumps({"vocabulary": ["a", "b"], "fold": 1, "padded_length": 9})}, "first two tokens"),
    ({TEXTCNN_KEY: json.dumps({"vocabulary": WORDS, "fold": 0, "padded_length": 9})}, "fold"),
    ({TEXTCNN_KEY: "{not json"}, "not JSON"),
    ({CONFIG_KEY: json.dumps({"model": "lenet5"})}, "not a textcnn config"),
    ({CONFIG_KEY: json.dumps({**DEFAULTS, "embed_dim": 6, "maps": 3, "windows": []})}, "'windows'"),
    ({CONFIG_KEY: json.dumps({**DEFAULTS, "embed_dim": 7, "maps": 3, "windows": [2, 3]})}, "does not match"),
    ({TEXTCNN_KEY: json.dumps({"vocabulary": WORDS[:-1], "fold": 1, "padded_length": 9})}, "does not match"),
])
def test_bad_metadata_is_refused_with_the_path(tmp_path, meta, message):
    _, path, _ = _saved(tmp_path)
    _rewrite(path, **meta)
    with pytest.raises(ValueError, match=message) as info:
        load_textcnn(path)
    assert str(path) in str(info.value)


def test_a_plain_checkpoint_is_not_a_textcnn_checkpoint(tmp_path):
    path = checkpoint.save(textcnn(8, 6, (2,), 3), tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="written by `cnnkit train textcnn`"):
        load_textcnn(path)


def test_cli_train_saves_fold_models_that_eval_remeasures(data_dir, tmp_path, capsys):
    pytest.importorskip("safetensors", reason="fold checkpoints are safetensors files")
    from cnnkit.cli import main
    out = tmp_path / "tc"
    assert main(["train", "textcnn", "--limit", "300", "--folds", "3", "--fold-ids", "2", "--epochs", "2",
                 "--out", str(out), "--data-dir", str(data_dir), "--no-progress"]) == 0
    assert "model_fold<k>.safetensors" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model_fold2.safetensors"]
    fold = json.loads((out / "metrics.json").read_text())["folds"][0]
    assert main(["eval", str(out / "model_fold2.safetensors"), "--data-dir", str(data_dir)]) == 0
    correct = round(fold["test_accuracy"] * fold["test_size"])
    assert (f"TextCNN test accuracy {100 * fold['test_accuracy']:.2f}% ({correct}/{fold['test_size']}) "
            f"on MR fold 2 of 3") in capsys.readouterr().out
