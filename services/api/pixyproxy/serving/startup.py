"""The composition root: what is decided once when PixyProxy starts, then handed down.

``pixyproxy serve`` decides in its own process, which then becomes the gunicorn master:

- the token key: in dev mode without one, a random secret for this run, and a token for
  the user ``dev`` to try it with;
- the Prometheus multiprocess directory (``PIXY_METRICS_DIR``, else a fresh private one).
  prometheus_client picks where its values live from ``PROMETHEUS_MULTIPROC_DIR`` when it
  is first imported, so this module sets that variable, the one place that does, before
  anything imports prometheus_client (``cli`` imports nothing that does);
- the schema migration: once, in the master, before any worker starts; the workers get
  settings that say not to, so a worker respawned during a database outage comes up and
  answers 503s instead of failing its start.

The workers receive all of it as one finished ``Settings`` object (gunicorn forks them),
not through the environment. A one-off command (``db init``, ``storage check``, ``token``)
keeps its metrics in memory and never touches the metrics directory.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pixyproxy.core.settings import Settings
from pixyproxy.web.auth import DEV_SUBJECT, mint_token, with_dev_secret

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own interface
METRICS_DIR_PREFIX = "pixyproxy-metrics-"
DEV_TOKEN_TTL_S = 24 * 3600


@dataclass(frozen=True)
class ServerStartup:
    """What ``pixyproxy serve`` decided, for the master and its workers."""

    settings: Settings  # what every worker's app is made with
    workers: int
    migrate: bool  # bring the schema up to date in the master, before the workers start
    metrics_dir: Path | None  # None: one process, metrics in memory
    made: tuple[Path, ...]  # directories made for this run, removed when it ends
    dev_token: str | None  # a token for the dev secret made for this run


def server_startup(settings: Settings, *, workers: int) -> ServerStartup:
    """The decisions of a server of ``workers`` gunicorn workers."""
    settings, dev_token = with_token_key(settings)
    made: list[Path] = []
    metrics = settings.metrics_dir
    if metrics is None:
        metrics = private_metrics_dir()
        made.append(metrics)
    metrics.mkdir(parents=True, exist_ok=True)  # values are written in it from the first import
    os.environ[MULTIPROC_VARIABLE] = str(metrics)
    worker_settings = settings.model_copy(update={"metrics_dir": metrics, "db_auto_migrate": False})
    return ServerStartup(
        settings=worker_settings,
        workers=workers,
        migrate=settings.db_auto_migrate,
        metrics_dir=metrics,
        made=tuple(made),
        dev_token=dev_token,
    )


def single_process(settings: Settings) -> tuple[Settings, str | None]:
    """The decisions of one process on its own (``serve --reload``): the token key; metrics
    in memory."""
    keep_metrics_in_memory()
    return with_token_key(settings)


def keep_metrics_in_memory() -> None:
    """For a process that is never scraped (a one-off command, ``serve --reload``): its
    counters stay in memory, whatever directory the environment names."""
    os.environ.pop(MULTIPROC_VARIABLE, None)


def with_token_key(settings: Settings) -> tuple[Settings, str | None]:
    """Dev mode without a key: settings with a random secret for this run, and a token for
    the user ``dev``. Otherwise the settings as they are, and no token."""
    if settings.has_jwt_key or settings.is_production:
        return settings, None
    settings = with_dev_secret(settings)
    return settings, mint_token(settings, DEV_SUBJECT, ttl_s=DEV_TOKEN_TTL_S)


def private_metrics_dir(base: Path | None = None) -> Path:
    """A fresh directory for this run's Prometheus values, named after this process (the
    master). Directories of earlier runs whose master died before removing them go first."""
    base = base or _tmpfs() or Path(tempfile.gettempdir())
    _remove_stale_metrics_dirs(base)
    return Path(tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-", dir=base))


def remove_made(startup: ServerStartup) -> None:
    for directory in startup.made:
        shutil.rmtree(directory, ignore_errors=True)


def _tmpfs() -> Path | None:
    """``/dev/shm`` when it is writable: the values are mmapped files."""
    shm = Path("/dev/shm")  # noqa: S108 - a tmpfs, not a shared temp directory
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def _remove_stale_metrics_dirs(base: Path) -> None:
    for path in base.glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(METRICS_DIR_PREFIX).split("-", 1)[0]
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if (
            pid.isdigit()
            and stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.getuid()
            and not _alive(int(pid))
        ):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        pass
    return True
