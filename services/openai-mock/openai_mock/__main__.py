"""``python -m openai_mock`` / ``openai-mock``: serve the mock with uvicorn."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import uvicorn

from openai_mock.app import create_app
from openai_mock.behaviors import BEHAVIORS
from openai_mock.config import MockConfig, check_behavior, check_delay


def _behavior(value: str) -> str:
    try:
        return check_behavior(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _delay(value: str) -> float:
    try:
        return check_delay(float(value), "delay")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openai-mock",
        description="An OpenAI-compatible fake of the Images API with selectable failures.",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("OPENAI_MOCK_HOST", "127.0.0.1"),
        help="bind address, env OPENAI_MOCK_HOST (default 127.0.0.1; the image sets 0.0.0.0)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("OPENAI_MOCK_PORT", "8080")),
        help="port, env OPENAI_MOCK_PORT (default 8080)",
    )
    parser.add_argument(
        "--behavior",
        type=_behavior,
        default=os.environ.get("OPENAI_MOCK_BEHAVIOR", "ok"),
        help=f"default behavior, env OPENAI_MOCK_BEHAVIOR (one of: {', '.join(BEHAVIORS)})",
    )
    parser.add_argument(
        "--delay",
        type=_delay,
        default=os.environ.get("OPENAI_MOCK_DELAY_S", "0"),
        help="default delay in seconds before answering, env OPENAI_MOCK_DELAY_S (default 0)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("OPENAI_MOCK_LOG_LEVEL", "info"),
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level, env OPENAI_MOCK_LOG_LEVEL (default info)",
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    app = create_app(MockConfig(behavior=args.behavior, delay_s=args.delay))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        # hanging requests must not hold a shutdown for an hour
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
