"""The baselines the bench compares PixyProxy against, each served under the same gunicorn
options (``pixyproxy.serving.gunicorn_conf.base_options``) and worker count as PixyProxy:

    BENCH_BASELINE_FILE=/path/to/1mb.png python -m bench.baseline create_fastapi_app \\
        --port 8001 --workers 2

``create_fastapi_app()`` (what the targets compare with by default): a minimal FastAPI app, one
route per scenario, no middleware and no dependencies. ``GET /image/{guid}`` returns one fixed
ImageDetail through ``response_model``; ``GET /image/{guid}/content`` returns one fixed 1 MB
PNG through Starlette's ``FileResponse``.

``create_asgi_app()``: the same two answers from a raw ASGI callable, no framework (the JSON
encoded once at start): the floor of gunicorn, uvicorn and the HTTP exchange.

Both answer ``GET /healthz``. Neither touches a database or validates anything.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

FILE_VARIABLE = "BENCH_BASELINE_FILE"

DETAIL: dict[str, Any] = {
    "guid": "4f6d3a8e-2b1c-4e5f-9a7b-0c1d2e3f4a5b",
    "prompt": "a lighthouse at dusk, oil painting, variation 4242",
    "filename": "4f6d3a8e-2b1c-4e5f-9a7b-0c1d2e3f4a5b.png",
    "tags": ["landscape", "night"],
    "author": "user-02",
    "private": False,
    "created_at": "2025-01-02T19:36:34.000000Z",
    "updated_at": "2025-01-02T19:36:34.000000Z",
    "content_type": "image/png",
    "size_bytes": 1014485,
    "width": 1024,
    "height": 1024,
    "model": "bench-seed",
    "content_url": "/image/4f6d3a8e-2b1c-4e5f-9a7b-0c1d2e3f4a5b/content",
}


def _fixed(body: bytes, content_type: bytes, status: int = 200) -> App:
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    end = {"type": "http.response.body", "body": body}

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send(end)

    return answer


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _file(file: Path | None) -> Path:
    if file is None:
        configured = os.environ.get(FILE_VARIABLE)
        if not configured:
            raise RuntimeError(f"{FILE_VARIABLE} must name the file the baseline serves")
        file = Path(configured)
    if not file.is_file():
        raise RuntimeError(f"{FILE_VARIABLE}: {file} is not a file")
    return file


def create_asgi_app(file: Path | None = None) -> App:
    """The raw ASGI baseline; ``file`` (default ``$BENCH_BASELINE_FILE``) is the 1 MB PNG."""
    file = _file(file)
    detail = _fixed(json.dumps(DETAIL, separators=(",", ":")).encode(), b"application/json")
    health = _fixed(b'{"status":"ok"}', b"application/json")
    not_found = _fixed(b'{"status":404}', b"application/json", 404)
    path_of_file = str(file)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/image"):
            if path.endswith("/content"):
                await FileResponse(path_of_file, media_type="image/png")(scope, receive, send)
            else:
                await detail(scope, receive, send)
        elif path == "/healthz":
            await health(scope, receive, send)
        else:
            await not_found(scope, receive, send)

    return app


def create_fastapi_app(file: Path | None = None) -> Any:
    """The minimal FastAPI baseline; ``file`` as for ``create_asgi_app``."""
    from fastapi import FastAPI

    from pixyproxy.core.models import ImageDetail

    path_of_file = str(_file(file))
    detail = ImageDetail.model_validate(DETAIL)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/image/{guid}", response_model=ImageDetail)
    async def get_image(guid: str) -> ImageDetail:
        return detail

    @app.get("/image/{guid}/content", response_class=FileResponse)
    async def get_content(guid: str) -> FileResponse:
        return FileResponse(path_of_file, media_type="image/png")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


FACTORIES = {"create_fastapi_app": create_fastapi_app, "create_asgi_app": create_asgi_app}


def main(argv: list[str] | None = None) -> None:
    """Serve one baseline under PixyProxy's gunicorn options until stopped."""
    from pixyproxy.core.settings import load_settings
    from pixyproxy.serving.gunicorn_conf import base_options
    from pixyproxy.serving.server import GunicornServer

    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("factory", choices=sorted(FACTORIES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    options = base_options(load_settings(), bind=f"{args.host}:{args.port}", workers=args.workers)
    GunicornServer(FACTORIES[args.factory], options).run()


if __name__ == "__main__":
    main()
