"""MNIST reader and downloader: the real files, corrupt files, and downloads from a
local HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnkit.data import idx, load_mnist, mnist

FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
ALL_NAMES = [n + ".gz" for pair in mnist.FILES.values() for n in pair]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $CNNKIT_DATA and an empty user cache under tmp_path."""
    monkeypatch.delenv("CNNKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def serve(tmp_path):
    """``serve(folder) -> base URL`` of an HTTP server on 127.0.0.1 serving ``folder``."""
    servers = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def start(folder: Path) -> str:
        handler = functools.partial(Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ------------------------------------------------------------------ the real files
def test_real_files(data_dir):
    images, labels = load_mnist("train", data_dir=data_dir, download=False)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == FIRST_TRAIN_LABELS
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS
    assert images.min() == 0 and images.max() == 255
    assert abs(images.mean() / 255 - 0.1307) < 5e-5
    images, labels = load_mnist("test", data_dir=data_dir / "mnist", download=False)
    assert images.shape == (10000, 28, 28) and labels[:10].tolist() == FIRST_TEST_LABELS
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS
    images[0, 0, 0] = 1  # a writable array, not a view of the file's bytes


def test_raw_files_and_env_lookup(data_dir, isolated, monkeypatch):
    folder = isolated / "raw" / "mnist"
    folder.mkdir(parents=True)
    for stem in mnist.FILES["test"]:
        (folder / stem).write_bytes(gzip.decompress((data_dir / "mnist" / (stem + ".gz")).read_bytes()))
    monkeypatch.setenv("CNNKIT_DATA", str(isolated / "raw"))
    assert mnist.find_split("test") == (folder / mnist.FILES["test"][0], folder / mnist.FILES["test"][1])
    images, labels = load_mnist("test", download=False)
    assert images.shape == (10000, 28, 28) and labels[:10].tolist() == FIRST_TEST_LABELS


def test_lookup_order(isolated, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA", str(isolated / "env"))
    assert mnist.candidate_dirs() == [isolated / "env" / "mnist", isolated / "cache" / "cnnkit" / "mnist"]
    # an explicit data_dir is the only place searched: no silent fall-back to $CNNKIT_DATA (issue 10)
    assert mnist.candidate_dirs(isolated / "arg") == [isolated / "arg", isolated / "arg" / "mnist"]


def test_explicit_data_dir_without_mnist_is_an_error(data_dir, isolated, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA", str(data_dir))  # a folder that does hold MNIST
    (isolated / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"(?s)not in the data_dir .*empty.* only it was searched") as err:
        load_mnist("test", data_dir=isolated / "empty")
    assert str(data_dir) not in str(err.value)
    assert _files_in(isolated / "cache") == []  # and nothing was downloaded
    assert load_mnist("test")[0].shape == (10000, 28, 28)  # without data_dir, $CNNKIT_DATA is used


# ------------------------------------------------------------------ corrupt files
def _idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(idx.IDX_DTYPES[type_code]).tobytes()


def test_parse_idx_expected_magic():
    data = _idx_bytes(np.zeros((2, 3), np.uint8))
    assert idx.parse_idx(data, magic=0x00000802).shape == (2, 3)
    with pytest.raises(ValueError, match="f: wrong IDX magic 00000802, expected 00000803"):
        idx.parse_idx(data, "f", magic=0x00000803)


def test_parse_idx_types_and_shapes():
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    got = idx.parse_idx(_idx_bytes(a, 0x0C))
    assert got.dtype == np.int32 and got.dtype.isnative and np.array_equal(got, a)
    f = np.linspace(-1, 1, 6).reshape(3, 2)
    assert np.array_equal(idx.parse_idx(_idx_bytes(f, 0x0E)), f)


@pytest.mark.parametrize("data, match", [
    (b"\x12\x34\x08\x01" + b"\x00" * 8, "not an IDX file: magic 12340801"),
    (b"\x00\x00\x07\x01" + b"\x00" * 8, "not an IDX file: magic 00000701"),
    (b"\x00\x00", "header alone needs at least 4"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
    (_idx_bytes(np.arange(10, dtype=np.uint8))[:-3], r"payload truncated: 7 bytes .* need 10"),
    (_idx_bytes(np.arange(10, dtype=np.uint8)) + b"\x00", "payload has trailing bytes"),
])
def test_parse_idx_rejects(data, match):
    with pytest.raises(ValueError, match=match):
        idx.parse_idx(data, "some-file")


def _copy_test_split(data_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for stem in mnist.FILES["test"]:
        shutil.copy(data_dir / "mnist" / (stem + ".gz"), dest / (stem + ".gz"))
    return dest


@pytest.mark.parametrize("corruption, match", [
    ("wrong_magic", "wrong IDX magic 00000809, expected 00000801"),
    ("truncated_payload", "payload truncated"),
    ("truncated_gzip", "corrupt or truncated gzip"),
    ("garbage_gzip", "corrupt or truncated gzip"),
])
def test_corrupt_files_name_the_file(data_dir, isolated, corruption, match):
    folder = _copy_test_split(data_dir, isolated / "d")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = path.read_bytes()
    payload = gzip.decompress(raw)
    if corruption == "wrong_magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x08\x09" + payload[4:]))
    elif corruption == "truncated_payload":
        path.write_bytes(gzip.compress(payload[:-100]))
    elif corruption == "truncated_gzip":
        path.write_bytes(raw[: len(raw) // 2])
    else:
        path.write_bytes(raw[:10] + b"\xff" * 64)
    with pytest.raises(ValueError, match=match) as err:
        load_mnist("test", data_dir=folder, download=False)
    assert str(path) in str(err.value)


def test_mismatched_counts(data_dir, isolated):
    folder = _copy_test_split(data_dir, isolated / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(ValueError, match="10000 images but .* holds 5 labels"):
        load_mnist("test", data_dir=folder, download=False)


def test_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        load_mnist("val", download=False)


# ------------------------------------------------------------------ offline and downloads
def test_offline_message(isolated):
    with pytest.raises(FileNotFoundError) as err:
        load_mnist("train", data_dir=isolated / "nowhere", download=False)
    msg = str(err.value)
    for d in mnist.candidate_dirs(isolated / "nowhere"):
        assert str(d) in msg
    for name in ALL_NAMES:
        assert name in msg
    assert "not in the data_dir" in msg
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_mnist("train", download=False)


def test_download_unreachable_mirror(isolated):
    with pytest.raises(FileNotFoundError, match=r"download failed") as err:
        load_mnist("train", mirrors=["http://127.0.0.1:9/"], progress=False)
    assert "\n  http://127.0.0.1:9/train-images-idx3-ubyte.gz: " in str(err.value)
    assert "train-labels-idx1-ubyte.gz" in str(err.value)  # in the list of files to put in place
    assert _files_in(isolated / "cache") == []


def test_download_from_local_server(data_dir, isolated, serve, capsys):
    good = serve(_copy_test_split(data_dir, isolated / "served"))
    missing = serve(isolated / "empty_dir_that_404s")
    images, labels = load_mnist("test", mirrors=[missing, good])  # first mirror 404s, second works
    assert images.shape == (10000, 28, 28) and labels[:10].tolist() == FIRST_TEST_LABELS
    cache = isolated / "cache" / "cnnkit" / "mnist"
    assert _files_in(cache) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # now cached: loads with downloads disabled
    assert np.array_equal(load_mnist("test", download=False)[1], labels)


def test_download_wrong_checksum_leaves_nothing(data_dir, isolated, serve):
    served = _copy_test_split(data_dir, isolated / "served")
    path = served / "t10k-labels-idx1-ubyte.gz"
    payload = bytearray(gzip.decompress(path.read_bytes()))
    payload[8] = (payload[8] + 1) % 10  # a valid IDX file with one wrong label
    path.write_bytes(gzip.compress(bytes(payload)))
    with pytest.raises(FileNotFoundError, match="checksum mismatch for t10k-labels-idx1-ubyte"):
        load_mnist("test", mirrors=[serve(served)], progress=False)
    cache = isolated / "cache" / "cnnkit" / "mnist"
    assert _files_in(cache) == ["t10k-images-idx3-ubyte.gz"]  # the good file only: no bad file, no temp file


def test_verify_accepts_lecun_gz_hash(monkeypatch):
    stem = "t10k-labels-idx1-ubyte"
    with pytest.raises(ValueError, match=f"checksum mismatch for {stem}"):
        mnist.verify(gzip.compress(b"something else"), stem)
    monkeypatch.setitem(mnist.GZ_SHA256, stem, hashlib.sha256(b"not even gzip").hexdigest())
    mnist.verify(b"not even gzip", stem)  # the original gz bytes are accepted as they are


def test_progress_fallback_without_tqdm(data_dir, isolated, serve, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    url = serve(_copy_test_split(data_dir, isolated / "served"))
    load_mnist("test", mirrors=[url], progress=True)
    err = capsys.readouterr().err
    assert "t10k-labels-idx1-ubyte.gz:" in err and "100.0%" in err
