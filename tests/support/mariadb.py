"""A MariaDB server of our own (own datadir, own port) that tests may stop, freeze and kill.

The shared test server (PIXY_TEST_MYSQL_URL) is never touched. Needs the Debian
``mariadb-server`` package (``mariadbd``, ``mariadb-install-db``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pymysql

from tests.support.ports import free_port

INSTALL_TIMEOUT_S = 60
START_TIMEOUT_S = 30


def missing_binaries() -> list[str]:
    return [name for name in ("mariadbd", "mariadb-install-db") if not _which(name)]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


class ThrowawayMariaDB:
    """One mariadbd on 127.0.0.1 and a free port, root without a password."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mariadb.sock"
        self.log = base / "mariadb.err"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    # --- lifecycle -------------------------------------------------------------------------

    def install(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        command = [
            str(_which("mariadb-install-db")),
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *self._user_args(),
        ]
        result = subprocess.run(
            command, capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode("utf-8", "replace")
            raise RuntimeError(f"mariadb-install-db failed:\n{output[-3000:]}")

    def start(self) -> None:
        if self.running:
            return
        self.process = subprocess.Popen(
            [
                str(_which("mariadbd")),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.base / 'mariadb.pid'}",
                f"--log-error={self.log}",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--max-connections=200",
                # Handshakes the service gives up on (a frozen server) must not get the
                # test host blocked for the rest of the session.
                "--max-connect-errors=4294967295",
                *self._user_args(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited at start:\n{self.log_tail()}")
            with contextlib.suppress(pymysql.err.MySQLError):
                self.connect().close()
                return
            time.sleep(0.05)
        raise RuntimeError(f"mariadbd did not answer in {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None
        self.frozen = False

    def stop(self) -> None:
        """SIGTERM and wait: an orderly shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing answers, like a hung host."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.frozen = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def destroy(self) -> None:
        if self.frozen and self.running:
            self.thaw()
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- access ----------------------------------------------------------------------------

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str | None = None, **options: Any) -> pymysql.Connection[Any]:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=2,
            read_timeout=10,
            cursorclass=pymysql.cursors.DictCursor,
            **options,
        )

    def query(self, sql: str, params: Any = None, database: str | None = None) -> list[Any]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    @staticmethod
    def _user_args() -> list[str]:
        # mariadbd refuses to run as root unless told to; CI runs the tests as root.
        return ["--user=root"] if os.geteuid() == 0 else []
