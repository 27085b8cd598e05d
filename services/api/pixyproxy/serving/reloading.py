"""``pixyproxy serve --reload``: plain uvicorn, one process, restarted on every code change.

uvicorn starts the app in a child process of its own, from an import string, so that
process makes its start-up decisions itself (``startup.single_process``): metrics in
memory, and in dev mode without a key a new secret at
every restart (set ``PIXY_JWT_SECRET`` to keep tokens across restarts).
"""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from pixyproxy.core.settings import load_settings
from pixyproxy.serving.startup import single_process
from pixyproxy.web import app
from pixyproxy.web.logs import reveal

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    """The app of one reloading process, from the environment's settings."""
    settings, dev_token = single_process(load_settings())
    made = app.create_app(settings)
    if dev_token is not None:
        log.warning(
            "dev mode: no PIXY_JWT_* key configured; this run signs tokens with a random "
            "secret. Try: Authorization: Bearer <dev_token>",
            # the one token logs show on purpose: it is what dev mode is for
            extra={"dev_token": reveal(dev_token)},
        )
    return made


def run(*, host: str, port: int) -> None:
    uvicorn.run(f"{__name__}:create_app", factory=True, reload=True, host=host, port=port)
