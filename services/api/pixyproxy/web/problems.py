"""Every error as RFC 9457 problem JSON, whatever raised it.

Only messages written for callers reach them: our exceptions carry such messages, and any
other exception becomes a bare 500 that names its request id; the details go to the log.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from pixyproxy.core.errors import InvalidRequest, PixyProxyException

log = logging.getLogger("pixyproxy.web")

PROBLEM_CONTENT_TYPE = "application/problem+json"

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "authentication_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "content_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    431: "request_header_fields_too_large",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_CONTENT_TYPE


def problem(
    request: Request,
    status: int,
    *,
    code: str,
    detail: str,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    retry_after_s: int | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemResponse:
    request_id = request_id_of(request)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _title(status),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
        **(extra or {}),
    }
    all_headers = dict(headers or {})
    if retry_after_s is not None:
        all_headers["Retry-After"] = str(retry_after_s)
    if request_id:
        all_headers["X-Request-ID"] = request_id
    return ProblemResponse(body, status_code=status, headers=all_headers)


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path: the ``Allow`` of a 405.

    Each route says whether it matches the path but not the method (``Match.PARTIAL``);
    Starlette's own 405 names only the first such route's methods.
    """
    allowed: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        methods = getattr(route, "methods", None)
        if match is Match.PARTIAL and methods:
            allowed |= methods
    return sorted(allowed)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PixyProxyException, pixyproxy_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def pixyproxy_problem(request: Request, exc: PixyProxyException) -> ProblemResponse:
    if exc.status >= 500:
        log.warning("request failed: %s (%s)", exc.code, exc.message, exc_info=exc.__cause__)
    extra = {"errors": exc.errors} if isinstance(exc, InvalidRequest) and exc.errors else None
    return problem(
        request,
        exc.status,
        code=exc.code,
        detail=exc.message,
        title=exc.title,
        headers=exc.headers,
        retry_after_s=exc.retry_after_s,
        extra=extra,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    where = ", ".join(".".join(error["loc"]) for error in errors[:5])
    return problem(
        request,
        422,
        code="validation_failed",
        detail=f"The request is not valid: {where}." if where else "The request is not valid.",
        extra={"errors": errors},
    )


async def _http_exception(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route for {request.method} {request.url.path}."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the methods of the first route that matched the path.
        headers["Allow"] = ", ".join(allowed_methods(request))
        detail = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}."
    return problem(
        request,
        exc.status_code,
        code=_CODES_BY_STATUS.get(exc.status_code, "http_error"),
        detail=detail,
        headers=headers,
    )


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.error("unhandled error", exc_info=exc)
    request_id = request_id_of(request)
    return problem(
        request,
        500,
        code="internal_error",
        detail=f"The request failed (request id {request_id}).",
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer challenge.", "schema": {"type": "string"}}},
    416: {"Content-Range": {"description": "bytes */<size>", "schema": {"type": "string"}}},
    409: _RETRY_AFTER,
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}

# What any route may answer: a bad token, a request over the size limits, bad input, a
# crash, the database being away.
COMMON_PROBLEMS = (401, 413, 414, 422, 431, 500, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries: problem JSON for each status, with its headers."""
    return {
        status: {
            "description": _title(status),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
            **({"headers": _PROBLEM_HEADERS[status]} if status in _PROBLEM_HEADERS else {}),
        }
        for status in sorted({*COMMON_PROBLEMS, *statuses})
    }
