"""The wheels stand on their own: ``pip install`` of the built wheel (not editable) into a
fresh virtualenv serves requests, and neither distribution carries the other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.tokens import SECRET, bearer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _build_wheel(source: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return wheel


def _top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist() if ".dist-info" not in name}


@pytest.fixture(scope="module")
def api_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(ROOT, tmp_path_factory.mktemp("api-wheel"))


def test_the_api_wheel_holds_the_api_only(api_wheel: Path) -> None:
    assert _top_level(api_wheel) == {"pixyproxy"}


def test_the_mock_wheel_holds_the_mock_only(tmp_path: Path) -> None:
    wheel = _build_wheel(ROOT / "services" / "openai-mock", tmp_path)
    assert _top_level(wheel) == {"openai_mock"}


def test_installed_wheel_serves(api_wheel: Path, tmp_path: Path) -> None:
    """From a fresh virtualenv, outside the source tree: the locked dependencies, then the
    wheel; `pixyproxy serve` answers, generates and serves the PNG it stored."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "api.txt")],
        check=True, timeout=600,
    )  # fmt: skip
    subprocess.run([*pip, str(api_wheel)], check=True, timeout=300)

    port = free_port()
    work = tmp_path / "run"
    work.mkdir()
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PIXY_", "PROMETHEUS_", "PYTHON"))
    }  # fmt: skip
    env |= {
        "PIXY_DATABASE_URL": f"sqlite:///{work / 'pixyproxy.db'}",
        "PIXY_STORAGE_DIR": str(work / "images"),
        "PIXY_IMAGE_PROVIDER": "placeholder",
        "PIXY_JWT_SECRET": SECRET,
        "PIXY_WORKERS": "1",
    }
    log = work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(env_dir / "bin" / "pixyproxy"), "serve", "--port", str(port)],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        if process.poll() is not None:
            pytest.fail(f"pixyproxy serve from the wheel exited:\n{log.read_text()}")
        created = httpx.post(
            f"{base}/image",
            json={"prompt": "a wheel on a hill"},
            headers=bearer("wheel"),
            timeout=30,
        )
        assert created.status_code == 200, created.text
        content = httpx.get(base + created.json()["content_url"], timeout=30)
        assert content.status_code == 200
        assert content.content.startswith(b"\x89PNG")
    finally:
        process.terminate()
        process.wait(timeout=30)
