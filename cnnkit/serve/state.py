"""What the explorer's routes share: the models, the pictures uploaded to the Kernels page and
MNIST's test digits (read once, when first asked for; never downloaded)."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

from .images import fit_within
from .models import ModelRegistry
from .validate import RequestError

__all__ = ["Explorer", "ImageStore"]


class ImageStore:
    """Uploaded pictures by id (the first 16 hex digits of their SHA-256), the ``size``
    most recent kept."""

    def __init__(self, size: int = 16):
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def put(self, key: str, image: np.ndarray) -> None:
        with self._lock:
            self._items[key] = image
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key: str) -> np.ndarray:
        with self._lock:
            if key not in self._items:
                raise RequestError(f"no uploaded image {key!r:.40} (uploads are kept while the server runs, "
                                   f"the last {self.size}): upload it again", 404)
            return self._items[key]


class Explorer:
    """The server's state (``app.state.explorer``); the routes read it, the work runs elsewhere."""

    def __init__(self, models: ModelRegistry, max_body: int, max_pixels: int, data_dir: str | os.PathLike | None,
                 work_side: int):
        self.models, self.max_body, self.max_pixels, self.data_dir = models, max_body, max_pixels, data_dir
        self.work_side = work_side
        self.images = ImageStore()
        self._mnist: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def mnist_available(self) -> bool:
        from ..data.mnist import find_split
        return self._mnist is not None or find_split("test", self.data_dir) is not None

    def mnist(self) -> tuple[np.ndarray, np.ndarray]:
        """MNIST's test ``(images uint8 (10000, 28, 28), labels)``; 404 when the files are absent."""
        from ..data import load_mnist
        with self._lock:
            if self._mnist is None:
                try:
                    self._mnist = load_mnist("test", self.data_dir, download=False, progress=False)
                except FileNotFoundError:
                    raise RequestError("MNIST's test files are not on this machine (set CNNKIT_DATA to the folder "
                                       "holding mnist/); the server never downloads", 404) from None
            return self._mnist

    def picture(self, source: str) -> np.ndarray:
        """``sample:NAME`` or ``upload:ID`` as the uint8 array the Kernels page filters (longer side
        at most ``work_side``)."""
        if source.startswith("sample:"):
            from ..samples import SAMPLES, sample_image
            name = source[len("sample:"):]
            if name not in SAMPLES:
                raise RequestError(f"unknown sample {name!r:.40}; samples: {', '.join(SAMPLES)}", 404)
            return fit_within(sample_image(name), self.work_side)
        if source.startswith("upload:"):
            return self.images.get(source[len("upload:"):])
        raise RequestError(f"image must be 'sample:NAME' or an uploaded id 'upload:...', got {source!r:.40}")
