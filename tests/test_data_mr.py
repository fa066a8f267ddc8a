"""MR loader, Kim's clean_str, the vocabulary, padding and k-fold splits."""
from __future__ import annotations

import numpy as np
import pytest

from cnnkit.data import Vocabulary, clean_str, kfold_splits, load_mr, pad_sequences, tokenize
from cnnkit.data import mr


def test_real_files_kim_table1(data_dir):
    sentences, labels = load_mr(data_dir)
    assert len(sentences) == 10662 and labels.dtype == np.int64
    assert labels[:5331].tolist() == [1] * 5331 and labels[5331:].tolist() == [0] * 5331
    tokens = [tokenize(s) for s in sentences]
    lengths = np.array([len(t) for t in tokens])
    vocab = Vocabulary.build(tokens)
    assert len(vocab) - 2 == 18765  # Kim's Table 1: |V| = 18,765 (plus our <pad> and <unk>)
    assert lengths.max() == 56 and round(float(lengths.mean()), 1) == 20.4
    assert vocab.itos[:2] == ["<pad>", "<unk>"]


def test_lines_split_on_newline_bytes_only(data_dir, tmp_path):
    sentences, _ = load_mr(data_dir / "mr")
    with_nel = [s for s in sentences if "\u2026" in s]  # cp1252 0x85, which latin-1 would turn into U+0085 (NEL)
    assert with_nel, "the files contain the 0x85 byte"
    (tmp_path / "rt-polarity.pos").write_bytes(b"a \x85 b\nc\n")
    (tmp_path / "rt-polarity.neg").write_bytes(b"clich\xe9s\n")
    sentences, labels = load_mr(tmp_path)
    assert sentences == ["a \u2026 b", "c", "clich\u00e9s"] and labels.tolist() == [1, 1, 0]


def test_not_found_message(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as err:
        load_mr(tmp_path / "nowhere")
    msg = str(err.value)
    assert "rt-polarity.pos" in msg and "rt-polarity.neg" in msg
    for d in mr.candidate_dirs(tmp_path / "nowhere"):
        assert str(d) in msg


@pytest.mark.parametrize("text, expected", [
    ("it's a clich\xe9 , isn't it?", "it 's a clich , is n't it ?"),
    ("We've   they're I'd you'll", "we 've they 're i 'd you 'll"),
    ("(great)!wow?", "( great ) ! wow ?"),
    ("a-b  \u2026 `c` \"d\"", "a b `c` d"),
    ("", ""),
])
def test_clean_str(text, expected):
    assert clean_str(text) == expected


def test_vocabulary():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "b", "a"]
    assert vocab.encode(["a", "zzz", "b"]) == [3, 1, 2]
    assert vocab.decode([3, 0, 2]) == ["a", "b"]
    assert "a" in vocab and "c" not in vocab and len(vocab) == 4
    with pytest.raises(ValueError, match="min_freq must be a positive int, got 0"):
        Vocabulary.build([["a"]], min_freq=0)
    with pytest.raises(ValueError, match="first two tokens must be"):
        Vocabulary(["a", "b"])


def test_pad_sequences():
    out = pad_sequences([[5, 6, 7], [8]], left=2)
    assert out.dtype == np.int64
    assert out.tolist() == [[0, 0, 5, 6, 7], [0, 0, 8, 0, 0]]
    assert pad_sequences([[1, 2, 3], [4]], max_len=2).tolist() == [[1, 2], [4, 0]]
    with pytest.raises(ValueError, match="max_len must be a positive int, got 0"):
        pad_sequences([[1]], max_len=0)
    with pytest.raises(ValueError, match="left must be a non-negative int, got -1"):
        pad_sequences([[1]], left=-1)


@pytest.mark.parametrize("n, k, stratified", [(10662, 10, True), (10662, 10, False), (23, 5, True), (7, 7, False)])
def test_kfold_partition(n, k, stratified):
    labels = (np.arange(n) % 2 == 0).astype(np.int64) if stratified else None
    folds = kfold_splits(n, k, seed=3, labels=labels)
    assert len(folds) == k
    tests = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(n))  # every sample in exactly one test fold
    sizes = [len(te) for _, te in folds]
    assert max(sizes) - min(sizes) <= 1
    for tr, te in folds:
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == n
        if stratified:
            assert abs(labels[te].mean() - labels.mean()) <= 1.0 / len(te) + 1e-12
    again = kfold_splits(n, k, seed=3, labels=labels)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    other = kfold_splits(n, k, seed=4, labels=labels)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other))


def test_kfold_rejects():
    with pytest.raises(ValueError, match=r"k must be an int in \[2, n=5\], got 6"):
        kfold_splits(5, 6)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        kfold_splits(0)
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\), got \(4,\)"):
        kfold_splits(5, 2, labels=[0, 1, 0, 1])
