"""The gallery ships inside the package: a wheel built from the source (what a
non-editable ``pip install .`` and the container install) holds every asset."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from pixyproxy.web.resources import gallery

REPO = Path(__file__).resolve().parents[3]
STATIC = Path(gallery.__file__).resolve().parents[1] / "static"


def test_the_wheel_holds_every_asset(tmp_path: Path) -> None:
    # What the Dockerfile copies, so the build sees no local leftovers (egg-info, build/).
    source = tmp_path / "src"
    for part in ("pyproject.toml", "README.md"):
        (source / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / part, source / part)
    for package in ("services/api/pixyproxy", "services/openai-mock/openai_mock"):
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        check=True,
        timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("pixyproxy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assets = {
        f"pixyproxy/web/static/{p.relative_to(STATIC).as_posix()}"
        for p in STATIC.rglob("*")
        if p.is_file()
    }
    assert assets and assets <= names, sorted(assets - names)
