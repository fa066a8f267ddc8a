"""Shared test setup: seeded generators, the dataset directory and tolerances."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # test this checkout (also from a git worktree), not another install
DEFAULT_DATA = ROOT.parent / "shared" / "data"
if "CNNKIT_DATA" not in os.environ and DEFAULT_DATA.is_dir():
    os.environ["CNNKIT_DATA"] = str(DEFAULT_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def data_dir() -> Path:
    """``$CNNKIT_DATA`` (defaults to ``../shared/data``); skips when absent."""
    path = Path(os.environ.get("CNNKIT_DATA", DEFAULT_DATA))
    if not path.is_dir():
        pytest.skip(f"dataset directory {path} not found: set CNNKIT_DATA to the folder holding mnist/ and mr/")
    return path


def _skip_when_an_optional_package_is_missing(outcome) -> None:
    from cnnkit._optional import MissingDependency

    exc = outcome.excinfo
    if exc is not None and isinstance(exc[1], MissingDependency):
        outcome.force_exception(pytest.skip.Exception(f"optional package missing: {exc[1]}", _use_item_location=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """A fixture that reaches a missing optional package (e.g. the pretrained LeNet-5
    needs safetensors) skips its tests with the install line, as below."""
    outcome = yield
    _skip_when_an_optional_package_is_missing(outcome)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A test that reaches an optional package that is not installed (cnnkit raises
    ``MissingDependency`` with the install line) is skipped with that line, so the
    suite also runs in a NumPy-only environment. With the test extras installed,
    nothing is skipped this way."""
    outcome = yield
    _skip_when_an_optional_package_is_missing(outcome)
