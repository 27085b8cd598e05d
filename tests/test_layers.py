"""The package's layers import only downwards (cli -> serving -> web -> service -> data ->
core), and tests share code only through tests/support."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_layers_are_kept() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.fail("lint-imports is missing: install the dev extras (pip install -e '.[dev]')")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_tests_import_only_the_support_package_of_the_suite() -> None:
    """Shared test code lives in tests/support, never in another test module or conftest."""
    pattern = re.compile(r"^\s*(?:from|import)\s+(tests\.[\w.]+)", re.MULTILINE)
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for root in ("tests", "bench", "scripts")
        for path in (REPO / root).rglob("*.py")
        for name in pattern.findall(path.read_text())
        if not (name == "tests.support" or name.startswith("tests.support."))
    ]
    assert offenders == []
