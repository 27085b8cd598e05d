"""The app factory. Nothing is built at import time: the database pool, the image store
and generator are made in the lifespan of each app (``runtime.py``), from the settings the
app was made with, so tests can build many apps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pixyproxy import __version__
from pixyproxy.core.settings import Settings
from pixyproxy.web import resources
from pixyproxy.web.authentication import AuthenticationMiddleware
from pixyproxy.web.limits import install_request_limits
from pixyproxy.web.logs import configure_logging
from pixyproxy.web.metrics import install_metrics_endpoint
from pixyproxy.web.problems import install_problem_handlers
from pixyproxy.web.requestlog import LogRoute, RequestLogMiddleware
from pixyproxy.web.runtime import open_runtime
from pixyproxy.web.slashes import TrailingSlashMiddleware


def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings`` as they are: the serving layer (``pixyproxy.serving``) has
    made the start-up decisions (a dev secret, the shared directories) before."""
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="PixyProxy",
        version=__version__,
        summary="Text prompt in, PNG out: OpenAI image generation with storage and search.",
        lifespan=lifespan,
        redirect_slashes=False,
        # Request metrics and logs are ours (prometheus, structlog); no OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # The resources' routes on the app's own router (resources/__init__.py says why).
        routes=resources.routes(),
        # The logging dependency: each resource router gives it to its routes, and the app
        # to the routes added to it directly (/metrics).
        dependencies=[LogRoute],
    )
    install_problem_handlers(app)
    app.add_middleware(AuthenticationMiddleware)  # any token, any route: inside the limits
    install_request_limits(app)  # inside the request-id middleware, before the routers
    install_metrics_endpoint(app)
    app.add_middleware(TrailingSlashMiddleware)  # /image/ is routed as /image
    # Outermost: request id, request.start/end and the request metrics.
    app.add_middleware(RequestLogMiddleware)
    return app
