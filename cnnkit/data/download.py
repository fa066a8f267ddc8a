"""Fetch a file from the first working mirror, verified, written atomically.

The file (MNIST's are at most 10 MB) is read into memory, checked by a
caller-supplied ``verify(data)`` (raising ``ValueError`` when the content is
wrong), and only then written with :func:`cnnkit.io.atomic.atomic_write`
(a temporary file, then ``os.replace``). On any failure (network error, bad
checksum, Ctrl-C) nothing is left behind, so a destination that exists is
always a complete, verified file.
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from ..io.atomic import atomic_write

CHUNK = 1 << 16
TIMEOUT_S = 30


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cnnkit`` or ``~/.cache/cnnkit``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnkit"


class _Progress:
    """tqdm when installed, else one self-overwriting stderr line; silent when disabled."""

    def __init__(self, name: str, total: int | None, enabled: bool):
        self.bar = None
        self.name, self.total, self.enabled, self.done = name, total, enabled, 0
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
            sys.stderr.write(f"\r{self.name}: {self.done / 1e6:.1f} MB{pct}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def fetch(url: str, dest: Path, verify: Callable[[bytes], None], progress: bool = True) -> None:
    """Download ``url`` into memory, ``verify`` the bytes, then write ``dest`` atomically."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        length = resp.headers.get("Content-Length")
        bar = _Progress(dest.name, int(length) if length else None, progress)
        chunks = []
        try:
            while chunk := resp.read(CHUNK):
                chunks.append(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    data = b"".join(chunks)
    verify(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest, "download") as f:
        f.write(data)


def fetch_from_mirrors(name: str, mirrors: Sequence[str], dest: Path, verify: Callable[[bytes], None],
                       progress: bool = True) -> list[str]:
    """Try ``mirror + name`` for each mirror until one downloads and verifies.

    Returns ``[]`` on success, else one line per mirror saying why it failed.
    """
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            fetch(url, dest, verify, progress)
            return []
        except (urllib.error.URLError, OSError, ValueError) as exc:  # HTTPError is a URLError
            failures.append(f"{url}: {exc}")
    return failures
