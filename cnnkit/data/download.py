"""Fetch a file from the first working mirror, verified, written atomically.

The file is streamed to a temporary file beside its destination, checked by a
caller-supplied ``verify(path)`` (raising ``ValueError`` when the content is
wrong), and only then moved into place with ``os.replace``. On any failure
(network error, bad checksum, Ctrl-C) the temporary file is removed, so a
destination that exists is always a complete, verified file.
"""
from __future__ import annotations

import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

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


def fetch(url: str, dest: Path, verify: Callable[[Path], None], progress: bool = True) -> None:
    """Download ``url`` to ``dest`` (atomically, after ``verify`` accepted it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            length = resp.headers.get("Content-Length")
            bar = _Progress(dest.name, int(length) if length else None, progress)
            try:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
        verify(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fetch_from_mirrors(name: str, mirrors: Sequence[str], dest: Path, verify: Callable[[Path], None],
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
