"""Property-based fuzzing of every operation in the OpenAPI document with schemathesis, all
checks on, anonymous and with a valid token, against ``pixyproxy serve`` as a real process.

``make test`` runs a bounded number of examples per operation; ``make fuzz`` runs at least
200 (``PIXY_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mock_server import MockServer
from tests.support.servers import ServerProcess, run_pixyproxy, server_env
from tests.support.tokens import SECRET, token

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = int(os.environ.get("PIXY_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from tests.support.mock_server import run_mock_server

    root = tmp_path_factory.mktemp("fuzz")
    with run_mock_server() as mock:
        yield from _serve(root, mock)


def _serve(root: Path, mock: MockServer) -> Iterator[ServerProcess]:
    env = server_env(
        database_url=f"sqlite:///{root / 'db.sqlite'}",
        storage_dir=root / "images",
        mock=mock,
        jwt_secret=SECRET,
        log_level="warning",
        max_in_flight_generations=1000,
    )
    with run_pixyproxy(env, workers=2) as process:
        yield process


@pytest.mark.parametrize("caller", ["anonymous", "authenticated"])
def test_every_operation_conforms_under_fuzzing(
    server: ServerProcess, caller: str, tmp_path: Path
) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.fail("schemathesis is missing: install the dev extras (pip install -e '.[dev]')")
    command = [
        schemathesis,
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "20261124",
        # One worker: hypothesis describing strategies from several threads trips a
        # CPython 3.11 ast.parse recursion check ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--generation-database",
        "none",
    ]
    if caller == "authenticated":
        command += ["--header", f"Authorization: Bearer {token('fuzzer', ttl_s=3600)}"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    output = result.stdout + result.stderr
    print(output[output.rfind("API Operations:") :])  # the summary, shown by make fuzz (-s)
    assert result.returncode == 0, output[-12000:]
    assert "Tested:" in output
