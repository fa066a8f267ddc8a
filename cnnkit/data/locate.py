"""Where dataset files are found: one search shared by the MNIST and MR loaders.

For a dataset ``NAME`` (``"mnist"``, ``"mr"``) the folders searched are, in order:

* with an explicit ``data_dir`` (the CLI's ``--data-dir``): ``data_dir`` and
  ``data_dir/NAME`` only. A folder given on purpose that lacks the files is an
  error naming it, never a silent fall-back to another copy;
* otherwise ``$CNNKIT_DATA/NAME`` (when the variable is set), then the user cache
  ``$XDG_CACHE_HOME/cnnkit/NAME`` (default ``~/.cache/cnnkit/NAME``).

A folder is chosen when it holds every required file; each requirement is a tuple
of acceptable names (``("t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte")``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .download import user_cache_dir

__all__ = ["candidate_dirs", "find_files", "not_found"]


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for dataset ``name``, in order (see the module docstring)."""
    if data_dir is not None:
        return [Path(data_dir), Path(data_dir) / name]
    dirs: list[Path] = []
    if os.environ.get("CNNKIT_DATA"):
        dirs.append(Path(os.environ["CNNKIT_DATA"]) / name)
    dirs.append(user_cache_dir() / name)
    return dirs


def find_files(name: str, required: Sequence[Sequence[str]],
               data_dir: str | os.PathLike | None = None) -> list[Path] | None:
    """The paths of the required files in the first folder holding all of them, else ``None``."""
    for folder in candidate_dirs(name, data_dir):
        found = [next((folder / n for n in names if (folder / n).is_file()), None) for names in required]
        if all(found):
            return found
    return None


def not_found(title: str, name: str, files: Sequence[str], data_dir: str | os.PathLike | None,
              reason: str = "", details: Sequence[str] = ()) -> FileNotFoundError:
    """The error for a dataset found nowhere: the folders searched, the files to put
    there and how to point cnnkit at them."""
    searched = "\n".join(f"  {d}" for d in candidate_dirs(name, data_dir))
    where = (f"--data-dir / data_dir={str(data_dir)!r} was given, so only it was searched (leave it out to use "
             f"$CNNKIT_DATA and the cache)" if data_dir is not None else
             f"or pass data_dir= / --data-dir, or set CNNKIT_DATA to a folder holding {name}/")
    extra = "".join(f"\n  {d}" for d in details)
    return FileNotFoundError(
        f"{title} not found{f' ({reason})' if reason else ''}. Searched, in order:\n{searched}\n"
        f"Put {', '.join(files)} in one of these folders; {where}.{extra}"
    )
