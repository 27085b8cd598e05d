"""The session's mock process (tests/conftest.py), reset before each test that uses it."""

from __future__ import annotations

import pytest

from tests.support.mock_server import MockServer


@pytest.fixture
def mock(openai_mock: MockServer) -> MockServer:
    return openai_mock
