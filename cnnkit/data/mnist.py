"""MNIST: the four IDX files, found locally or downloaded and verified.

``load_mnist("train")`` -> ``(images, labels)``: ``uint8 (60000, 28, 28)`` and
``uint8 (60000,)``; ``"test"`` gives 10,000. Pixels are 0 (background) to 255 (ink).

Where the files are looked for (:mod:`cnnkit.data.locate`, shared with MR; the
first folder holding both files of the split wins; each file may be gzipped or raw):

1. with ``data_dir`` (the CLI's ``--data-dir``): that folder or its ``mnist/``
   subfolder, and nothing else (no download, no fall-back);
2. otherwise ``$CNNKIT_DATA/mnist``, then the user cache,
   ``$XDG_CACHE_HOME/cnnkit/mnist`` (default ``~/.cache/cnnkit/mnist``).

When the files are in none of these, no ``data_dir`` was given and
``download=True``, the gz files are fetched from :data:`MIRRORS` into the cache. A download is accepted when the
SHA-256 of the gz file is that of LeCun's original (:data:`GZ_SHA256`) or when
the SHA-256 of its uncompressed content is that of the original payload
(:data:`PAYLOAD_SHA256`): mirrors that re-gzip the files (as the copies in
``shared/data/mnist`` do) hold the same payload in different gz bytes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from . import locate
from .download import fetch_from_mirrors, user_cache_dir
from .idx import maybe_gunzip, read_idx

#: The file stems of each split: (images, labels).
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Public mirrors of LeCun's gz files, tried in order.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: SHA-256 of LeCun's original ``.gz`` files (as served by the mirrors above).
GZ_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: SHA-256 of the uncompressed IDX files (the same whatever gz wrapper holds them).
PAYLOAD_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Size of the uncompressed IDX files (a download is never inflated past it).
PAYLOAD_BYTES: dict[str, int] = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}

#: IDX magic numbers: uint8 with 3 dimensions (images) and 1 dimension (labels).
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order (see the module docstring)."""
    return locate.candidate_dirs("mnist", data_dir)


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/cnnkit/mnist`` or ``~/.cache/cnnkit/mnist``."""
    return user_cache_dir() / "mnist"


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_split(split: str, data_dir: str | os.PathLike | None = None) -> tuple[Path, Path] | None:
    """``(images_path, labels_path)`` from the first folder holding both, else ``None``."""
    found = locate.find_files("mnist", [(stem + ".gz", stem) for stem in FILES[_check_split(split)]], data_dir)
    return (found[0], found[1]) if found else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(raw: bytes, stem: str) -> None:
    """``ValueError`` unless ``raw`` is LeCun's gz file of ``stem`` or holds its original payload."""
    if _sha256(raw) == GZ_SHA256[stem]:
        return
    got = _sha256(maybe_gunzip(raw, stem + ".gz", limit=PAYLOAD_BYTES[stem]))
    if got != PAYLOAD_SHA256[stem]:
        raise ValueError(f"checksum mismatch for {stem}: uncompressed SHA-256 {got}, expected {PAYLOAD_SHA256[stem]}")


def download_split(split: str, mirrors: Sequence[str] = MIRRORS, progress: bool = True) -> list[str]:
    """Fetch the split's two gz files into :func:`cache_dir`; returns the failures (empty on success).

    Stops at the first file that no mirror could deliver.
    """
    folder = cache_dir()
    for stem in FILES[_check_split(split)]:
        if _find(folder, stem):
            continue
        failures = fetch_from_mirrors(stem + ".gz", mirrors, folder / (stem + ".gz"),
                                      lambda data, s=stem: verify(data, s), progress)
        if failures:
            return failures
    return []


def _not_found(split: str, data_dir, reason: str, failures: Sequence[str] = ()) -> FileNotFoundError:
    names = [n + ".gz" for pair in FILES.values() for n in pair]
    details = (["Download errors:"] + list(failures)) if failures else []
    return locate.not_found(f"MNIST {split!r} split", "mnist", [f"the four files {', '.join(names)} (gzipped or not)"],
                            data_dir, reason, details)


def _check_split(split: str) -> str:
    if split not in FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    return split


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True,
               mirrors: Sequence[str] = MIRRORS, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split as ``(images uint8 (N, 28, 28), labels uint8 (N,))``.

    ``download=False`` never touches the network. Missing files (after a failed
    download) raise one ``FileNotFoundError`` that lists the folders searched and
    the file names; malformed files raise ``ValueError`` naming the file.

    >>> images, labels = load_mnist("test")          # doctest: +SKIP
    >>> images.shape, labels[:3].tolist()             # doctest: +SKIP
    ((10000, 28, 28), [7, 2, 1])
    """
    _check_split(split)
    found = find_split(split, data_dir)
    if found is None:
        if data_dir is not None:
            raise _not_found(split, data_dir, f"not in the data_dir {str(data_dir)!r}")
        if not download:
            raise _not_found(split, data_dir, "download=False")
        failures = download_split(split, mirrors, progress)
        found = find_split(split, data_dir)
        if found is None:
            raise _not_found(split, data_dir, "download failed, offline?" if failures else "no mirrors given",
                             failures)
    images_path, labels_path = found
    images, labels = read_idx(images_path, IMAGES_MAGIC), read_idx(labels_path, LABELS_MAGIC)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    return images, labels
