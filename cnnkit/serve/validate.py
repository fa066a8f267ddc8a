"""Checks of what a client sends, before any of it reaches cnnkit.

Every check raises :class:`RequestError` with the HTTP status to answer and a message that
names the field, the value (or its shape) and what was expected; :mod:`cnnkit.serve.app`
turns it into ``{"error": message}``. JSON is parsed strictly: ``NaN`` and ``Infinity``
(which Python's ``json`` accepts by default) are refused.
"""
from __future__ import annotations

import json
import math
import numbers
from typing import Any, Sequence

import numpy as np

__all__ = ["RequestError", "parse_json", "number_grid", "choice", "integer", "optional", "flag"]


class RequestError(Exception):
    """A bad request: ``status`` (4xx) and a one-line ``message`` for the client."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


_NUMBERS = {int, float}


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(body: bytes) -> dict:
    """The request body as a JSON object; 400 for empty bodies, invalid JSON, NaN/Infinity
    and anything that is not an object."""
    if not body:
        raise RequestError("the request body is empty: send a JSON object (Content-Type: application/json)")
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 text, so not JSON") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError, so is _refuse_constant's
        raise RequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestError(f"the request body must be a JSON object {{...}}, got a JSON {type(value).__name__}")
    return value


def number_grid(value: Any, name: str, *, shape: tuple[int, int] | None = None, max_side: int | None = None,
                lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A 2-D grid of numbers (nested JSON lists) as float64 ``(H, W)``.

    ``shape`` demands an exact shape, ``max_side`` bounds both sides; ``lo``/``hi`` bound
    the values. Ragged rows, strings, booleans, nulls and non-finite values are refused.
    """
    if not isinstance(value, list) or not value or not all(isinstance(row, list) for row in value):
        raise RequestError(f"{name} must be a list of rows (a 2-D grid of numbers), got {_kind(value)}")
    width = len(value[0])
    for i, row in enumerate(value):
        if len(row) != width:
            raise RequestError(f"{name} must be rectangular: row 0 has {width} values, row {i} has {len(row)}")
        if not set(map(type, row)) <= _NUMBERS:  # (C-speed check; JSON gives int, float, bool, str, None, ...)
            v = next(v for v in row if type(v) not in _NUMBERS)
            raise RequestError(f"{name} must hold numbers only, row {i} holds {_kind(v)} {v!r:.40}")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:
        raise RequestError(f"{name} holds a number too large for a float") from None
    if arr.ndim != 2 or arr.size == 0:
        raise RequestError(f"{name} must be a non-empty 2-D grid, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise RequestError(f"{name} must have shape {shape[0]}x{shape[1]}, got {arr.shape[0]}x{arr.shape[1]}")
    if max_side is not None and max(arr.shape) > max_side:
        raise RequestError(f"{name} is {arr.shape[0]}x{arr.shape[1]}; at most {max_side} per side is accepted")
    if not np.isfinite(arr).all():
        raise RequestError(f"{name} holds a value that is not finite")
    if (lo is not None and arr.min() < lo) or (hi is not None and arr.max() > hi):
        raise RequestError(f"{name} values must lie in {lo:g}..{hi:g}, got {arr.min():g}..{arr.max():g}")
    return arr


def choice(value: Any, name: str, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise RequestError(f"{name} must be one of {', '.join(options)}; got {value!r:.60}")
    return value


def integer(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        else:
            raise RequestError(f"{name} must be an integer in {lo}..{hi}, got {value!r:.40}")
    if not lo <= value <= hi:
        raise RequestError(f"{name} must be an integer in {lo}..{hi}, got {value}")
    return int(value)


def flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(f"{name} must be true or false, got {value!r:.40}")
    return value


def optional(body: dict, key: str, default):
    """``body[key]``, or ``default`` when the key is absent or null."""
    value = body.get(key)
    return default if value is None else value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return type(value).__name__
