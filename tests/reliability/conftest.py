"""Fixtures of the fault tests: a throwaway MariaDB and a fresh database on it per test."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mariadb import ThrowawayMariaDB, missing_binaries
from tests.support.mysql import mysql_required

DEFAULT_WAIT_TIMEOUT_S = 28800


@pytest.fixture(scope="session")
def throwaway_mariadb() -> Iterator[ThrowawayMariaDB]:
    """A MariaDB server of this session's own, on its own port; never the shared one."""
    missing = missing_binaries()
    if missing:
        reason = f"a throwaway MariaDB needs {', '.join(missing)} (Debian mariadb-server)"
        if mysql_required():
            pytest.fail(f"{reason}; PIXY_REQUIRE_MYSQL is set")
        pytest.skip(reason)
    # A short path: a Unix socket path must stay under 108 bytes.
    server = ThrowawayMariaDB(Path(tempfile.mkdtemp(prefix="pixy-mdb-")))
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def mariadb(throwaway_mariadb: ThrowawayMariaDB) -> Iterator[ThrowawayMariaDB]:
    """The throwaway server, running and with default settings, whatever the test did to it."""
    server = throwaway_mariadb
    server.start()
    server.query("SET GLOBAL wait_timeout = %s", (DEFAULT_WAIT_TIMEOUT_S,))
    yield server
    if server.frozen:
        server.thaw()
    server.start()
    server.query("SET GLOBAL wait_timeout = %s", (DEFAULT_WAIT_TIMEOUT_S,))


@pytest.fixture
def fault_database(mariadb: ThrowawayMariaDB) -> Iterator[str]:
    """A fresh database on the throwaway server; returns its name (``mariadb.url(name)``)."""
    name = f"pixy_faults_{uuid.uuid4().hex[:8]}"
    mariadb.query(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    if mariadb.running and not mariadb.frozen:
        mariadb.query(f"DROP DATABASE IF EXISTS `{name}`")
