"""Liveness and readiness for probes and load balancers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import anyio
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pixyproxy.core.errors import PixyProxyException
from pixyproxy.data.database import ping
from pixyproxy.web.deps import RuntimeDep
from pixyproxy.web.problems import problem, problem_responses
from pixyproxy.web.requestlog import LogRoute

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"], dependencies=[LogRoute])

READINESS_TIMEOUT_S = 2.0


@router.get("/healthz", summary="Liveness: the process answers; touches nothing else")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and the image store is writable",
    responses={503: problem_responses(503)[503]},
)
async def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, Callable[[], None]] = {
        "database": partial(ping, runtime.database),
        "storage": runtime.store.check_writable,
    }
    failed: dict[str, str] = {}
    for name, check in checks.items():
        with anyio.move_on_after(READINESS_TIMEOUT_S) as scope:
            try:
                await to_thread.run_sync(check, abandon_on_cancel=True)
            except PixyProxyException as exc:
                failed[name] = exc.code
            except Exception:
                log.exception("readiness check %s failed", name)
                failed[name] = "error"
        if scope.cancelled_caught:
            failed[name] = "timeout"
    if failed:
        names = ", ".join(f"{name} ({reason})" for name, reason in failed.items())
        return problem(
            request,
            503,
            code="not_ready",
            detail=f"Not ready: {names}.",
            retry_after_s=5,
            extra={"checks": {name: failed.get(name, "ok") for name in checks}},
        )
    return JSONResponse({"status": "ready", "checks": {name: "ok" for name in checks}})
