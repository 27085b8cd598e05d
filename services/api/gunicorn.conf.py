"""gunicorn settings for PixyProxy: uvicorn workers, values from PIXY_* settings.

Used by ``pixyproxy serve`` and by the container (``gunicorn --config /app/gunicorn.conf.py
'pixyproxy.web.app:create_app()'``). Command-line flags still win over these values.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from pixyproxy.core.settings import load_settings
from pixyproxy.data.init import migrate, open_database
from pixyproxy.web.logs import configure_logging

_settings = load_settings()


class PixyProxyLogger(Logger):
    """gunicorn's own lines, master's and workers', in PixyProxy's log format on stdout."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(_settings)


bind = os.environ.get("PIXY_BIND", "127.0.0.1:8000")
workers = _settings.workers
worker_class = "pixyproxy.serving.worker.PixyProxyWorker"
# A SIGTERM lets in-flight generations finish: give them longer than the longest one.
graceful_timeout = _settings.graceful_timeout_s
timeout = 60  # heartbeat of a worker's event loop, not a request timeout
keepalive = 5
forwarded_allow_ips = _settings.forwarded_allow_ips
# Heartbeat files on a tmpfs: a disk-backed /tmp can stall workers (and may be read-only).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
accesslog = None  # PixyProxy logs one request.end line per request itself
errorlog = "-"
logger_class = PixyProxyLogger
loglevel = _settings.log_level
proc_name = "pixyproxy"
# No runtime control socket: it would live in $HOME (read-only in the container) and
# several servers on one machine would share its path.
control_socket_disable = True


def on_starting(server: Any) -> None:
    _migrate_once(server)
    _empty_multiproc_dir(server)
    _make_shared_dir(server)


def _migrate_once(server: Any) -> None:
    """With PIXY_DB_AUTO_MIGRATE, bring the schema up to date here, once, before any worker.

    Workers then start without touching the database: one respawned while the database is
    down (after a crash or an OOM kill) comes up and serves 503s until it returns, where a
    failed migration in its startup would make gunicorn stop the whole server.
    """
    if not _settings.db_auto_migrate:
        return
    database = open_database(_settings)
    try:
        applied = migrate(database)
    finally:
        database.close()
    if applied:
        server.log.info("schema migrated to version %s", applied[-1])
    os.environ["PIXY_DB_AUTO_MIGRATE"] = "false"  # inherited by every worker forked later


def _empty_multiproc_dir(server: Any) -> None:
    """Empty the Prometheus multiprocess directory: files of a previous run would add up."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    server.log.info("prometheus multiprocess mode, directory %s", directory)


def _make_shared_dir(server: Any) -> None:
    """A directory for what the workers share (the count of image changes that keeps their
    cached list pages current), made fresh for this run and inherited through the
    environment; on a tmpfs when there is one."""
    if os.environ.get("PIXY_SHARED_DIR"):
        return
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108
    directory = tempfile.mkdtemp(prefix="pixyproxy-", dir=parent)
    os.environ["PIXY_SHARED_DIR"] = directory
    os.environ["PIXY_OWNED_SHARED_DIR"] = directory
    server.log.debug("shared state in %s", directory)


def post_worker_init(worker: Any) -> None:
    """Keep the worker's imported modules and app out of the cyclic collector.

    They live as long as the worker, yet every full collection walks them all (some 120,000
    objects, about 50 ms on the bench machine) while the event loop waits: the slowest
    requests were those that met one. Frozen objects are still freed by reference counting.
    """
    gc.freeze()


def when_ready(server: Any) -> None:
    if _settings.graceful_timeout_s <= _settings.openai_timeout_s:
        server.log.warning(
            "PIXY_GRACEFUL_TIMEOUT_S (%s) is not longer than PIXY_OPENAI_TIMEOUT_S (%s): "
            "a shutdown can kill generations in flight",
            _settings.graceful_timeout_s,
            _settings.openai_timeout_s,
        )


def on_exit(server: Any) -> None:
    """Remove the directories made for this run."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.environ.get("PIXY_OWNED_MULTIPROC_DIR") == directory:
        shutil.rmtree(directory, ignore_errors=True)
    shared = os.environ.get("PIXY_OWNED_SHARED_DIR")
    if shared:
        shutil.rmtree(shared, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """Let the live gauges of a dead worker go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
