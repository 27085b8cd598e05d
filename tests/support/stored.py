"""What the filesystem image store holds, as tests look at it from outside."""

from __future__ import annotations

import os
from pathlib import Path

from pixyproxy.data.filestore import TEMP_SUFFIX
from pixyproxy.data.png import InvalidPng, png_dimensions


def final_pngs(root: Path) -> dict[str, Path]:
    """Files under their final names: ``<root>/<2 hex>/<guid>.png``, by guid."""
    found = {}
    for path in root.glob("*/*.png"):
        if not path.name.startswith("."):
            found[path.stem] = path
    return found


def temp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(f"*{TEMP_SUFFIX}") if path.is_file()]


def check_png_file(path: Path) -> str | None:
    """None if the file is a complete PNG (or vanished meanwhile), else what is wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None  # removed after a failed insert: never visible as a broken file
    try:
        png_dimensions(data, max_bytes=64 << 20)
    except InvalidPng as exc:
        return f"{path.name}: {exc} ({len(data)} bytes)"
    return None


def age_files(root: Path, seconds: float) -> None:
    """Make every file under ``root`` look ``seconds`` older, as if that time had passed."""
    for path in root.rglob("*"):
        if path.is_file():
            info = path.stat()
            os.utime(path, (info.st_atime - seconds, info.st_mtime - seconds))
