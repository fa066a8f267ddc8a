"""The IDX file format (LeCun's MNIST files), read with NumPy only.

Layout (all integers big-endian)::

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the dimensions, uint32 each
    payload     prod(dims) elements, row-major

Files may be gzipped (recognised by the gzip magic ``1f 8b``, not by the name).
Every malformed file raises ``ValueError`` naming the file: bad gzip stream,
wrong magic, unknown type code, truncated header, or a payload whose length
differs from what the header says.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

#: IDX element type code -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


def maybe_gunzip(raw: bytes, name: str = "<bytes>") -> bytes:
    """``raw`` gunzipped when it starts with the gzip magic, else ``raw`` itself.

    Raises ``ValueError`` naming ``name`` when the gzip stream is corrupt or truncated.
    """
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{name}: corrupt or truncated gzip data ({exc})") from None


def read_bytes(path: str | Path) -> bytes:
    """The file's content, gunzipped when it is gzipped (``ValueError`` naming ``path`` if corrupt)."""
    return maybe_gunzip(Path(path).read_bytes(), str(path))


def parse_idx(data: bytes, name: str = "<bytes>", magic: int | None = None) -> np.ndarray:
    """Decode the IDX bytes ``data`` into an array of shape ``dims`` (native byte order).

    ``magic`` (e.g. ``0x00000803`` for MNIST images), when given, must equal the
    file's first four bytes. ``name`` is used in error messages.
    """
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(data)} bytes, the header alone needs at least 4")
    if magic is not None and int.from_bytes(data[:4], "big") != magic:
        raise ValueError(f"{name}: wrong IDX magic {data[:4].hex()}, expected {magic:08x}")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(
            f"{name}: not an IDX file: magic {data[:4].hex()} (expected 0000TTDD with type TT in "
            f"{', '.join(f'{t:02x}' for t in IDX_DTYPES)})"
        )
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header: {len(data)} bytes, {ndim} dimensions need {header}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise ValueError(
            f"{name}: IDX payload {what}: {got} bytes after the header, dims {dims} of {dtype.name} need {expected}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a NumPy array; ``ValueError`` naming the file if malformed
    (or if its magic is not ``magic``, when given)."""
    return parse_idx(read_bytes(path), str(path), magic)
