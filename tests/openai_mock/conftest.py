"""One mock process for the module's tests, reset before each test that uses it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.support` is imported as a package from the repository root; `python -m pytest` puts
# the root on sys.path, plain `pytest` does not.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support.mock_server import MockServer, run_mock_server  # noqa: E402


@pytest.fixture(scope="session")
def _mock_process() -> Iterator[MockServer]:
    with run_mock_server() as server:
        yield server


@pytest.fixture
def mock(_mock_process: MockServer) -> MockServer:
    _mock_process.reset()
    return _mock_process
