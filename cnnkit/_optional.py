"""Optional dependencies: one place that imports them and says how to install a missing one.

cnnkit needs only NumPy. Everything else is an *extra* declared in ``pyproject.toml``
(``pip install -e ".[image]"`` from a checkout, ``pip install "cnnkit[image]"`` from an index).
Code that needs an extra calls :func:`require` at the point of use::

    Image = require("PIL.Image", extra="image", purpose="reading images")

and gets the module, or a :class:`MissingDependency` whose message is one line naming the
package, what it is needed for and the install command. The CLI prints that line and exits 2.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingDependency", "require", "is_available", "EXTRAS"]

#: import name (top-level package) -> (PyPI distribution, extra that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "PIL": ("Pillow", "image"),
    "matplotlib": ("matplotlib", "plot"),
    "safetensors": ("safetensors", "weights"),
    "tqdm": ("tqdm", "progress"),
    "skimage": ("scikit-image", "samples"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "mnist1d": ("mnist1d", "lab"),
    "ray": ("ray", "lab"),
    "starlette": ("starlette", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "multipart": ("python-multipart", "serve"),
    "threadpoolctl": ("threadpoolctl", "threads"),
}


class MissingDependency(ImportError):
    """An optional package is not installed; ``str(exc)`` is the one-line fix."""

    def __init__(self, module: str, extra: str, purpose: str, distribution: str):
        self.module, self.extra, self.purpose, self.distribution = module, extra, purpose, distribution
        super().__init__(f"{purpose} needs the optional package '{distribution}': "
                         f"pip install -e \".[{extra}]\" (from a checkout) or pip install \"cnnkit[{extra}]\"")


def require(module: str, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"PIL.Image"``) or raise :class:`MissingDependency`.

    ``extra`` defaults to the one :data:`EXTRAS` lists for the top-level package;
    ``purpose`` is said in the message ("reading images needs ...").
    """
    top = module.split(".")[0]
    distribution, default_extra = EXTRAS.get(top, (top, "all"))
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if isinstance(exc, MissingDependency):
            raise
        raise MissingDependency(module, extra or default_extra, purpose or f"'{module}'",
                                distribution) from exc


def is_available(module: str) -> bool:
    """True when ``module`` imports (without raising)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
