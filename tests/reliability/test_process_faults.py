"""Processes dying: gunicorn workers SIGKILLed while they write, and what such crashes leave
behind for ``pixyproxy storage check`` to report and ``--fix`` to clean."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.mariadb import ThrowawayMariaDB
from tests.support.procs import children, wait_for_workers
from tests.support.servers import REPO, anonymous_server_env, run_pixyproxy
from tests.support.stored import age_files, check_png_file, final_pngs, temp_files
from tests.support.traffic import Traffic

pytestmark = pytest.mark.mysql


class StorePoller:
    """Looks at every file that appears under a final name and checks it is a whole PNG."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: set[Path] = set()
        self.broken: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StorePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        for _ in range(200_000):  # bounded; ends long before on stop
            if self._stop.is_set():
                return
            for path in final_pngs(self.root).values():
                if path not in self.seen:
                    self.seen.add(path)
                    if problem := check_png_file(path):
                        self.broken.append(problem)
            time.sleep(0.002)


def image_rows(mariadb: ThrowawayMariaDB, database: str) -> set[str]:
    return {row["guid"] for row in mariadb.query("SELECT guid FROM images", database=database)}


def storage_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixyproxy", "storage", "check", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(mariadb: ThrowawayMariaDB, fault_database: str, tmp_path: Path) -> dict[str, str]:
    """Placeholder images: about 150 KB each, written and fsynced for real."""
    return anonymous_server_env(
        database_url=mariadb.url(fault_database),
        storage_dir=tmp_path / "images",
        db_connect_timeout_s=2,
    )


def test_killed_workers_are_respawned_and_never_expose_partial_files(
    env: dict[str, str], mariadb: ThrowawayMariaDB, fault_database: str, tmp_path: Path
) -> None:
    store = tmp_path / "images"
    killed: list[int] = []
    with run_pixyproxy(env, workers=2) as server, StorePoller(store) as poller:
        master = server.process.pid
        wait_for_workers(master, 2)
        load = Traffic(server.url, readers=1, writers=4, pause_s=0, timeout_s=30).start()
        try:
            for _ in range(3):
                time.sleep(1.0)
                victim = random.choice(children(master))
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    workers = children(master)
                    if len(workers) == 2 and victim not in workers:
                        break
                    time.sleep(0.05)
                else:
                    raise AssertionError(f"no worker replaced {victim}: {children(master)}")
            time.sleep(1.0)
        finally:
            outcomes = load.stop()
        workers = wait_for_workers(master, 2)
        assert not set(workers) & set(killed), "every killed worker was replaced"
        with httpx.Client(base_url=server.url, timeout=30) as client:
            after = client.post("/image", json={"prompt": "after the kills"})
            assert after.status_code == 200, after.text
        time.sleep(0.1)  # one more look at the store

    assert poller.broken == [], "a partial file was visible under its final name"
    assert len(poller.seen) >= 10, "the poller saw the writes"
    assert {o.status for o in outcomes} <= {200, 0}, [
        o for o in outcomes if o.status not in (0, 200)
    ]
    succeeded = load.successful_writes() | {str(after.json()["guid"])}
    rows, files = image_rows(mariadb, fault_database), set(final_pngs(store))
    assert succeeded <= rows and succeeded <= files, "every 200 has its row and its file"

    # What the kills left behind (if a kill landed mid-write) is found and cleaned, once old
    # enough not to belong to a write in flight.
    age_files(store, 3600)
    report = storage_check(env)
    print(report.stdout)
    leftovers = (files - rows) | {str(p) for p in temp_files(store)} | (rows - files)
    assert report.returncode == (1 if leftovers else 0), report.stdout + report.stderr
    fixed = storage_check(env, "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    rows, files = image_rows(mariadb, fault_database), set(final_pngs(store))
    assert rows == files and succeeded <= rows and temp_files(store) == []
    assert storage_check(env).stdout.strip().endswith("clean")


def _blocked_insert(mariadb: ThrowawayMariaDB, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if mariadb.query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO images %'"
        ):
            return
        time.sleep(0.02)
    raise AssertionError("the generation never reached its INSERT")


_WRITE_A_BIG_IMAGE = """
import sys, uuid
from pathlib import Path
from pixyproxy.data.filestore import FileImageStore
data = b"\\x89PNG" + bytes(int(sys.argv[2]))
FileImageStore(Path(sys.argv[1])).put(uuid.uuid4(), "original", data)
"""


def crash_during_a_store_write(store: Path) -> Path:
    """SIGKILL a process in the middle of ``FileImageStore.put``; returns the temp file it left."""
    for size_mb in (64, 128, 256, 512):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITE_A_BIG_IMAGE, str(store), str(size_mb << 20)], cwd=REPO
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and writer.poll() is None:
                if found := temp_files(store):
                    writer.kill()
                    writer.wait(timeout=10)
                    if found[0].exists():
                        return found[0]
                time.sleep(0.001)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=10)
        for path in final_pngs(store).values():  # too quick to catch: try a bigger one
            if path.stat().st_size > 1 << 20:
                path.unlink()
    raise AssertionError("never caught a write in the middle")


def test_storage_check_reports_and_fixes_what_crashes_leave(
    env: dict[str, str], mariadb: ThrowawayMariaDB, fault_database: str, tmp_path: Path
) -> None:
    store = tmp_path / "images"
    with (
        run_pixyproxy(env, workers=1) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        good = [
            client.post("/image", json={"prompt": f"good {i}"}).json()["guid"] for i in range(3)
        ]

        # 1. A worker SIGKILLed after its file is in place, before its row is committed: the
        #    INSERT waits on a lock another session holds, and the worker dies meanwhile.
        locker = mariadb.connect(fault_database)
        try:
            with locker.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT * FROM images FOR UPDATE")
            errors: list[BaseException] = []

            def doomed() -> None:
                try:
                    client.post("/image", json={"prompt": "doomed"})
                except httpx.HTTPError as exc:
                    errors.append(exc)

            request = threading.Thread(target=doomed)
            request.start()
            _blocked_insert(mariadb)
            (worker,) = children(server.process.pid)
            os.kill(worker, signal.SIGKILL)
            request.join(timeout=30)
            assert errors, "the client saw its connection die"
        finally:
            locker.rollback()
            locker.close()
        wait_for_workers(server.process.pid, 1)
        assert client.get("/readyz").status_code == 200

    orphans = set(final_pngs(store)) - set(good)
    assert len(orphans) == 1, "the killed generation left its file without a row"
    (orphan,) = orphans
    assert image_rows(mariadb, fault_database) == set(good)

    # 2. A process SIGKILLed in the middle of writing a file: its temp file stays.
    leftover = crash_during_a_store_write(store)

    # 3. A file lost (a volume restored from an older snapshot): its row has no file.
    final_pngs(store)[good[0]].unlink()

    # Fresh leftovers may belong to requests in flight: they are left alone, even when
    # --grace asks for less than the longest a new file can wait for its row.
    orphan_path = store / orphan[:2] / f"{orphan}.png"
    for grace in ([], ["--grace", "0"], ["--grace", "-5"]):
        cautious = storage_check(env, *grace)
        assert cautious.returncode == 1
        assert f"row without file (found): {good[0]}" in cautious.stdout
        assert f"recent, left alone: {leftover}" in cautious.stdout
        assert f"recent, left alone: {orphan_path}" in cautious.stdout
        assert ("shorter than the longest a new file" in cautious.stderr) == bool(grace)

    # Older than that (as if the time had passed), they are found.
    age_files(store, 3600)
    report = storage_check(env)
    assert report.returncode == 1, report.stdout + report.stderr
    lines = report.stdout.splitlines()
    assert lines[0] == "3 images in the database"
    assert f"file without row (found): {store / orphan[:2] / (orphan + '.png')}" in lines
    assert f"row without file (found): {good[0]}" in lines
    assert f"temp leftover (found): {leftover}" in lines
    assert lines[-1] == "problems found"
    assert leftover.exists(), "a report changes nothing"

    fixed = storage_check(env, "--fix")
    assert fixed.returncode == 0 and fixed.stdout.strip().endswith("repaired"), fixed.stdout
    assert not leftover.exists() and temp_files(store) == []
    assert set(final_pngs(store)) == set(good[1:]) == image_rows(mariadb, fault_database)

    again = storage_check(env)
    assert again.returncode == 0 and again.stdout.splitlines() == [
        "2 images in the database",
        "clean",
    ]
