"""Reading input files safely: regular files only, with a size limit.

Opening a FIFO or a character device (``/dev/zero``, ``/dev/stdin``) for reading
blocks forever or never ends; cnnkit reads only regular files. Every reader of
user-given paths (IDX, MR text, checkpoints, images, model files) goes through
:func:`check_regular_file` first.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["check_regular_file", "read_file_bytes"]


def check_regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a :class:`~pathlib.Path` when it is a regular file (symlinks followed).

    ``FileNotFoundError`` when it does not exist, ``IsADirectoryError`` for a folder,
    ``ValueError`` for a FIFO, socket or device; each message names ``what`` and the path.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found: {path}", str(path)) from None
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found: {path} (a parent is not a folder)",
                                str(path)) from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, f"{what} {path} is a folder, not a file", str(path))
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise ValueError(f"{what} {path} is {kind}; cnnkit reads regular files only")
    return path


def read_file_bytes(path: str | os.PathLike, what: str = "file", max_bytes: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (:func:`check_regular_file`); ``ValueError``
    naming it when it is larger than ``max_bytes``."""
    path = check_regular_file(path, what)
    if max_bytes is not None:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{what} {path} is {size} bytes, more than the {max_bytes} allowed")
    return path.read_bytes()
