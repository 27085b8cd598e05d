"""The ``pixyproxy`` command: serve, db init, storage check, images prune, token.

This module reads the command line and the settings, and decides where the process keeps
its metrics (``serving/startup.py``) before anything imports prometheus_client, which
fixes that choice when it is first imported; the commands themselves (``commands.py``)
are imported after. tests/cli/test_cli.py keeps this module free of such imports.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import timedelta

from pydantic import SecretStr

from pixyproxy.core.errors import PixyProxyException
from pixyproxy.core.settings import Settings, load_settings
from pixyproxy.service.maintenance import DEFAULT_GRACE_S, grace_floor_s
from pixyproxy.service.retention import DEFAULT_BATCH
from pixyproxy.serving import startup


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve" and not args.reload:
            # The server's start-up decisions come first, the metrics directory among them.
            server = startup.server_startup(settings, workers=args.workers or settings.workers)
        else:
            server = None
            startup.keep_metrics_in_memory()  # only gunicorn's workers are ever scraped
        from pixyproxy.cli import commands

        if server is not None:
            return commands.serve(args, server)
        handlers = {
            "serve": commands.serve_reloading,
            "db init": commands.db_init,
            "storage check": commands.storage_check,
            "images prune": commands.images_prune,
            "token": commands.token,
        }
        return handlers[args.command](args, settings)
    except PixyProxyException as exc:
        print(f"pixyproxy: {exc.message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixyproxy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API with gunicorn and uvicorn workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help="default: PIXY_WORKERS")
    serve.add_argument("--reload", action="store_true", help="plain uvicorn, reloading on change")
    serve.set_defaults(command="serve")

    db = commands.add_parser("db", help="database schema").add_subparsers(required=True)
    init = db.add_parser("init", help="create or upgrade the schema (safe to run concurrently)")
    init.set_defaults(command="db init")

    token = commands.add_parser("token", help="mint a bearer token with the HS* secret")
    token.add_argument("--sub", required=True, help="the caller's subject (becomes author)")
    token.add_argument(
        "--ttl", type=int, default=3600, metavar="SECONDS", help="lifetime (default %(default)s)"
    )
    token.set_defaults(command="token")

    storage = commands.add_parser("storage", help="image store").add_subparsers(required=True)
    check = storage.add_parser("check", help="files without rows, rows without files, leftovers")
    check.add_argument("--fix", action="store_true", help="remove what is found")
    check.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_S,
        metavar="SECONDS",
        help="leave files younger than this alone (default %(default)s); never less than the"
        " longest a new file can wait for its row, from the PIXY_DB_* timeouts, plus 60 s for"
        f" the filesystem ({_default_floor('mysql://db/pixyproxy')} on MySQL and"
        f" {_default_floor('sqlite:///pixyproxy.db')} on SQLite with the default timeouts)",
    )
    check.set_defaults(command="storage check")

    images = commands.add_parser("images", help="images").add_subparsers(required=True)
    prune = images.add_parser("prune", help="remove the images created before a cut-off")
    prune.add_argument(
        "--older-than",
        required=True,
        type=age,
        metavar="AGE",
        help="remove images created longer ago than this: 30d, 12h, 90m, 3600s",
    )
    prune.add_argument("--dry-run", action="store_true", help="count them, remove nothing")
    prune.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        metavar="N",
        help="rows removed per transaction (default %(default)s)",
    )
    prune.set_defaults(command="images prune")
    return parser


_AGE = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or ``3600s``: a positive whole number and its unit."""
    match = _AGE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and s, m, h or d, e.g. 30d")
    return timedelta(seconds=int(match[1]) * _AGE_UNITS[match[2]])


def _default_floor(database_url: str) -> str:
    settings = Settings.model_construct(database_url=SecretStr(database_url))
    return f"{grace_floor_s(settings):g} s"
