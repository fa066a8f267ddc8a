"""Checkpoints as `safetensors <https://github.com/huggingface/safetensors>`_ files (never pickle).

* :func:`save` / :func:`load` / :func:`load_into`: a model's ``state_dict`` under
  PyTorch's key names (``"features.0.weight"``), so a file written here loads into
  the equivalent torch model with ``safetensors.torch.load_file`` +
  ``load_state_dict``, and a file written by ``safetensors.torch.save_file`` loads here.
* :func:`save_training_state` / :func:`load_training_state`: everything needed to
  resume training: the model (keys ``"model.<name>"``), the optimizer's arrays
  (``"optimizer.state.<index>.<name>"``, e.g. ``optimizer.state.0.exp_avg``), and as
  JSON metadata the optimizer's scalars and parameter groups, the scheduler's
  state, the epoch, the random generator's state and any ``extra`` JSON data.

Files are written atomically: to a temporary file in the same directory, flushed
and fsync'ed, then ``os.replace``'d over the target, so a crash or an error
leaves either the old file or the new one, never a partial file.

Errors: ``FileNotFoundError`` for a missing file (or directory); ``ValueError``
naming the path for a truncated or corrupt file (the header is checked here before
the safetensors library parses it), a FIFO or device (regular files only), or one
whose keys, shapes or training-state metadata do not match; loading is atomic
(every piece is checked before the first one is applied). ``safetensors`` is an
optional dependency: ``pip install -e ".[weights]"``.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._optional import require
from .autograd import Tensor
from .io.atomic import atomic_write
from .io.files import read_file_bytes
from .nn.module import Module
from .random import default_generator

TRAINING_STATE_KEY = "cnnkit.training_state"
TRAINING_STATE_VERSION = 1


def _safetensors_numpy():
    return require("safetensors.numpy", extra="weights", purpose="reading and writing checkpoints")


# ----------------------------------------------------------------- writing
def _as_array(value, key: str) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"checkpoint value {key!r} must be a numeric array, got dtype {arr.dtype}")
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")  # (ascontiguousarray would make 0-d 1-d)


def _tensors_of(obj) -> "OrderedDict[str, np.ndarray]":
    """A module's ``state_dict()`` or a mapping of names to arrays, as contiguous arrays."""
    if isinstance(obj, Module):
        items = obj.state_dict().items()
    elif isinstance(obj, Mapping):
        items = obj.items()
    else:
        raise TypeError(f"save: expected a cnnkit.nn.Module or a mapping of names to arrays, got {type(obj).__name__}")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError(f"save: state-dict keys must be str, got {key!r}")
        out[key] = _as_array(value, key)
    return out


def _check_metadata(metadata) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"save: metadata must be a dict of str to str, got {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"save: metadata must map str to str (JSON-encode other values), got {k!r}: {v!r}")
    return dict(metadata)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :mod:`cnnkit.io.atomic`)."""
    with atomic_write(path, "checkpoint") as handle:
        handle.write(data)


def save(module_or_state_dict, path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write a module's ``state_dict`` (or a mapping of names to arrays) to ``path`` as safetensors.

    ``metadata``: optional ``str -> str`` pairs stored in the file's header
    (read back with :func:`load_metadata`). Returns the path.
    """
    st = _safetensors_numpy()
    tensors = _tensors_of(module_or_state_dict)
    data = st.save(dict(tensors), metadata=_check_metadata(metadata))
    path = Path(path)
    _atomic_write(path, data)
    return path


# ----------------------------------------------------------------- reading
def _is_uint(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _check_header(header, bad: str) -> None:
    """``ValueError`` (starting with ``bad``) unless ``header`` is a safetensors header:
    ``{"__metadata__": {str: str}, name: {"dtype": str, "shape": [int...], "data_offsets": [begin, end]}}``."""
    if not isinstance(header, dict):
        raise ValueError(f"{bad}: its header is not a JSON object")
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise ValueError(f"{bad}: its __metadata__ must map str to str, got {str(entry)[:80]}")
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"{bad}: header entry {key!r} must be an object, got {str(entry)[:80]}")
        offsets, shape = entry.get("data_offsets"), entry.get("shape")
        if not isinstance(entry.get("dtype"), str):
            raise ValueError(f"{bad}: header entry {key!r} has no dtype string")
        if not isinstance(shape, list) or not all(_is_uint(n) for n in shape):
            raise ValueError(f"{bad}: header entry {key!r} has shape {shape!r}, expected a list of non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_uint(o) for o in offsets)
                or offsets[0] > offsets[1]):
            raise ValueError(f"{bad}: header entry {key!r} has data_offsets {offsets!r}, expected [begin, end] "
                             f"with 0 <= begin <= end")


def _read_header(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its parsed JSON header; ``ValueError`` naming the path for a
    file that is not a complete, well-formed safetensors file (checked here, before the
    safetensors library sees it)."""
    data = read_file_bytes(path, "checkpoint file")
    bad = f"{path} is not a valid safetensors checkpoint"
    if len(data) < 8:
        raise ValueError(f"{bad}: {len(data)} bytes is too short for a header (truncated?)")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError(f"{bad}: header of {n} bytes but the file has only {len(data)} bytes (truncated?)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{bad}: its header is not JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{bad}: its header is nested too deeply to be a safetensors header") from None
    _check_header(header, bad)
    body = len(data) - 8 - n
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if end != body:
        raise ValueError(f"{bad}: the header describes {end} bytes of data, the file holds {body} (truncated?)")
    return data, header


def load(path) -> "OrderedDict[str, np.ndarray]":
    """The arrays of a safetensors file, by name (in file order).

    >>> # doctest: +SKIP
    >>> model.load_state_dict(load("model.safetensors"))
    """
    st = _safetensors_numpy()
    path = Path(path)
    data, header = _read_header(path)
    try:
        tensors = st.load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError (an Exception)
        raise ValueError(f"{path} is not a valid safetensors checkpoint: {exc}") from None
    order = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    return OrderedDict((k, tensors[k]) for k in order)


def load_metadata(path) -> dict[str, str]:
    """The ``str -> str`` metadata stored in a safetensors file's header (``{}`` when none)."""
    _, header = _read_header(Path(path))
    return dict(header.get("__metadata__") or {})


def load_into(module: Module, path, strict: bool = True):
    """Load a checkpoint into ``module`` (see :meth:`Module.load_state_dict`); errors name the path.

    Returns ``(missing_keys, unexpected_keys)``; nothing is changed on error.
    """
    state = load(path)
    try:
        return module.load_state_dict(state, strict=strict)
    except ValueError as exc:
        raise ValueError(f"checkpoint {path} does not match {type(module).__name__}: {exc}") from None


# ---------------------------------------------------------- training state
def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"save_training_state: {type(obj).__name__} value {obj!r} is not JSON-serialisable")


def save_training_state(path, model: Module, optimizer=None, *, epoch: int | None = None, scheduler=None,
                        generator: np.random.Generator | None = None, extra: Any = None) -> Path:
    """Write a resumable training checkpoint (atomically) to ``path``.

    Tensors: ``model.<key>`` for every ``model.state_dict()`` entry and
    ``optimizer.state.<index>.<name>`` for every optimizer state array. Header
    metadata ``"cnnkit.training_state"`` (JSON): format version, ``epoch``, the
    optimizer's class, parameter groups and scalar state (``step``), the
    scheduler's ``state_dict()``, the state of ``generator`` (default: cnnkit's
    generator, which drives initialisation, dropout and shuffling) and ``extra``.
    """
    tensors: OrderedDict[str, np.ndarray] = OrderedDict(
        (f"model.{k}", v) for k, v in _tensors_of(model).items())
    meta: dict[str, Any] = {"version": TRAINING_STATE_VERSION, "epoch": epoch, "optimizer": None,
                            "scheduler": None, "rng": None, "extra": extra}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entries in sd["state"].items():
            for name, value in entries.items():
                if isinstance(value, np.ndarray):
                    tensors[f"optimizer.state.{idx}.{name}"] = _as_array(value, name)
                else:
                    scalars.setdefault(str(idx), {})[name] = value
        meta["optimizer"] = {"type": type(optimizer).__name__, "param_groups": sd["param_groups"],
                             "scalars": scalars}
    if scheduler is not None:
        meta["scheduler"] = {"type": type(scheduler).__name__, "state": scheduler.state_dict()}
    gen = generator if generator is not None else default_generator()
    meta["rng"] = gen.bit_generator.state
    text = json.dumps(meta, default=_json_default)
    return save(tensors, path, metadata={TRAINING_STATE_KEY: text})


def _malformed(path, what: str) -> ValueError:
    return ValueError(f"{path}: malformed training state: {what}")


def _check_training_meta(meta, path) -> dict[str, Any]:
    """``ValueError`` naming ``path`` unless ``meta`` has the layout :func:`save_training_state` writes."""
    if not isinstance(meta, dict):
        raise _malformed(path, f"the metadata is a {type(meta).__name__}, not a JSON object")
    if meta.get("version") != TRAINING_STATE_VERSION:
        raise ValueError(f"{path}: unsupported training-state version {meta.get('version')!r}")
    epoch = meta.get("epoch")
    if epoch is not None and not _is_uint(epoch):
        raise _malformed(path, f"epoch must be a non-negative int or null, got {epoch!r}")
    opt = meta.get("optimizer")
    if opt is not None:
        if not isinstance(opt, dict) or not isinstance(opt.get("type"), str):
            raise _malformed(path, "optimizer must be an object with a 'type' string")
        groups, scalars = opt.get("param_groups"), opt.get("scalars")
        if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                                   for g in groups):
            raise _malformed(path, "optimizer.param_groups must be a list of objects with a 'params' list")
        if not isinstance(scalars, dict) or not all(isinstance(k, str) and k.isdigit() and isinstance(v, dict)
                                                    for k, v in scalars.items()):
            raise _malformed(path, "optimizer.scalars must map parameter indices to objects")
    sched = meta.get("scheduler")
    if sched is not None and (not isinstance(sched, dict) or not isinstance(sched.get("type"), str)
                              or not isinstance(sched.get("state"), dict)):
        raise _malformed(path, "scheduler must be an object with 'type' and 'state'")
    rng = meta.get("rng")
    if rng is not None and (not isinstance(rng, dict) or not isinstance(rng.get("bit_generator"), str)
                            or not isinstance(rng.get("state"), dict)):
        raise _malformed(path, "rng must be an object with 'bit_generator' and 'state'")
    return meta


def read_training_state(path) -> dict[str, Any]:
    """The checked JSON metadata of a training state (``epoch``, ``extra``, the optimizer's
    groups and scalars, ...) without applying anything; ``ValueError`` naming the path
    when the file is not a training state or the metadata is malformed."""
    metadata = load_metadata(path)
    if TRAINING_STATE_KEY not in metadata:
        raise ValueError(f"{path} is not a cnnkit training state (no {TRAINING_STATE_KEY!r} metadata); "
                         f"use load_into() for a plain model checkpoint")
    try:
        meta = json.loads(metadata[TRAINING_STATE_KEY])
    except json.JSONDecodeError as exc:
        raise _malformed(path, f"the {TRAINING_STATE_KEY!r} metadata is not JSON ({exc})") from None
    except RecursionError:
        raise _malformed(path, f"the {TRAINING_STATE_KEY!r} metadata is nested too deeply") from None
    return _check_training_meta(meta, path)


def load_training_state(path, model: Module, optimizer=None, *, scheduler=None,
                        generator: np.random.Generator | None = None, strict: bool = True) -> dict[str, Any]:
    """Restore what :func:`save_training_state` wrote: the model's weights, the
    optimizer's state and groups, the scheduler's state and the random generator's
    state (into ``generator``, default cnnkit's own, in place).

    Returns ``{"epoch": ..., "extra": ...}``. Raises ``ValueError`` naming the path
    when the file is not a training state, its metadata is malformed, or it does not
    match the model, the optimizer, the scheduler or the generator. Every piece is
    checked and converted before the first is applied, so nothing changes on error.
    """
    path = Path(path)
    tensors = load(path)
    meta = read_training_state(path)
    model_state = OrderedDict((k[len("model."):], v) for k, v in tensors.items() if k.startswith("model."))
    try:
        commit_model, _ = model._plan_load_state_dict(model_state, strict=strict)
    except ValueError as exc:
        raise ValueError(f"training state {path} does not match {type(model).__name__}: {exc}") from None
    commit_optimizer = None
    if optimizer is not None:
        saved = meta.get("optimizer")
        if saved is None:
            raise ValueError(f"{path} holds no optimizer state")
        if saved["type"] != type(optimizer).__name__:
            raise ValueError(f"{path} holds {saved['type']} state, cannot load it into {type(optimizer).__name__}")
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optimizer.state."):
                idx, _, name = key[len("optimizer.state."):].partition(".")
                if not idx.isdigit() or not name:
                    raise _malformed(path, f"tensor {key!r} is not optimizer.state.<index>.<name>")
                state.setdefault(int(idx), {})[name] = value
        for idx, entries in saved["scalars"].items():
            state.setdefault(int(idx), {}).update(entries)
        try:
            commit_optimizer = optimizer._plan_load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"training state {path} does not match the optimizer: {exc}") from None
    saved_scheduler = meta.get("scheduler")
    if scheduler is not None and saved_scheduler is not None:
        if saved_scheduler["type"] != type(scheduler).__name__:
            raise ValueError(f"{path} holds {saved_scheduler['type']} state, cannot load it into "
                             f"{type(scheduler).__name__}")
        from .optim.lr_scheduler import check_same_layout
        check_same_layout(scheduler.state_dict(), saved_scheduler["state"], f"training state {path}: scheduler")
    gen = generator if generator is not None else default_generator()
    rng_state = meta.get("rng")
    if rng_state is not None:
        if rng_state["bit_generator"] != type(gen.bit_generator).__name__:
            raise ValueError(f"{path}: the saved generator is a {rng_state['bit_generator']}, "
                             f"cannot restore it into a {type(gen.bit_generator).__name__}")
        try:  # on a throwaway generator first
            type(gen.bit_generator)().state = rng_state
        except (TypeError, ValueError, KeyError) as exc:
            raise _malformed(path, f"the generator state does not fit a {rng_state['bit_generator']} ({exc})") \
                from None
    # everything is checked: apply it (none of these can fail now)
    commit_model()
    if commit_optimizer is not None:
        commit_optimizer()
    if scheduler is not None and saved_scheduler is not None:
        scheduler.load_state_dict(saved_scheduler["state"])
    if rng_state is not None:
        gen.bit_generator.state = rng_state
    return {"epoch": meta.get("epoch"), "extra": meta.get("extra")}
