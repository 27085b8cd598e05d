"""Log configuration: structlog and the standard library share one renderer on stdout.

``configure_logging`` runs in the app factory (and in gunicorn's master, through its logger
class in ``serving/gunicorn_conf.py``): every line, whether it comes from structlog,
uvicorn, gunicorn, DBUtils, the OpenAI SDK or httpx, goes through the same
``ProcessorFormatter`` and comes out as one JSON object per line (``PIXY_LOG_FORMAT=json``,
the production format) or as readable console text (``console``; ``auto`` picks console on
a TTY, JSON otherwise).

Every line passes through ``redact`` before it is rendered: values under keys that name a
secret, bearer tokens, JWTs, ``sk-...`` API keys and passwords in URLs never reach the
output. ``reveal`` exempts one value on purpose (the dev-mode token printed for the
developer).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, Final

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from pixyproxy.core.settings import Settings

REDACTED: Final = "[REDACTED]"

# Standard-library loggers whose own handlers are dropped so they reach the root handler.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn.error", "dbutils", "openai", "httpx")
# Access lines come from our request.end, not from the servers.
_SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")
# Chatty below WARNING (one line per HTTP call, with URLs): shown only at debug level.
_QUIET_LOGGERS = ("httpx", "httpcore", "openai", "hpack", "multipart")

_SECRET_KEY = re.compile(
    r"passw(or)?d|pwd|secret|token|api[_-]?key|authorization|cookie|credential|private[_-]?key",
    re.IGNORECASE,
)
_SECRET_WORD = r"passw(?:or)?d|pwd|secret|token|api[_-]?key|authorization"  # noqa: S105 - a pattern of names
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in any URL (mysql://, https://, ...)
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):[^\s@/]*@"), rf"\1:{REDACTED}@"),
    # password=... (DSNs, query strings) and 'api_key': '...' (reprs of mappings)
    (
        re.compile(
            rf"""(\b\w*(?:{_SECRET_WORD})=|["']\w*(?:{_SECRET_WORD})["']\s*:\s*["']?)"""
            r"""[^\s"',;&)}\]]+""",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    # Authorization: Bearer <token> / Basic <credentials>
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE), rf"\1 {REDACTED}"),
    # JWTs anywhere (header.payload.signature, base64url)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # OpenAI-style API keys
    (re.compile(r"\bsk-[A-Za-z0-9_-]{3,}"), f"sk-{REDACTED}"),
)


class Revealed(str):
    """A string ``redact`` leaves alone; see ``reveal``."""

    __slots__ = ()


def reveal(value: str) -> Revealed:
    """Mark one value as safe to log as it is (the dev-mode token meant for the developer)."""
    return Revealed(value)


# Every pattern above needs one of these; most values have none, and skip the patterns.
_MAYBE_SECRET = re.compile(r"://|=|['\"]|bearer|basic|eyJ|sk-", re.IGNORECASE)


def redact_text(text: str) -> str:
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


_PLAIN = frozenset({int, float, bool, type(None)})


def _redact_value(key: str | None, value: Any) -> Any:
    kind = type(value)
    if kind is Revealed:
        return value
    if key is not None and _is_secret_key(key) and value not in (None, "", True, False):
        return REDACTED
    if kind is str:
        return redact_text(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, str):  # str subclasses (enums and the like)
        return redact_text(str(value))
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(None, item) for item in value]
    if isinstance(value, int | float):
        return value
    return redact_text(repr(value))


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: scrub secrets from every key and value of the event."""
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's colored copy of the message
    return event_dict


def _add_pid(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("pid", os.getpid())
    return event_dict


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (test capture swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def use_json(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return not sys.stdout.isatty()
    return settings.log_format == "json"


def build_formatter(settings: Settings) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter of the process; stdlib records get the same fields as ours."""
    renderer: Processor
    if use_json(settings):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_color_message,
            _add_pid,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.StackInfoRenderer(),
            redact,
            renderer,
        ],
    )


def configure_logging(settings: Settings) -> None:
    """Set up structlog and the standard library; safe to call again (tests build many apps)."""
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.PositionalArgumentsFormatter(),
            _add_pid,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    handler = _StdoutHandler()
    handler.set_name("pixyproxy")
    handler.setFormatter(build_formatter(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    for name in _ROUTED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.disabled = False
        logger.setLevel(logging.NOTSET)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if level <= logging.DEBUG else logging.WARNING
        )
    for name in _SILENCED_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = False
        logger.disabled = True
    logging.captureWarnings(True)


def get_logger(name: str) -> Any:
    """A structlog logger that renders through the standard library's root handler."""
    return structlog.stdlib.get_logger(name)
