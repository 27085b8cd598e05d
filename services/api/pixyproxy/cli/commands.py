"""What each ``pixyproxy`` command does, once the process's start-up is decided."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from pixyproxy.core.errors import ConfigurationError
from pixyproxy.core.settings import Settings
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import migrate, open_database, schema_version
from pixyproxy.data.stores import open_store
from pixyproxy.service.maintenance import check_storage, grace_floor_s
from pixyproxy.service.retention import MAX_PRUNE_BATCH, prune_images
from pixyproxy.serving import reloading, server
from pixyproxy.serving.startup import ServerStartup
from pixyproxy.web.auth import mint_token


def serve(args: argparse.Namespace, startup: ServerStartup) -> int:
    if startup.dev_token is not None:
        print(
            "dev mode: tokens are signed with a random secret for this run. Try:\n"
            f"  export TOKEN={startup.dev_token}\n"
            f'  curl -H "Authorization: Bearer $TOKEN" -d \'{{"prompt":"a red fox"}}\' '
            f"-H 'Content-Type: application/json' http://{args.host}:{args.port}/image",
            file=sys.stderr,
        )
    server.serve(startup, host=args.host, port=args.port)
    return 0  # not reached: gunicorn ends the process with its own exit status


def serve_reloading(args: argparse.Namespace, settings: Settings) -> int:
    reloading.run(host=args.host, port=args.port)
    return 0


def token(args: argparse.Namespace, settings: Settings) -> int:
    if args.ttl <= 0:
        raise ConfigurationError("--ttl: a positive number of seconds")
    print(mint_token(settings, args.sub, ttl_s=args.ttl))
    return 0


def db_init(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings)
    try:
        applied = migrate(database)
        version = schema_version(database)
    finally:
        database.close()
    done = f"applied {', '.join(map(str, applied))}" if applied else "already up to date"
    print(f"schema at version {version} ({done})")
    return 0


def storage_check(args: argparse.Namespace, settings: Settings) -> int:
    floor_s = grace_floor_s(settings)
    if args.grace < floor_s:
        print(
            f"pixyproxy: --grace {args.grace:g} is shorter than the longest a new file can"
            f" wait for its row with these PIXY_DB_* timeouts; using {floor_s:g} s",
            file=sys.stderr,
        )
    database = open_database(settings)
    try:
        report = check_storage(
            SqlImageRepository(database),
            open_store(settings),
            fix=args.fix,
            grace_s=args.grace,
            floor_s=floor_s,
        )
    finally:
        database.close()
    print("\n".join(report.lines()))
    return 0 if report.clean or report.fixed else 1


def images_prune(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.batch <= MAX_PRUNE_BATCH:
        raise ConfigurationError(f"--batch: from 1 to {MAX_PRUNE_BATCH} rows")
    database = open_database(settings)
    try:
        report = prune_images(
            SqlImageRepository(database),
            open_store(settings),
            before=datetime.now(UTC) - args.older_than,
            batch=args.batch,
            dry_run=args.dry_run,
        )
    finally:
        database.close()
    print("\n".join(report.lines()))
    return 0
