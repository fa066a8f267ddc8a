"""The IDX file format (LeCun's MNIST files), read with NumPy only.

Layout (all integers big-endian)::

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the dimensions, uint32 each
    payload     prod(dims) elements, row-major

Files may be gzipped (recognised by the gzip magic ``1f 8b``, not by the name).
A gzipped file is decompressed only as far as its IDX header says: the header
is inflated first, then exactly the payload it announces (and one byte more, to
see whether the stream goes on), so a small file that expands to gigabytes is
refused after reading the announced size, and a header announcing more than a
gzip stream of that length can hold (DEFLATE expands at most 1032:1) is refused
before inflating anything. Only regular files are read (a FIFO would block).
Every malformed file raises ``ValueError`` naming the file: bad gzip stream,
wrong magic, unknown type code, truncated header, or a payload whose length
differs from what the header says.
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

from ..io.files import read_file_bytes

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


#: DEFLATE's largest expansion ratio (zlib's technical details): a gzip stream of
#: ``n`` bytes never inflates to more than about ``1032 * n`` bytes.
MAX_GZIP_RATIO = 1032


class _Inflater:
    """Inflate a gzip stream (one or more members) a requested number of bytes at a time."""

    def __init__(self, raw: bytes, name: str):
        self.name, self.pending = name, raw
        self.d = zlib.decompressobj(wbits=31)

    def read(self, n: int) -> bytes:
        """Up to ``n`` more bytes of the uncompressed stream (fewer only at its end)."""
        chunks: list[bytes] = []
        got = 0
        while got < n:
            if self.d.eof:
                rest = self.d.unused_data
                if not rest:
                    break
                if not rest.startswith(GZIP_MAGIC):
                    raise ValueError(f"{self.name}: {len(rest)} bytes of trailing data after the gzip stream")
                self.d, self.pending = zlib.decompressobj(wbits=31), rest  # the next gzip member
            before = len(self.pending)
            try:
                chunk = self.d.decompress(self.pending, n - got)
            except zlib.error as exc:
                raise ValueError(f"{self.name}: corrupt or truncated gzip data ({exc})") from None
            self.pending = self.d.unconsumed_tail
            chunks.append(chunk)
            got += len(chunk)
            if not chunk and not self.d.eof and (not self.pending or len(self.pending) == before):
                raise ValueError(f"{self.name}: corrupt or truncated gzip data (the stream ends early)")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def maybe_gunzip(raw: bytes, name: str = "<bytes>", limit: int | None = None) -> bytes:
    """``raw`` gunzipped when it starts with the gzip magic, else ``raw`` itself.

    Raises ``ValueError`` naming ``name`` when the gzip stream is corrupt or truncated,
    or when it expands to more than ``limit`` bytes (checked while inflating).
    """
    if not raw.startswith(GZIP_MAGIC):
        return raw
    inflater = _Inflater(raw, name)
    cap = limit if limit is not None else MAX_GZIP_RATIO * len(raw) + 1024
    data = inflater.read(cap)
    if inflater.read(1):
        raise ValueError(f"{name}: the gzip data expands to more than {cap} bytes")
    return data


def read_bytes(path: str | Path) -> bytes:
    """The file's content, gunzipped when it is gzipped (``ValueError`` naming ``path`` if corrupt)."""
    return maybe_gunzip(read_file_bytes(path, "IDX file"), str(path))


def _idx_header(head: bytes, name: str, magic: int | None) -> tuple[np.dtype, int]:
    """``(dtype, ndim)`` from the first 4 bytes."""
    if len(head) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(head)} bytes, the header alone needs at least 4")
    if magic is not None and int.from_bytes(head[:4], "big") != magic:
        raise ValueError(f"{name}: wrong IDX magic {head[:4].hex()}, expected {magic:08x}")
    if head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES:
        raise ValueError(
            f"{name}: not an IDX file: magic {head[:4].hex()} (expected 0000TTDD with type TT in "
            f"{', '.join(f'{t:02x}' for t in IDX_DTYPES)})"
        )
    return IDX_DTYPES[head[2]], head[3]


def _read_gzipped_idx(raw: bytes, name: str, magic: int | None) -> np.ndarray:
    """Inflate the header, then exactly the payload it announces (see the module docstring)."""
    inflater = _Inflater(raw, name)
    head = inflater.read(4)
    dtype, ndim = _idx_header(head, name, magic)
    dims_bytes = inflater.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise ValueError(f"{name}: truncated IDX header: {4 + len(dims_bytes)} bytes, {ndim} dimensions "
                         f"need {4 + 4 * ndim}")
    dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
    expected = math.prod(dims) * dtype.itemsize
    if expected > MAX_GZIP_RATIO * len(raw):
        raise ValueError(f"{name}: IDX header announces dims {dims} ({expected} bytes), more than a gzip file "
                         f"of {len(raw)} bytes can hold (a truncated file or a corrupt header)")
    payload = inflater.read(expected)
    if len(payload) < expected:
        raise ValueError(f"{name}: IDX payload truncated: {len(payload)} bytes after the header, dims {dims} "
                         f"of {dtype.name} need {expected}")
    if inflater.read(1):
        raise ValueError(f"{name}: IDX payload has trailing bytes: the gzip data goes on past the {expected} "
                         f"bytes that dims {dims} of {dtype.name} need (refused without inflating the rest)")
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def parse_idx(data: bytes, name: str = "<bytes>", magic: int | None = None) -> np.ndarray:
    """Decode the IDX bytes ``data`` into an array of shape ``dims`` (native byte order).

    ``magic`` (e.g. ``0x00000803`` for MNIST images), when given, must equal the
    file's first four bytes. ``name`` is used in error messages.
    """
    dtype, ndim = _idx_header(data[:4], name, magic)
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
    (or if its magic is not ``magic``, when given). Only as much gzip data is inflated as the header announces."""
    raw = read_file_bytes(path, "IDX file")
    if raw.startswith(GZIP_MAGIC):
        return _read_gzipped_idx(raw, str(path), magic)
    return parse_idx(raw, str(path), magic)
