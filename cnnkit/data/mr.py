"""MR, the sentence polarity dataset v1.0 (Pang & Lee 2005), as Kim (2014) used it.

* :func:`load_mr`: the 5,331 positive then 5,331 negative lines, decoded as cp1252;
* :func:`clean_str`: Kim's tokeniser (``process_data.py``), re-implemented from its description;
* :class:`Vocabulary`: tokens <-> ids, with ``0`` = padding and ``1`` = unknown;
* :func:`pad_sequences`: id lists -> a fixed-width ``int64`` matrix;
* :func:`kfold_splits`: seeded (optionally stratified) ``k``-fold cross-validation indices.

The files are read as bytes and split on ``b"\\n"``: decoding first and calling
``str.splitlines`` would also split at U+0085 (the cp1252 ellipsis byte 0x85 read as
latin-1) and give 5,344 / 5,341 "lines".
"""
from __future__ import annotations

import codecs
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .._validate import check_int
from ..io.files import read_file_bytes
from . import locate

#: File name -> label (Kim's order: positive first).
FILES: tuple[tuple[str, int], ...] = (("rt-polarity.pos", 1), ("rt-polarity.neg", 0))

PAD, UNK = "<pad>", "<unk>"


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """``data_dir`` (or its ``mr/``) only, when given; else ``$CNNKIT_DATA/mr``, then
    ``~/.cache/cnnkit/mr`` (:mod:`cnnkit.data.locate`, shared with MNIST)."""
    return locate.candidate_dirs("mr", data_dir)


def read_lines(path: str | Path, encoding: str = "cp1252") -> list[str]:
    """The lines of ``path``: bytes split on ``b"\\n"`` (a final empty piece dropped), then decoded.

    ``ValueError`` naming the file for text in UTF-16 or UTF-32 (a byte-order mark or
    NUL bytes: decoded as 8-bit text it would be garbage) and for a byte that is not
    valid ``encoding`` (naming the line and column). Only regular files are read.
    """
    data = read_file_bytes(path, "MR text file")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
            or b"\x00" in data[:4096]:
        raise ValueError(f"{path} looks like UTF-16 or UTF-32 text (a byte-order mark or NUL bytes); MR files "
                         f"are 8-bit text ({encoding}): convert it, e.g. iconv -f UTF-16 -t UTF-8")
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    lines = []
    for number, piece in enumerate(pieces, start=1):
        try:
            lines.append(piece.decode(encoding))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}, line {number}, column {exc.start + 1}: byte 0x{piece[exc.start]:02x} is not "
                             f"valid {encoding} text") from None
    return lines


def load_mr(data_dir: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray]:
    """``(sentences, labels)``: 10,662 raw lines and ``int64`` labels (1 positive, 0 negative).

    Raises ``FileNotFoundError`` listing the folders searched when the two files are in none of them.
    """
    names = [name for name, _ in FILES]
    found = locate.find_files("mr", [(n,) for n in names], data_dir)
    if found is None:
        raise locate.not_found("MR dataset", "mr", [" and ".join(names)], data_dir)
    sentences: list[str] = []
    labels: list[int] = []
    for path, (_, label) in zip(found, FILES):
        lines = read_lines(path)
        sentences += lines
        labels += [label] * len(lines)
    return sentences, np.asarray(labels, dtype=np.int64)


_NOT_KEPT = re.compile(r"[^A-Za-z0-9(),!?'`]")
_CLITICS = re.compile(r"('s|'ve|n't|'re|'d|'ll)")
_PUNCT = re.compile(r"([,!()?])")
_SPACES = re.compile(r"\s{2,}")


def clean_str(text: str) -> str:
    """Kim (2014)'s sentence normalisation, returning space-separated tokens.

    Every character outside ``[A-Za-z0-9(),!?'`]`` becomes a space; the clitics
    ``'s 've n't 're 'd 'll`` are split off; ``, ! ( ) ?`` get spaces around them;
    runs of whitespace are squeezed; the result is stripped and lowercased.
    (Kim's script writes the brackets as ``\\(`` and ``\\)`` tokens, a quirk of its
    replacement strings; here they stay ``(`` and ``)``, which changes no count.)

    >>> clean_str("it's a clich\\xe9 , isn't it?")
    "it 's a clich , is n't it ?"
    """
    text = _NOT_KEPT.sub(" ", text)
    text = _CLITICS.sub(r" \1", text)
    text = _PUNCT.sub(r" \1 ", text)
    return _SPACES.sub(" ", text).strip().lower()


def tokenize(text: str) -> list[str]:
    """``clean_str(text).split()``."""
    return clean_str(text).split()


class Vocabulary:
    """A token <-> id map: id ``0`` is padding (``"<pad>"``), ``1`` unknown (``"<unk>"``).

    Built from tokenised sentences, most frequent first (ties in alphabetical order),
    keeping tokens seen at least ``min_freq`` times.
    """

    def __init__(self, tokens: Sequence[str]):
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"Vocabulary: the first two tokens must be {[PAD, UNK]}, got {list(tokens[:2])}")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocabulary: tokens must be unique")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1) -> "Vocabulary":
        min_freq = check_int(min_freq, "min_freq", "Vocabulary.build", minimum=1)
        counts = Counter(t for s in sentences for t in s)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK] + [t for t in kept if t not in (PAD, UNK)])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids; tokens not in the vocabulary map to ``1``."""
        return [self.stoi.get(t, 1) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, padding dropped."""
        return [self.itos[i] for i in ids if i != 0]


def pad_sequences(seqs: Sequence[Sequence[int]], max_len: int | None = None, left: int = 0) -> np.ndarray:
    """Pack id lists into an ``int64`` matrix ``(N, left + max_len)`` filled with ``0``.

    Sequence ``i`` starts at column ``left`` (Kim puts ``h - 1`` zeros before each
    sentence, ``h`` the widest filter); ``max_len`` defaults to the longest
    sequence, and longer sequences are cut to ``max_len``.
    """
    if max_len is None:
        max_len = max((len(s) for s in seqs), default=0)
    max_len = check_int(max_len, "max_len", "pad_sequences", minimum=1)
    left = check_int(left, "left", "pad_sequences", minimum=0)
    out = np.zeros((len(seqs), left + max_len), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids = np.asarray(list(s)[:max_len])
        if ids.size and not np.issubdtype(ids.dtype, np.integer):  # 1.7 would silently become 1
            raise TypeError(f"pad_sequences: sequence {i} must hold integer token ids, got dtype {ids.dtype} "
                            f"(e.g. {ids.ravel()[0].item()!r})")
        out[i, left:left + ids.size] = ids
    return out


def kfold_splits(n: int, k: int = 10, seed: int = 0,
                 labels: Sequence[int] | np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` pairs ``(train_idx, test_idx)``: every index is in exactly one test fold.

    The indices are shuffled with ``numpy.random.default_rng(seed)`` and dealt
    round-robin into folds (sizes differ by at most one). With ``labels`` the
    split is stratified: each class is dealt separately, so every fold has about
    the class proportions of the whole.
    """
    n = check_int(n, "n", "kfold_splits", minimum=1)
    if check_int(k, "k", "kfold_splits", minimum=2) > n:
        raise ValueError(f"kfold_splits: k must be an int in [2, n={n}], got {k!r}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    if labels is None:
        fold_of[rng.permutation(n)] = np.arange(n) % k
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"kfold_splits: labels must have shape ({n},), got {labels.shape}")
        start = 0
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            fold_of[members] = (start + np.arange(len(members))) % k  # continue the deal across classes
            start += len(members)
    idx = np.arange(n)
    return [(idx[fold_of != f], idx[fold_of == f]) for f in range(k)]
