"""The models the explorer serves: the one it was started with, the zoo, and uploaded checkpoints.

A model is held as a :class:`ReplicaPool` of identical copies. Recording a forward pass
(:mod:`cnnkit.analysis.hooks`) and computing gradients (:mod:`cnnkit.explain`) change a
model instance while they run, so each request borrows a copy of its own; with one copy
per worker, concurrent requests run side by side instead of waiting for each other.

Uploaded checkpoints are safetensors files only. They are checked by
:mod:`cnnkit.checkpoint` (header, offsets, dtypes) and loaded strictly (every key, every
shape) into a zoo architecture named by the file's metadata or name
(:func:`cnnkit.analysis.zoo.resolve_model`); nothing in them is ever executed or unpickled.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import queue
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..analysis.zoo import PRETRAINED, ZOO, resolve_model
from ..models.lenet import LeNet5
from ..nn.module import Module
from .validate import RequestError

__all__ = ["ReplicaPool", "ModelEntry", "ModelRegistry", "LOADED", "UPLOAD_PREFIX"]

#: The id of the model given to ``cnnkit serve --model`` (default: the bundled LeNet-5).
LOADED = "loaded"
UPLOAD_PREFIX = "upload:"
MAX_UPLOADED_MODELS = 4
#: Models with more parameters than this (the zoo's Xception: 23 M) are held once, not per worker.
BIG_MODEL = 5_000_000


class ReplicaPool:
    """``size`` copies of one model; :meth:`lease` lends one to a single caller at a time."""

    def __init__(self, model: Module, size: int):
        if size < 1:
            raise ValueError(f"ReplicaPool: size must be >= 1, got {size}")
        self.model = model  # the original: read its structure, never run it outside a lease
        self._free: queue.SimpleQueue[Module] = queue.SimpleQueue()
        for i in range(size):
            self._free.put(copy.deepcopy(model) if i else model)
        self.size = size

    @contextlib.contextmanager
    def lease(self) -> Iterator[Module]:
        replica = self._free.get()
        try:
            yield replica
        finally:
            self._free.put(replica)


@dataclass
class ModelEntry:
    """One servable model. ``kind``: ``"digits"`` (a LeNet-5: MNIST digits, prepared by
    :func:`cnnkit.data.prepare_mnist`), ``"image"`` (one grey input channel, 2-D) or
    ``"other"`` (a table, but no pictures)."""

    id: str
    title: str
    source: str
    kind: str
    input_shape: tuple[int, ...] | None
    dtype: str
    pool: ReplicaPool
    cache: dict = field(default_factory=dict)  # per-model results that never change (summary, plans)

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title, "source": self.source, "kind": self.kind,
                "input_shape": list(self.input_shape) if self.input_shape else None, "dtype": self.dtype}


def _kind(model: Module, shape: tuple[int, ...] | None, dtype: str) -> str:
    if isinstance(model, LeNet5):
        return "digits"
    if shape is not None and len(shape) == 4 and shape[1] == 1 and np.dtype(dtype).kind == "f":
        return "image"
    return "other"


def _title(model: Module, spec: str) -> str:
    if spec == PRETRAINED:
        return "LeNet-5, trained on MNIST (bundled)"
    if spec in ZOO:
        return f"{spec}: {ZOO[spec].description} (random weights, seed 0)"
    return f"{type(model).__name__} from {os.path.basename(spec)}"


class ModelRegistry:
    """The models by id: :data:`LOADED`, every zoo name (built on first use) and uploads."""

    def __init__(self, spec: str = PRETRAINED, model_name: str | None = None, replicas: int = 2):
        if spec.endswith(".py"):
            raise ValueError("cnnkit serve loads `pretrained`, a zoo name or a .safetensors checkpoint, "
                             "not a .py file (the explorer runs no model code it is given)")
        self.replicas = replicas
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._zoo: dict[str, ModelEntry] = {}
        self._uploads: OrderedDict[str, ModelEntry] = OrderedDict()
        self.loaded = self._entry(LOADED, spec, model_name, source=spec if spec != PRETRAINED else
                                  "cnnkit/models/weights/lenet5.safetensors")

    def _entry(self, entry_id: str, spec: str, model_name: str | None, source: str, title: str | None = None):
        with self._build_lock:  # zoo builds reseed cnnkit's global generator for a moment
            model, shape = resolve_model(spec, model_name)
        dtype = ZOO[spec].dtype if spec in ZOO else "float32"
        shape = tuple(shape) if shape is not None else None
        copies = self.replicas if sum(p.size for p in model.parameters()) <= BIG_MODEL else 1
        return ModelEntry(entry_id, title or _title(model, spec), source, _kind(model, shape, dtype), shape, dtype,
                          ReplicaPool(model, copies))

    def get(self, entry_id: str | None) -> ModelEntry:
        """The model ``entry_id`` (``None`` or ``"loaded"``: the one the server was started with)."""
        if entry_id in (None, "", LOADED):
            return self.loaded
        if not isinstance(entry_id, str):
            raise RequestError(f"model must be a string id, got {entry_id!r:.40}")
        with self._lock:
            if entry_id in self._uploads:
                self._uploads.move_to_end(entry_id)
                return self._uploads[entry_id]
            if entry_id in ZOO:
                if entry_id not in self._zoo:
                    self._zoo[entry_id] = self._entry(entry_id, entry_id, None, source="cnnkit.analysis.zoo")
                return self._zoo[entry_id]
        raise RequestError(f"unknown model {entry_id!r}; known: {', '.join(m['id'] for m in self.catalogue())}", 404)

    def catalogue(self) -> list[dict]:
        zoo = [{"id": name, "title": f"{name}: {entry.description} (random weights)", "source": "zoo"}
               for name, entry in ZOO.items()]
        with self._lock:
            uploads = [e.describe() for e in self._uploads.values()]
        return [self.loaded.describe()] + uploads + zoo

    def add_upload(self, data: bytes, filename: str, model_name: str | None = None) -> ModelEntry:
        """Load an uploaded safetensors checkpoint into its zoo architecture (``model_name``,
        else the file's metadata, else the start of its file name, as ``cnnkit summary`` does)."""
        if not filename.lower().endswith(".safetensors"):
            raise RequestError(f"checkpoints are accepted as .safetensors files only, got {filename!r:.80}", 415)
        if model_name is not None and model_name not in ZOO:
            raise RequestError(f"architecture must be one of {', '.join(ZOO)}; got {model_name!r:.40}")
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(filename))[:80] or "upload.safetensors"
        digest = hashlib.sha256(data).hexdigest()[:12]
        entry_id = f"{UPLOAD_PREFIX}{digest}"
        with tempfile.TemporaryDirectory(prefix="cnnkit-checkpoint-") as folder:
            path = os.path.join(folder, stem)
            with open(path, "wb") as handle:
                handle.write(data)
            try:
                entry = self._entry(entry_id, path, model_name, source=filename, title=None)
            except (ValueError, TypeError, KeyError) as exc:
                raise RequestError(str(exc).replace(path, filename)) from None
        entry.title = f"{type(entry.pool.model).__name__} from the uploaded {filename}"
        with self._lock:
            self._uploads[entry_id] = entry
            while len(self._uploads) > MAX_UPLOADED_MODELS:
                self._uploads.popitem(last=False)
        return entry
