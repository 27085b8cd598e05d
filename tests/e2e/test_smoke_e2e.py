"""The operator smoke test (``scripts/smoke.py``, ``make smoke``) passes against a real
``pixyproxy serve`` on MariaDB with the OpenAI mock, before it ever runs on a cluster."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.servers import REPO, ServerProcess
from tests.support.tokens import SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "smoke.py"), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_smoke_passes_against_a_real_server(server: ServerProcess) -> None:
    token = subprocess.run(
        [sys.executable, "-m", "pixyproxy", "token", "--sub", "smoke"],
        capture_output=True,
        text=True,
        check=True,
        env={"PIXY_JWT_SECRET": SECRET, "PATH": ""},
    ).stdout.strip()
    result = smoke("--url", server.url, "--token", token, "--timeout", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    for step in ("readiness", "generate", "get", "list", "content", "anonymous", "metrics"):
        assert f"PASS {step}" in result.stdout, result.stdout


def test_smoke_fails_without_a_valid_token(server: ServerProcess) -> None:
    result = smoke("--url", server.url, "--token", "not-a-token", "--timeout", "30")
    assert result.returncode == 1
    assert "FAIL generate" in result.stdout
