"""``pixyproxy images prune --older-than AGE [--dry-run]`` as an operator runs it: a real
subprocess on a real database and store, while a server that cached the images runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pixyproxy.data.database import Database
from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.store import ORIGINAL
from tests.support.records import make_record
from tests.support.servers import ServeApi


def prune(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixyproxy", "images", "prune", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_prune_removes_old_rows_then_their_files_and_servers_stop_serving_them(
    serve_api: ServeApi, database_url: str, database: Database, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    repository, store = SqlImageRepository(database), FileImageStore(images)
    now = datetime.now(UTC)
    old = [make_record(f"old {i}", at=now - timedelta(days=40 + i)) for i in range(5)]
    new = make_record("new", at=now - timedelta(days=1))
    for record in (*old, new):
        store.put(record.guid, ORIGINAL, b"png")
        repository.insert(record)
    api = serve_api(database_url=database_url, detail_cache_bytes=1 << 20)
    for record in old:
        assert api.get(f"/image/{record.guid}").status_code == 200  # cached by the server
    env = {"PIXY_DATABASE_URL": database_url, "PIXY_STORAGE_DIR": str(images)}

    dry = prune(env, "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would prune 5 images created before ")
    assert all(repository.exists(record.guid) for record in old)

    done = prune(env, "--older-than", "30d", "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pruned 5 images created before ")
    assert not any(repository.exists(record.guid) for record in old)
    assert not any(list(images.rglob(f"{record.guid}*")) for record in old)
    assert repository.exists(new.guid) and list(images.rglob(f"{new.guid}*"))
    deadline = time.monotonic() + 10  # the server reads the change log (its bound: 1 s)
    while any(api.get(f"/image/{r.guid}").status_code != 404 for r in old):
        assert time.monotonic() < deadline, "the server kept serving pruned images"
        time.sleep(0.05)


@pytest.mark.parametrize("bad", ["30", "0d", "-1d", "1w", "1.5d", "d"])
def test_an_age_that_is_not_a_number_and_unit_is_refused(bad: str, tmp_path: Path) -> None:
    env = {"PIXY_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    result = prune(env, f"--older-than={bad}")
    assert result.returncode == 2 and "--older-than" in result.stderr
    assert "s, m, h or d" in result.stderr
