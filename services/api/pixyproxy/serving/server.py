"""gunicorn in this process: the master forks the workers, and each worker builds its app
from the finished settings the master decided on (``startup.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from pixyproxy.serving import gunicorn_conf
from pixyproxy.serving.startup import ServerStartup
from pixyproxy.web.app import create_app


class GunicornServer(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """Runs ``make_app()`` in every worker under ``options`` (gunicorn's setting names)."""

    def __init__(self, make_app: Callable[[], Any], options: dict[str, Any]) -> None:
        self._make_app = make_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self._make_app()  # in the worker, after the fork


def serve(startup: ServerStartup, *, host: str, port: int) -> None:
    """Serve PixyProxy until gunicorn stops (it ends the process with its exit status)."""

    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options = gunicorn_conf.options(startup, bind=bind)
    GunicornServer(lambda: create_app(startup.settings), options).run()
