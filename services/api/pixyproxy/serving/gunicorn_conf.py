"""gunicorn's configuration for PixyProxy: uvicorn workers, values from the settings, and
the hooks that carry out the start-up decisions in the master (``startup.py``).

``pixyproxy serve`` (and so the container) runs gunicorn in its own process with these
options (``server.py``); the benchmark's baselines run under ``base_options`` too, so
they are measured under the same server settings.
"""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from pixyproxy.core.settings import Settings
from pixyproxy.data.init import migrate, open_database
from pixyproxy.serving.memory import limit_malloc_arenas
from pixyproxy.serving.startup import ServerStartup, remove_made
from pixyproxy.web.logs import configure_logging


def base_options(settings: Settings, *, bind: str, workers: int) -> dict[str, Any]:
    """The server settings, with no start-up decisions of PixyProxy's own."""

    class PixyProxyLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
        """gunicorn's own lines, master's and workers', in PixyProxy's log format."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            configure_logging(settings)

    return {
        "bind": [bind],
        "workers": workers,
        "worker_class": "pixyproxy.serving.worker.PixyProxyWorker",
        # A SIGTERM lets in-flight generations finish: give them longer than the longest.
        "graceful_timeout": settings.graceful_timeout_s,
        "timeout": 60,  # heartbeat of a worker's event loop, not a request timeout
        "keepalive": 5,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # Heartbeat files on a tmpfs: a disk-backed /tmp can stall workers (and may be
        # read-only).
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,  # noqa: S108
        "accesslog": None,  # PixyProxy logs one request.end line per request itself
        "errorlog": "-",
        "logger_class": PixyProxyLogger,
        "loglevel": settings.log_level,
        "proc_name": "pixyproxy",
        # No runtime control socket: it would live in $HOME (read-only in the container)
        # and several servers on one machine would share its path.
        "control_socket_disable": True,
        "post_worker_init": _prepare_worker,
        "when_ready": lambda server: _warn_about_shutdown(server, settings),
    }


def options(startup: ServerStartup, *, bind: str) -> dict[str, Any]:
    """PixyProxy's server: the base options, and the hooks of its start-up decisions."""
    return {
        **base_options(startup.settings, bind=bind, workers=startup.workers),
        "on_starting": lambda server: _on_starting(server, startup),
        "child_exit": lambda server, worker: _child_exit(startup, worker),
        "on_exit": lambda server: remove_made(startup),
    }


def _on_starting(server: Any, startup: ServerStartup) -> None:
    if startup.migrate:
        _migrate_once(server, startup.settings)
    if startup.metrics_dir is not None:
        _empty(startup.metrics_dir)
        server.log.info("prometheus multiprocess mode, directory %s", startup.metrics_dir)


def _migrate_once(server: Any, settings: Settings) -> None:
    """The schema brought up to date here, once, before any worker starts."""
    database = open_database(settings)
    try:
        applied = migrate(database)
    finally:
        database.close()
    if applied:
        server.log.info("schema migrated to version %s", applied[-1])


def _empty(directory: Path) -> None:
    """Files of a previous run in the metrics directory would add up with this run's."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _child_exit(startup: ServerStartup, worker: Any) -> None:
    """Let the live gauges of a dead worker go."""
    if startup.metrics_dir is not None:
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _prepare_worker(worker: Any) -> None:
    """Before a worker serves: its start-up objects out of the cyclic collector, and few
    malloc arenas for the threads it is about to start (``memory.py``).

    The start-up objects live as long as the worker, yet every full collection walks them
    all (some 120,000 objects, about 50 ms on the bench machine) while the event loop
    waits: the slowest requests were those that met one. Frozen objects are still freed by
    reference counting.
    """
    gc.freeze()
    limit_malloc_arenas()


def _warn_about_shutdown(server: Any, settings: Settings) -> None:
    if settings.graceful_timeout_s <= settings.openai_timeout_s:
        server.log.warning(
            "PIXY_GRACEFUL_TIMEOUT_S (%s) is not longer than PIXY_OPENAI_TIMEOUT_S (%s): "
            "a shutdown can kill generations in flight",
            settings.graceful_timeout_s,
            settings.openai_timeout_s,
        )
