"""MariaDB failing under a running service: stopped, frozen, connections killed or expired.

Every test runs its own throwaway MariaDB (own datadir, own port); the shared server is
never touched. The service is the real thing where it matters (``pixyproxy serve``:
gunicorn, two uvicorn workers) and the OpenAI mock stands in for the image service.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pixyproxy.core.settings import Settings
from pixyproxy.web.app import create_app
from tests.support.mariadb import ThrowawayMariaDB
from tests.support.mock_server import MockServer
from tests.support.problems import assert_problem
from tests.support.procs import wait_for_workers
from tests.support.servers import anonymous_server_env, run_pixyproxy, serve_in_thread
from tests.support.stored import final_pngs, temp_files
from tests.support.traffic import Outcome, Traffic, wait_until

pytestmark = pytest.mark.mysql

CONNECT_TIMEOUT_S = 1
READ_TIMEOUT_S = 2
WRITE_TIMEOUT_S = 2
POOL_TIMEOUT_S = 1
DB_TIMEOUTS = {
    "db_connect_timeout_s": CONNECT_TIMEOUT_S,
    "db_read_timeout_s": READ_TIMEOUT_S,
    "db_write_timeout_s": WRITE_TIMEOUT_S,
    "db_pool_timeout_s": POOL_TIMEOUT_S,
}
# One failed attempt to use the database: wait for a pooled connection, find it dead (a read
# times out), try a new one (the connect times out).
ONE_ATTEMPT_S = POOL_TIMEOUT_S + READ_TIMEOUT_S + CONNECT_TIMEOUT_S
SLACK_S = 1.5
# A file kept while the database could not say whether its row's commit landed goes at the
# service's next retry once it can (service/settling.py: every second).
SETTLE_S = 5


@pytest.fixture
def served(
    mariadb: ThrowawayMariaDB, fault_database: str, openai_mock: MockServer, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """``pixyproxy serve`` (two workers) on the throwaway database; yields (url, store)."""
    store = tmp_path / "images"
    env = anonymous_server_env(
        database_url=mariadb.url(fault_database),
        storage_dir=store,
        mock=openai_mock,
        # Every read goes to the database: with the caches, public details and list pages
        # would be served through the outage (see test_cached_reads_survive_an_outage).
        detail_cache_bytes=0,
        list_cache_bytes=0,
        **DB_TIMEOUTS,
    )
    with run_pixyproxy(env, workers=2) as server:
        wait_for_workers(server.process.pid, 2)
        yield server.url, store


def rows(mariadb: ThrowawayMariaDB, database: str) -> dict[str, str]:
    found = mariadb.query("SELECT guid, prompt FROM images", database=database)
    return {row["guid"]: row["prompt"] for row in found}


def assert_nothing_lost(
    mariadb: ThrowawayMariaDB, database: str, store: Path, succeeded: set[str]
) -> None:
    """Every 200 has its row and its file; every row has its file and every file its row,
    once the service has settled the writes whose commit it could not confirm."""

    def settled() -> bool:
        return set(final_pngs(store)) <= set(rows(mariadb, database))

    with contextlib.suppress(AssertionError):
        wait_until(settled, SETTLE_S)  # the assertions below say what is left if not
    in_db = set(rows(mariadb, database))
    on_disk = set(final_pngs(store))
    assert succeeded <= in_db, f"answered 200 but no row: {succeeded - in_db}"
    assert succeeded <= on_disk, f"answered 200 but no file: {succeeded - on_disk}"
    assert in_db - on_disk == set(), "rows without files"
    assert on_disk - in_db == set(), "files without rows"
    assert temp_files(store) == []


def assert_unavailable(outcome: Outcome) -> None:
    assert outcome.status == 503, outcome
    assert outcome.code == "database_unavailable", outcome
    assert outcome.retry_after is not None and int(outcome.retry_after) > 0, outcome


def test_database_stopped_under_traffic_answers_503_and_recovers(
    served: tuple[str, Path], mariadb: ThrowawayMariaDB, fault_database: str
) -> None:
    url, store = served
    with httpx.Client(base_url=url, timeout=10) as client:
        load = Traffic(url, readers=3, writers=2).start()
        try:
            time.sleep(1.5)
            killed = time.monotonic()
            mariadb.kill()
            time.sleep(0.5)
            ready = client.get("/readyz")
            assert_problem(ready, 503, "not_ready")
            assert ready.json()["checks"]["database"] != "ok"
            assert client.get("/healthz").status_code == 200
            time.sleep(2)
            restarting = time.monotonic()
            mariadb.start()
            restarted = time.monotonic()
            recovery_s = wait_until(
                lambda: client.get("/image", params={"limit": 1}).status_code == 200, 10
            )
            assert recovery_s < 5, f"answered 200 again {recovery_s:.1f}s after the restart"
            assert client.get("/readyz").status_code == 200
            time.sleep(1.5)
        finally:
            outcomes = load.stop()

    assert not [o for o in outcomes if o.status not in (200, 503)], "only 200 and 503 allowed"
    down = [o for o in outcomes if o.started > killed + 0.2 and o.ended < restarting]
    assert len({o.kind for o in down}) == 2 and len(down) >= 10, "traffic during the outage"
    for outcome in down:
        assert_unavailable(outcome)
    for outcome in (o for o in outcomes if o.status == 503):
        assert_unavailable(outcome)
        # refused connections fail fast; the configured timeouts bound everything else
        assert outcome.duration_s < 2 * ONE_ATTEMPT_S + SLACK_S, outcome
    after = [o for o in outcomes if o.started > restarted + recovery_s + 1]
    assert after and all(o.status == 200 for o in after), "every request after the recovery"
    succeeded = load.successful_writes()
    assert len(succeeded) >= 4
    assert_nothing_lost(mariadb, fault_database, store, succeeded)


def test_frozen_database_answers_503_within_the_timeouts(
    served: tuple[str, Path], mariadb: ThrowawayMariaDB, fault_database: str
) -> None:
    """SIGSTOP: connections stay open and nothing answers; only timeouts end the wait."""
    url, store = served
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/image", json={"prompt": "before the freeze"}).status_code == 200
        mariadb.freeze()
        try:
            results: dict[str, tuple[float, httpx.Response]] = {}

            def timed(name: str, call: Callable[[], httpx.Response]) -> None:
                started = time.monotonic()
                response = call()
                results[name] = (time.monotonic() - started, response)

            calls: dict[str, Callable[[], httpx.Response]] = {
                "list": lambda: client.get("/image"),
                "write": lambda: client.post("/image", json={"prompt": "during the freeze"}),
                "ready": lambda: client.get("/readyz"),
                "live": lambda: client.get("/healthz"),
            }
            threads = [threading.Thread(target=timed, args=item) for item in calls.items()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=40)
        finally:
            mariadb.thaw()
        recovery_s = wait_until(lambda: client.get("/image").status_code == 200, 10)
        assert recovery_s < 5
        after = client.post("/image", json={"prompt": "after the thaw"})
        assert after.status_code == 200

    took, response = results["list"]
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"]
    assert took < ONE_ATTEMPT_S + SLACK_S, f"a read waited {took:.1f}s"
    took, response = results["write"]
    assert_problem(response, 503, "database_unavailable")
    # the write tries once, then once more to learn whether its row was committed
    assert took < 2 * ONE_ATTEMPT_S + SLACK_S, f"a write waited {took:.1f}s"
    took, response = results["ready"]
    assert_problem(response, 503, "not_ready")
    assert took < ONE_ATTEMPT_S + SLACK_S
    took, response = results["live"]
    assert response.status_code == 200 and took < 1
    in_db = rows(mariadb, fault_database)
    assert "during the freeze" not in in_db.values()
    assert_nothing_lost(mariadb, fault_database, store, {str(after.json()["guid"])})


def test_a_worker_respawned_during_an_outage_serves_once_the_database_returns(
    mariadb: ThrowawayMariaDB, fault_database: str, openai_mock: MockServer, tmp_path: Path
) -> None:
    """The schema is migrated once, before the workers: a worker that starts while the
    database is down answers 503 instead of failing its startup, which would make gunicorn
    stop the whole server."""
    env = anonymous_server_env(
        database_url=mariadb.url(fault_database),
        storage_dir=tmp_path / "images",
        mock=openai_mock,
        db_auto_migrate=True,
        **DB_TIMEOUTS,
    )
    with (
        run_pixyproxy(env, workers=2) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        master = server.process.pid
        killed = wait_for_workers(master, 2)
        mariadb.kill()
        for worker in killed:
            os.kill(worker, signal.SIGKILL)
        wait_until(lambda: not set(wait_for_workers(master, 2)) & set(killed), 20)
        wait_until(lambda: client.get("/healthz").status_code == 200, 10)
        assert_problem(client.get("/image"), 503, "database_unavailable")
        mariadb.start()
        wait_until(lambda: client.get("/image").status_code == 200, 10)
        assert client.post("/image", json={"prompt": "after the outage"}).status_code == 200
        assert server.process.poll() is None, "the server kept running"


@pytest.fixture
def app_on_throwaway(
    mariadb: ThrowawayMariaDB,
    fault_database: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> Iterator[tuple[httpx.Client, Path]]:
    """The app in this process (uvicorn in a thread) on the throwaway database."""
    store = tmp_path / "images"
    settings = make_settings(
        database_url=mariadb.url(fault_database),
        storage_dir=store,
        anonymous_generation=True,
        db_connect_timeout_s=CONNECT_TIMEOUT_S,
        db_read_timeout_s=10,
        db_write_timeout_s=WRITE_TIMEOUT_S,
        db_pool_timeout_s=POOL_TIMEOUT_S,
    )
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client, store


def _blocked_insert_id(admin: ThrowawayMariaDB, table: str, timeout_s: float = 10) -> int:
    """The server thread id of the connection waiting to insert into ``table``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = admin.query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s",
            (f"INSERT INTO {table} %",),
        )
        if found:
            return int(found[0]["ID"])
        time.sleep(0.02)
    raise AssertionError(f"no INSERT INTO {table} waited on the lock")


@pytest.mark.parametrize("kill", ["CONNECTION", "QUERY"])
@pytest.mark.parametrize(
    "table",
    [
        pytest.param("images", id="before-the-row"),
        pytest.param("image_tags", id="row-written-not-committed"),
    ],
)
def test_connection_killed_in_the_middle_of_a_write(
    app_on_throwaway: tuple[httpx.Client, Path],
    mariadb: ThrowawayMariaDB,
    fault_database: str,
    table: str,
    kill: str,
) -> None:
    """Another session holds the gap lock an INSERT needs; the waiting INSERT is KILLed.

    Locking ``image_tags`` lets the image row in first, so the kill lands in the middle of
    the transaction, between the row and its tags.
    """
    client, store = app_on_throwaway
    first = client.post("/image", json={"prompt": "first", "tags": ["a"]})
    assert first.status_code == 200
    locker = mariadb.connect(fault_database)
    try:
        with locker.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"SELECT * FROM {table} FOR UPDATE")  # locks the gap after the last row
        answer: list[httpx.Response] = []
        writer = threading.Thread(
            target=lambda: answer.append(
                client.post("/image", json={"prompt": "killed", "tags": ["k"]})
            )
        )
        writer.start()
        victim = _blocked_insert_id(mariadb, table)
        mariadb.query(f"KILL {kill} %s", (victim,))
        writer.join(timeout=20)
        assert not writer.is_alive()
    finally:
        locker.rollback()
        locker.close()

    assert_problem(answer[0], 503, "database_unavailable")
    assert answer[0].headers["retry-after"]
    prompts = list(rows(mariadb, fault_database).values())
    assert prompts == ["first"], "no row for the killed write, and no duplicate"
    assert (
        mariadb.query("SELECT COUNT(*) AS n FROM image_tags", database=fault_database)[0]["n"] == 1
    )
    assert set(final_pngs(store)) == {first.json()["guid"]}, "no orphan file"
    assert temp_files(store) == []
    again = client.post("/image", json={"prompt": "after the kill"})
    assert again.status_code == 200, again.text
    assert_nothing_lost(
        mariadb, fault_database, store, {first.json()["guid"], again.json()["guid"]}
    )


def test_expired_idle_connections_are_replaced(
    mariadb: ThrowawayMariaDB, fault_database: str, openai_mock: MockServer, tmp_path: Path
) -> None:
    """The server closes connections idle for longer than ``wait_timeout``; the pool notices."""
    mariadb.query("SET GLOBAL wait_timeout = 2")  # sessions opened from now on
    store = tmp_path / "images"
    env = anonymous_server_env(
        database_url=mariadb.url(fault_database),
        storage_dir=store,
        mock=openai_mock,
        # The change log's reader would use every pooled connection in turn twice a second,
        # and none would stay idle long enough for the server to close it.
        change_poll_s=30,
        **DB_TIMEOUTS,
    )
    status = "SHOW GLOBAL STATUS LIKE 'Aborted_clients'"
    with run_pixyproxy(env, workers=1) as server, httpx.Client(base_url=server.url) as client:
        made = [client.post("/image", json={"prompt": f"warm {i}"}) for i in range(3)]
        assert all(r.status_code == 200 for r in made)
        assert client.get("/image").status_code == 200
        aborted_before = int(mariadb.query(status)[0]["Value"])
        time.sleep(3.5)
        # the server really closed the idle pooled connections
        assert int(mariadb.query(status)[0]["Value"]) > aborted_before
        listed = client.get("/image")
        assert listed.status_code == 200 and len(listed.json()) == 3
        assert client.get(f"/image/{made[0].json()['guid']}").status_code == 200
        time.sleep(3.5)
        later = client.post("/image", json={"prompt": "after the idle time"})
        assert later.status_code == 200, later.text
        assert client.get("/readyz").status_code == 200
    guids = {str(r.json()["guid"]) for r in [*made, later]}
    assert_nothing_lost(mariadb, fault_database, store, guids)


def test_cached_reads_stop_when_the_change_log_cannot_be_read(
    mariadb: ThrowawayMariaDB, fault_database: str, tmp_path: Path
) -> None:
    """Public details and anonymous list pages, once read, come from memory only while the
    worker has read the change log within the coherence bound (1 s): with the database
    down, it cannot know what another replica changed, so its caches go quiet and reads
    answer 503 like anything else that needs the database, until it is back."""
    env = anonymous_server_env(
        database_url=mariadb.url(fault_database),
        storage_dir=tmp_path / "images",
        **DB_TIMEOUTS,
    )
    with (
        run_pixyproxy(env, workers=1) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        created = client.post("/image", json={"prompt": "kept in memory"})
        assert created.status_code == 200
        guid = created.json()["guid"]
        assert client.get(f"/image/{guid}").status_code == 200  # read once: now cached
        listed = client.get("/image")
        assert listed.status_code == 200
        mariadb.kill()
        try:
            deadline = time.monotonic() + 15
            while (cached := client.get(f"/image/{guid}")).status_code == 200:
                assert cached.json() == created.json()  # within the bound: as it was
                assert time.monotonic() < deadline, "cached answers went on without the log"
                time.sleep(0.05)
            assert_unavailable_response(cached)
            assert_unavailable_response(client.get("/image"))
            assert_unavailable_response(client.get(f"/image/{guid}/content"))
        finally:
            mariadb.start()
        deadline = time.monotonic() + 30
        while (back := client.get(f"/image/{guid}")).status_code != 200:
            assert time.monotonic() < deadline, back.text
            time.sleep(0.2)
        assert back.json() == created.json() and client.get("/image").json() == listed.json()


def assert_unavailable_response(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
