"""``pixyproxy serve`` gives gunicorn's workers a private Prometheus multiprocess directory
when the caller set none, and sweeps the ones of earlier runs that were killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixyproxy import cli


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PROMETHEUS_MULTIPROC_DIR", "PIXY_OWNED_MULTIPROC_DIR"):
        # setenv first so monkeypatch remembers the original state and restores it,
        # whatever the code under test writes into os.environ.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.usefixtures("clean_env")
def test_a_private_directory_is_made_and_stale_ones_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f"pixyproxy-metrics-{dead_pid()}-abc123"
    (stale / "sub").mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"x")
    live = tmp_path / f"pixyproxy-metrics-{os.getppid()}-def456"
    live.mkdir()
    unrelated = tmp_path / "pixyproxy-metrics-notapid-x"
    unrelated.mkdir()
    a_file = tmp_path / f"pixyproxy-metrics-{dead_pid()}-file"
    a_file.write_text("not a directory")

    cli._private_metrics_dir(tmp_path)

    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert os.environ["PIXY_OWNED_MULTIPROC_DIR"] == str(directory)
    assert directory.is_dir() and directory.parent == tmp_path
    assert directory.name.startswith(f"pixyproxy-metrics-{os.getpid()}-")
    assert not stale.exists()
    assert live.is_dir() and unrelated.is_dir() and a_file.is_file()


@pytest.mark.usefixtures("clean_env")
def test_a_directory_the_caller_chose_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = tmp_path / "chosen"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(chosen))
    cli._private_metrics_dir(tmp_path)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(chosen)
    assert "PIXY_OWNED_MULTIPROC_DIR" not in os.environ
    assert list(tmp_path.iterdir()) == []
