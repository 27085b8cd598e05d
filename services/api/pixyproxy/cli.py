"""The ``pixyproxy`` command: serve, db init, storage check, token."""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pixyproxy.core.errors import ConfigurationError, PixyProxyException
from pixyproxy.core.settings import Settings, load_settings
from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import migrate, open_database, schema_version
from pixyproxy.service.maintenance import DEFAULT_GRACE_S, check_storage
from pixyproxy.web.auth import DEV_SUBJECT, MAX_SUBJECT_CHARS, mint_token, with_dev_secret

APP = "pixyproxy.web.app:create_app"
METRICS_DIR_PREFIX = "pixyproxy-metrics-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        result: int = args.handler(args, settings)
        return result
    except PixyProxyException as exc:
        print(f"pixyproxy: {exc.message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixyproxy", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API with gunicorn and uvicorn workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help="default: PIXY_WORKERS")
    serve.add_argument("--reload", action="store_true", help="plain uvicorn, reloading on change")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(required=True)
    init = db.add_parser("init", help="create or upgrade the schema (safe to run concurrently)")
    init.set_defaults(handler=_db_init)

    token = commands.add_parser("token", help="mint a bearer token with the HS* secret")
    token.add_argument("--sub", required=True, help="the caller's subject (becomes author)")
    token.add_argument(
        "--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime (default %(default)s)"
    )
    token.set_defaults(handler=_token)

    storage = commands.add_parser("storage", help="image store").add_subparsers(required=True)
    check = storage.add_parser("check", help="files without rows, rows without files, leftovers")
    check.add_argument("--fix", action="store_true", help="remove what is found")
    check.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_S,
        metavar="SECONDS",
        help="leave files younger than this alone (default %(default)s)",
    )
    check.set_defaults(handler=_storage_check)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    bind = f"{args.host}:{args.port}"
    if not settings.has_jwt_key:  # dev mode: one secret for every worker of this run
        settings = with_dev_secret(settings)
        secret = settings.jwt_secret
        assert secret is not None
        os.environ["PIXY_JWT_SECRET"] = secret.get_secret_value()
        print(
            "dev mode: tokens are signed with a random secret for this run. Try:\n"
            f"  export TOKEN={mint_token(settings, DEV_SUBJECT, ttl_s=24 * 3600)}\n"
            f'  curl -H "Authorization: Bearer $TOKEN" -d \'{{"prompt":"a red fox"}}\' '
            f"-H 'Content-Type: application/json' http://{bind}/image",
            file=sys.stderr,
        )
    if args.reload:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            APP,
            "--factory",
            "--reload",
            "--host",
            args.host,
            "--port",
            str(args.port),
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(gunicorn_config()),
            "--bind",
            bind,
            "--workers",
            str(args.workers or settings.workers),
            f"{APP}()",
        ]
        _private_metrics_dir()
    sys.stdout.flush()
    os.execv(sys.executable, command)  # replaces this process, so signals reach gunicorn


def _private_metrics_dir(base: Path | None = None) -> None:
    """Workers share their Prometheus values through files; without a directory chosen by
    the caller, use a fresh one for this run (gunicorn's config removes it at exit)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    if base is None:
        shm = Path("/dev/shm")  # noqa: S108 - tmpfs: the values are mmapped files
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    _remove_stale_metrics_dirs(base)
    # Named after this process, which exec turns into the gunicorn master.
    directory = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-", dir=base)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    os.environ["PIXY_OWNED_MULTIPROC_DIR"] = directory


def _remove_stale_metrics_dirs(base: Path) -> None:
    """Directories of earlier runs whose master was killed before it could remove them."""
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
    except PermissionError:
        return True
    return True


def gunicorn_config() -> Path:
    configured = os.environ.get("PIXY_GUNICORN_CONFIG")
    path = (
        Path(configured) if configured else Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
    )
    if not path.is_file():
        raise PixyProxyException(f"gunicorn config not found at {path}; set PIXY_GUNICORN_CONFIG")
    return path


def _token(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 < len(args.sub) <= MAX_SUBJECT_CHARS:
        raise ConfigurationError(f"--sub: 1 to {MAX_SUBJECT_CHARS} characters")
    if args.ttl <= 0:
        raise ConfigurationError("--ttl: a positive number of seconds")
    print(mint_token(settings, args.sub, ttl_s=args.ttl))
    return 0


def _db_init(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        applied = migrate(database)
        version = schema_version(database)
    finally:
        database.close()
    done = f"applied {', '.join(map(str, applied))}" if applied else "already up to date"
    print(f"schema at version {version} ({done})")
    return 0


def _storage_check(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        report = check_storage(
            SqlImageRepository(database),
            FileImageStore(settings.storage_dir),
            fix=args.fix,
            grace_s=args.grace,
        )
    finally:
        database.close()
    print("\n".join(report.lines()))
    return 0 if report.clean or report.fixed else 1
