"""A plain, non-editable ``pip install .`` serves: the gunicorn configuration ships inside
the package, so ``pixyproxy serve`` works without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import REPO, run_pixyproxy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built as a wheel and installed into a directory of its own."""
    base = tmp_path_factory.mktemp("installed")
    wheels, site = base / "wheels", base / "site"
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w"]
    subprocess.run([*build, str(wheels)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("pixyproxy-*.whl")
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    subprocess.run([*install, str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    return site


def test_the_installed_package_serves(installed: Path, tmp_path: Path) -> None:
    env = {
        "PYTHONPATH": str(installed),  # ahead of the editable install of this checkout
        "PIXY_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "PIXY_STORAGE_DIR": str(tmp_path / "images"),
        "PIXY_ANONYMOUS_GENERATION": "true",
    }
    where = subprocess.run(
        [sys.executable, "-c", "import pixyproxy.serving.gunicorn_conf as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **env},
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout
    with run_pixyproxy(env, workers=1, cwd=tmp_path) as server:
        created = httpx.post(f"{server.url}/image", json={"prompt": "installed"}, timeout=30)
        assert created.status_code == 200, created.text
        assert httpx.get(f"{server.url}{created.json()['content_url']}").status_code == 200
