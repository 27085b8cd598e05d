"""The gunicorn worker class: uvicorn's worker, serving with PixyProxy's HTTP protocol.

gunicorn's config names it (``worker_class``); the protocol gets its deadlines from the
settings here, in the master, before the worker is forked.
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker

from pixyproxy.core.settings import load_settings
from pixyproxy.serving.protocol import protocol_for


class PixyProxyWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker is untyped
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Read by UvicornWorker.__init__ into its uvicorn Config. PixyProxy serves no
        # WebSockets: an Upgrade request is answered as plain HTTP, and no connection ever
        # leaves the protocol that keeps its deadlines.
        self.CONFIG_KWARGS = {
            **UvicornWorker.CONFIG_KWARGS,
            "http": protocol_for(load_settings()),
            "ws": "none",
        }
        super().__init__(*args, **kwargs)
