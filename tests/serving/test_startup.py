"""The start-up decisions of ``pixyproxy serve``: a dev secret once, a shared and a private
metrics directory when none is configured (the ones of earlier, killed runs swept), the
migration in the master only, and all of it handed to the workers as settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from jose import jwt

from pixyproxy.core.settings import Settings
from pixyproxy.serving import startup
from pixyproxy.serving.startup import MULTIPROC_VARIABLE, private_metrics_dir, server_startup


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first so monkeypatch remembers the original state and restores it,
    # whatever the code under test writes into os.environ.
    monkeypatch.setenv(MULTIPROC_VARIABLE, "")
    monkeypatch.delenv(MULTIPROC_VARIABLE)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


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

    directory = private_metrics_dir(tmp_path)

    assert directory.is_dir() and directory.parent == tmp_path
    assert directory.name.startswith(f"pixyproxy-metrics-{os.getpid()}-")
    assert not stale.exists()
    assert live.is_dir() and unrelated.is_dir() and a_file.is_file()


@pytest.mark.usefixtures("clean_env")
def test_a_server_gets_its_own_directories_and_hands_them_down(
    make_settings: Callable[..., Settings],
) -> None:
    made = server_startup(make_settings(), workers=2)
    try:
        workers = made.settings
        assert made.metrics_dir is not None and made.metrics_dir.is_dir()
        assert workers.metrics_dir == made.metrics_dir
        assert set(made.made) == {made.metrics_dir}
        # prometheus_client's own variable, set here and nowhere else
        assert os.environ[MULTIPROC_VARIABLE] == str(made.metrics_dir)
        # migrated once by the master; the workers never migrate
        assert made.migrate and not workers.db_auto_migrate
    finally:
        startup.remove_made(made)
    assert not any(directory.exists() for directory in made.made)


@pytest.mark.usefixtures("clean_env")
def test_directories_the_caller_chose_are_kept(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    chosen = tmp_path / "metrics"
    made = server_startup(make_settings(metrics_dir=chosen, db_auto_migrate=False), workers=1)
    assert made.metrics_dir == chosen
    assert made.made == () and not made.migrate
    assert os.environ[MULTIPROC_VARIABLE] == str(chosen)
    assert chosen.is_dir()  # prometheus_client writes in it as soon as it is imported
    startup.remove_made(made)
    assert chosen.is_dir()  # and it is never removed


@pytest.mark.usefixtures("clean_env")
def test_dev_mode_without_a_key_gets_one_secret_for_all_workers(
    make_settings: Callable[..., Settings],
) -> None:
    made = server_startup(make_settings(), workers=2)
    startup.remove_made(made)
    secret = made.settings.jwt_secret
    assert secret is not None and made.dev_token is not None
    claims = jwt.decode(
        made.dev_token, secret.get_secret_value(), algorithms=["HS256"], audience="pixyproxy"
    )
    assert claims["sub"] == "dev"


@pytest.mark.usefixtures("clean_env")
def test_a_configured_key_is_used_as_it_is(make_settings: Callable[..., Settings]) -> None:
    made = server_startup(make_settings(jwt_secret="k" * 40), workers=1)
    startup.remove_made(made)
    assert made.dev_token is None
    assert made.settings.jwt_secret is not None
    assert made.settings.jwt_secret.get_secret_value() == "k" * 40


def test_a_single_process_keeps_its_metrics_in_memory(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MULTIPROC_VARIABLE, str(tmp_path))
    settings, token = startup.single_process(make_settings())
    assert MULTIPROC_VARIABLE not in os.environ
    assert token is not None and settings.jwt_secret is not None
