"""Issue 10, the file classes: every reader of a user-given path accepts regular
files only, refuses decompression bombs early, names the file for text in the
wrong encoding, crafted safetensors headers and malformed training states, and
loads nothing when any piece is bad."""
from __future__ import annotations

import gzip
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit import nn, optim
from cnnkit.data import idx, load_mnist, load_mr
from cnnkit.data.mr import read_lines
from cnnkit._optional import is_available
from cnnkit.io.files import check_regular_file


# ------------------------------------------------------------ regular files only
@pytest.fixture
def fifo(tmp_path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _readers():
    from cnnkit import checkpoint
    from cnnkit.analysis.zoo import resolve_model

    yield "IDX file", idx.read_idx
    yield "MR text file", read_lines
    yield "checkpoint file", checkpoint.load_metadata
    yield "model file", lambda p: resolve_model(str(p.with_suffix(".py")))
    if is_available("PIL"):
        from cnnkit.io.image import read_image
        yield "image file", read_image


def test_fifos_and_devices_are_refused_not_read(fifo):
    """Reading a FIFO blocks forever; /dev/zero never ends. Each reader refuses them at once."""
    os.mkfifo(fifo.with_suffix(".py"))
    for what, read in _readers():
        with pytest.raises(ValueError, match=rf"{what} .*pipe(\.py)? is a FIFO \(named pipe\); cnnkit reads regular "
                                             rf"files only"):
            read(fifo)
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match="is a device"):
            check_regular_file("/dev/zero", "IDX file")


def test_missing_paths_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found: .*nope"):
        idx.read_idx(tmp_path / "nope")
    with pytest.raises(IsADirectoryError, match="MR text file .* is a folder, not a file"):
        read_lines(tmp_path)


# ---------------------------------------------------------------- gzip bombs
def _idx_header(dims, type_code=0x08) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def test_gzip_bomb_is_refused_after_the_announced_payload(tmp_path, monkeypatch):
    """A 1.5 MB .gz expanding to 1.5 GB, whose header announces 28 bytes: refused
    after inflating the 8-byte header, the 28 bytes and one more, without the memory."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9)  # 1 MB of zeros in ~1 KB; gzip members concatenate
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(_idx_header((28,))) + member * 1536)
    assert bomb.stat().st_size < 2_000_000
    inflated = []
    read = idx._Inflater.read
    monkeypatch.setattr(idx._Inflater, "read", lambda self, n: inflated.append(read(self, n)) or inflated[-1])
    with pytest.raises(ValueError, match=r"bomb.gz: IDX payload has trailing bytes: .* 28 bytes .*refused without "
                                         r"inflating the rest"):
        idx.read_idx(bomb)
    assert sum(map(len, inflated)) == 4 + 4 + 28 + 1


def test_gzip_header_announcing_more_than_gzip_can_hold(tmp_path):
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(_idx_header((60000, 28, 28)) + bytes(100)))
    with pytest.raises(ValueError, match=r"announces dims \(60000, 28, 28\) \(47040000 bytes\), more than a gzip "
                                         r"file of \d+ bytes can hold"):
        idx.read_idx(path)


def test_gzip_reader_keeps_valid_files_and_catches_truncation(tmp_path, rng):
    arr = rng.integers(0, 255, (7, 5, 3)).astype(np.uint8)
    data = _idx_header(arr.shape) + arr.tobytes()
    path = tmp_path / "ok.gz"
    path.write_bytes(gzip.compress(data[:10]) + gzip.compress(data[10:]))  # two gzip members
    np.testing.assert_array_equal(idx.read_idx(path), arr)
    path.write_bytes(gzip.compress(data)[:-12])
    with pytest.raises(ValueError, match="ok.gz: (corrupt or truncated gzip data|IDX payload truncated)"):
        idx.read_idx(path)
    path.write_bytes(gzip.compress(data) + b"junk")
    with pytest.raises(ValueError, match="ok.gz: 4 bytes of trailing data after the gzip stream"):
        idx.read_idx(path)
    with pytest.raises(ValueError, match="expands to more than 100 bytes"):
        idx.maybe_gunzip(gzip.compress(bytes(1000)), "x", limit=100)


# ---------------------------------------------------------------- text files
def test_mr_text_in_utf16_and_undecodable_bytes_name_the_file(tmp_path):
    """UTF-16 used to be read as cp1252 garbage; an undefined cp1252 byte raised a bare UnicodeDecodeError."""
    folder = tmp_path / "mr"
    folder.mkdir()
    (folder / "rt-polarity.pos").write_text("a fine film\nbad\n", encoding="utf-16")
    (folder / "rt-polarity.neg").write_bytes(b"dull\n")
    with pytest.raises(ValueError, match=r"rt-polarity.pos looks like UTF-16 or UTF-32 text"):
        load_mr(tmp_path)
    (folder / "rt-polarity.pos").write_bytes(b"fine\nsmart \x81 film\n")
    with pytest.raises(ValueError, match=r"rt-polarity.pos, line 2, column 7: byte 0x81 is not valid cp1252 text"):
        load_mr(tmp_path)
    (folder / "rt-polarity.pos").write_bytes(b"fine\nclich\xe9 \x85\n")  # valid cp1252: e-acute, ellipsis
    sentences, labels = load_mr(tmp_path)
    assert sentences == ["fine", "clich\xe9 \u2026", "dull"] and labels.tolist() == [1, 1, 0]


def test_explicit_mr_data_dir_does_not_fall_back(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA", str(data_dir))
    with pytest.raises(FileNotFoundError, match="(?s)only it was searched"):
        load_mr(tmp_path)
    assert len(load_mr()[0]) == 10662


# ------------------------------------------------------------ safetensors headers
def _crafted(tmp_path, header, body=b"") -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + body)
    return path


@pytest.mark.parametrize("header, body, match", [
    (b"[" * 100_000 + b"]" * 100_000, b"", "nested too deeply"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}, bytes(4), r"data_offsets \['0', '4'\]"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, bytes(4), r"data_offsets \[0\]"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": 5}}, bytes(4), "data_offsets 5"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, bytes(4), r"0 <= begin <= end"),
    ({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, bytes(4), "shape .* list of non-negative ints"),
    ({"a": {"shape": [1], "data_offsets": [0, 4]}}, bytes(4), "no dtype string"),
    ({"a": 5}, b"", "entry 'a' must be an object"),
    ({"__metadata__": [1]}, b"", "__metadata__ must map str to str"),
    ({"__metadata__": {"k": 1}}, b"", "__metadata__ must map str to str"),
    ([1, 2], b"", "not a JSON object"),
    (b"\xff\xfe", b"", "not JSON"),
], ids=["deep-nesting", "offsets-str", "offsets-short", "offsets-int", "offsets-reversed", "shape-float",
        "no-dtype", "entry-int", "metadata-list", "metadata-int-value", "header-list", "not-utf8"])
def test_crafted_safetensors_headers_name_the_file(tmp_path, header, body, match):
    """Used to end in RecursionError, IndexError or TypeError."""
    from cnnkit import checkpoint

    path = _crafted(tmp_path, header, body)
    with pytest.raises(ValueError, match=rf"crafted.safetensors is not a valid safetensors checkpoint: .*{match}"):
        checkpoint.load_metadata(path)


# ------------------------------------------------------------------ training state
def _run(tmp_path):
    pytest.importorskip("safetensors")
    from cnnkit import checkpoint

    cnnkit.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, 2)
    model(np.ones((4, 3), np.float32)).sum().backward()
    opt.step()
    sched.step()
    path = checkpoint.save_training_state(tmp_path / "state.safetensors", model, opt, epoch=1, scheduler=sched)
    return model, opt, sched, path


def _rewrite(path: Path, tmp_path, change) -> Path:
    from cnnkit import checkpoint

    meta = json.loads(checkpoint.load_metadata(path)[checkpoint.TRAINING_STATE_KEY])
    tensors = checkpoint.load(path)
    text = change(meta, tensors)
    out = tmp_path / "bad.safetensors"
    checkpoint.save(tensors, out, metadata={checkpoint.TRAINING_STATE_KEY: text if text is not None else json.dumps(meta)})
    return out


def _del(d, *keys):
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


MALFORMED = {
    "optimizer type missing": (lambda m, t: _del(m, "optimizer", "type"), "optimizer must be an object with a 'type'"),
    "optimizer not an object": (lambda m, t: m.update(optimizer=5), "optimizer must be an object"),
    "param_groups a string": (lambda m, t: m["optimizer"].update(param_groups="x"), "param_groups must be a list"),
    "rng state not an object": (lambda m, t: m.update(rng={"bit_generator": "PCG64", "state": 3}),
                                "rng must be an object"),
    "rng state wrong": (lambda m, t: m["rng"].update(state={"x": 1}), "generator state does not fit a PCG64"),
    "scalars key": (lambda m, t: m["optimizer"].update(scalars={"x": {}}), "scalars must map parameter indices"),
    "group lacks lr": (lambda m, t: _del(m, "optimizer", "param_groups", 0, "lr"), "parameter group 0 lacks 'lr'"),
    "lr a string": (lambda m, t: m["optimizer"]["param_groups"][0].update(lr="fast"),
                    "lr must be a finite non-negative number, got 'fast'"),
    "scheduler state": (lambda m, t: m["scheduler"]["state"].update(gamma=[1]), r"scheduler: state\['gamma'\] should be a number"),
    "scheduler keys": (lambda m, t: _del(m, "scheduler", "state", "step_size"), "scheduler: state has keys"),
    "epoch": (lambda m, t: m.update(epoch="one"), "epoch must be a non-negative int"),
    "not JSON": (lambda m, t: "{", "metadata is not JSON"),
    "a list": (lambda m, t: "[1]", "the metadata is a list, not a JSON object"),
    "optimizer tensor name": (lambda m, t: t.update({"optimizer.state.x.exp_avg": np.zeros(3, np.float32)}),
                              "tensor 'optimizer.state.x.exp_avg' is not optimizer.state"),
    "optimizer tensor shape": (lambda m, t: t.update({"optimizer.state.0.exp_avg": np.zeros(7, np.float32)}),
                               "state 'exp_avg' of parameter 0 has shape"),
    "model tensor shape": (lambda m, t: t.update({"model.1.bias": np.zeros(5, np.float32)}), "size mismatch for 1.bias"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_training_state_changes_nothing(tmp_path, name):
    """Used to raise KeyError/AttributeError/TypeError, some after the weights were replaced."""
    from cnnkit import checkpoint

    model, opt, sched, path = _run(tmp_path)
    change, match = MALFORMED[name]
    bad = _rewrite(path, tmp_path, change)
    cnnkit.manual_seed(1)
    fresh = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    fresh_sched = optim.lr_scheduler.StepLR(fresh_opt, 2)
    before = {k: v.copy() for k, v in fresh.state_dict().items()}
    opt_before, sched_before = fresh_opt.state_dict(), fresh_sched.state_dict()
    rng_before = cnnkit.random.default_generator().bit_generator.state
    with pytest.raises(ValueError, match=match) as err:
        checkpoint.load_training_state(bad, fresh, fresh_opt, scheduler=fresh_sched)
    assert "bad.safetensors" in str(err.value)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{name}: {k} was replaced")
    assert fresh_opt.state_dict()["param_groups"] == opt_before["param_groups"] and not fresh_opt.state
    assert fresh_sched.state_dict() == sched_before
    assert cnnkit.random.default_generator().bit_generator.state == rng_before
    checkpoint.load_training_state(path, fresh, fresh_opt, scheduler=fresh_sched)  # the good file still loads
    np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)


def test_resume_with_malformed_position_is_refused_before_loading(tmp_path):
    from cnnkit import checkpoint
    from cnnkit.training.fit import STATE_FILE, fit

    model, opt, sched, _ = _run(tmp_path)
    checkpoint.save_training_state(tmp_path / STATE_FILE, model, opt, epoch=1, extra={"batch": 3})
    fresh = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    before = fresh.state_dict()
    x, y = np.ones((8, 3), np.float32), np.zeros(8, np.int64)
    with pytest.raises(ValueError, match="malformed training state: it lacks the position of the run"):
        fit(fresh, optim.SGD(fresh.parameters(), lr=0.1), cnnkit.functional.cross_entropy, (x, y), epochs=2,
            batch_size=4, seed=0, out_dir=tmp_path, resume=True, progress=False, log=lambda s: None)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ----------------------------------------------------------------------- images
def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_decompression_bomb_and_float_tiff_name_the_file(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    from PIL import Image

    from cnnkit.io.image import read_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))  # 10 gigapixels announced in 67 bytes
    with pytest.raises(ValueError, match=r"bomb.png is too large to decode safely .*MAX_IMAGE_PIXELS"):
        read_image(bomb)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(small)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 600 pixels: only a warning in Pillow, refused here
    with pytest.raises(ValueError, match="small.png is too large to decode safely"):
        read_image(small)
    monkeypatch.undo()
    tiff = tmp_path / "float.tif"
    Image.fromarray(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), mode="F").save(tiff)
    with pytest.raises(ValueError, match=r"float.tif: 32-bit float images \(Pillow mode F, e.g. a float TIFF\)"):
        read_image(tiff)
