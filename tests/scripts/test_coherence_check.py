"""scripts/coherence_check.py against two real ``pixyproxy serve`` processes on one
MariaDB: it passes two replicas that agree within the bound, and fails (exit 1) against a
replica that serves its cache for longer than the bound."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.servers import ServerProcess
from tests.support.tokens import token

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "coherence_check.py"


def check(a: ServerProcess, b: ServerProcess, *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        str(SCRIPT),
        "--url-a",
        a.url,
        "--url-b",
        b.url,
        "--token",
        token("coherence", ttl_s=3600),
        *options,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_two_replicas_within_the_bound_pass(mysql_server: Callable[..., ServerProcess]) -> None:
    result = check(mysql_server(), mysql_server())
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PASS edit: B showed it after ")
    assert lines[1].startswith("PASS delete: B showed it after ")
    assert lines[-1].startswith("RESULT PASS staleness_max=")


def test_a_replica_that_keeps_serving_its_cache_fails(
    mysql_server: Callable[..., ServerProcess],
) -> None:
    a, slow = mysql_server(), mysql_server(change_poll_s=20, detail_cache_bytes=1 << 20)
    result = check(a, slow, "--wait", "3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("FAIL B kept the old tags for 3 s"), result.stdout
