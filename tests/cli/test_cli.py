"""The ``pixyproxy`` command as a user runs it: a real subprocess."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from jose import jwt

from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.init import open_database, schema_version
from pixyproxy.data.schema import LATEST_VERSION, MIGRATIONS
from pixyproxy.data.store import ORIGINAL
from tests.support.stored import age_files

SECRET = "c" * 40


def pixyproxy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixyproxy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_db_init_creates_then_reports_up_to_date(tmp_path: Path) -> None:
    env = {"PIXY_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    first = pixyproxy("db", "init", env=env)
    assert first.returncode == 0, first.stderr
    assert f"schema at version {LATEST_VERSION} (applied" in first.stdout
    second = pixyproxy("db", "init", env=env)
    assert "already up to date" in second.stdout


@pytest.mark.mysql
def test_db_init_from_several_processes_at_once(mysql_url: str, make_settings) -> None:  # type: ignore[no-untyped-def]
    env = {"PIXY_DATABASE_URL": mysql_url}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: pixyproxy("db", "init", env=env), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    database = open_database(make_settings(database_url=mysql_url))
    try:
        assert schema_version(database) == LATEST_VERSION
        with database.reading() as cursor:
            cursor.execute("SELECT COUNT(*) AS n FROM schema_version")
            row = cursor.fetchone()
        assert row is not None and row["n"] == len(MIGRATIONS)
    finally:
        database.close()


def test_token_mints_a_verifiable_token() -> None:
    result = pixyproxy("token", "--sub", "alice", "--ttl", "60", env={"PIXY_JWT_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], audience="pixyproxy")
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 60


def test_token_without_a_secret_says_which_variable() -> None:
    result = pixyproxy("token", "--sub", "alice", env={"PIXY_JWT_SECRET": ""})
    assert result.returncode == 2
    assert "PIXY_JWT_SECRET" in result.stderr


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PIXY_DB_POOL_SIZE": "lots"}, "PIXY_DB_POOL_SIZE"),
        ({"PIXY_ENV": "staging"}, "PIXY_ENV"),
        ({"PIXY_ENV": "production", "PIXY_JWT_SECRET": ""}, "PIXY_JWT_SECRET"),
        ({"PIXY_IMAGE_PROVIDER": "openai", "OPENAI_API_KEY": ""}, "OPENAI_API_KEY"),
        ({"PIXY_DATABASE_URL": "postgres://x/y"}, "PIXY_DATABASE_URL"),
    ],
)
def test_a_bad_setting_stops_with_one_line_naming_it(env: dict[str, str], variable: str) -> None:
    clean = {k: "" for k in ("PIXY_JWT_SECRET", "OPENAI_API_KEY")}
    result = pixyproxy("db", "init", env={**clean, **env})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR",)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**clean, **env},
    )


def test_the_command_imports_nothing_that_fixes_the_metrics_mode(tmp_path: Path) -> None:
    """prometheus_client chooses where values live when it is first imported: the command
    must decide before anything imports it (serving/startup.py)."""
    result = run_python(
        "import sys, pixyproxy.cli; print(sorted(m for m in sys.modules if 'prometheus' in m))",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_the_package_writes_nothing(tmp_path: Path) -> None:
    work, temp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    code = (
        "import importlib, pkgutil, pixyproxy\n"
        "names = [m.name for m in pkgutil.walk_packages(pixyproxy.__path__, 'pixyproxy.')]\n"
        "names = [n for n in names if n != 'pixyproxy.__main__']\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names))"
    )
    result = run_python(code, work, TMPDIR=str(temp))
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 40
    assert list(work.iterdir()) == [] and list(temp.iterdir()) == []


@pytest.mark.parametrize("variable", ["PROMETHEUS_MULTIPROC_DIR", "PIXY_METRICS_DIR"])
def test_one_off_commands_never_touch_the_metrics_directory(tmp_path: Path, variable: str) -> None:
    """As in a read-only container whose image names a metrics directory: the commands
    work, and the directory is neither made nor written."""
    metrics, used = tmp_path / "metrics", tmp_path / "used"
    used.mkdir()
    env = {
        "PIXY_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "PIXY_STORAGE_DIR": str(tmp_path / "images"),
        "PIXY_JWT_SECRET": SECRET,
    }
    for directory in (metrics, used):
        with_dir = {**env, variable: str(directory)}
        for command in (("db", "init"), ("storage", "check"), ("token", "--sub", "ops")):
            result = pixyproxy(*command, env=with_dir)
            assert result.returncode == 0, (command, result.stderr)
    assert not metrics.exists()
    assert list(used.iterdir()) == []


def test_storage_check_never_removes_a_file_that_may_wait_for_its_row(tmp_path: Path) -> None:
    env = {
        "PIXY_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "PIXY_STORAGE_DIR": str(tmp_path / "images"),
    }
    assert pixyproxy("db", "init", env=env).returncode == 0
    guid = uuid4()
    FileImageStore(tmp_path / "images").put(guid, ORIGINAL, b"a file whose row is coming")
    orphan = tmp_path / "images" / str(guid)[:2] / f"{guid}.png"
    fresh = pixyproxy("storage", "check", "--fix", "--grace", "0", env=env)
    assert orphan.exists(), fresh.stdout
    assert "--grace 0 is shorter than the longest a new file can wait" in fresh.stderr
    assert f"recent, left alone: {orphan}" in fresh.stdout
    age_files(tmp_path / "images", 3600)
    old = pixyproxy("storage", "check", "--fix", "--grace", "0", env=env)
    assert old.returncode == 0 and not orphan.exists(), old.stdout + old.stderr
    help_text = pixyproxy("storage", "check", "--help").stdout
    assert "never less than the longest a new file can wait for its row" in " ".join(
        help_text.split()
    )
