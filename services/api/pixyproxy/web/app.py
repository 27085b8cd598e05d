"""The app factory. Nothing is built at import time: settings, the database pool and the
image generator are made in the lifespan of each app, so tests can build many apps.

gunicorn starts it as ``pixyproxy.web.app:create_app()``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from pixyproxy import __version__
from pixyproxy.core.settings import Settings, load_settings
from pixyproxy.data.changes import open_change_counter
from pixyproxy.data.generators import build_generator
from pixyproxy.data.idempotency import SqlIdempotencyRepository
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import migrate, open_database
from pixyproxy.data.quotas import SqlQuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.service.cache import PublicImageCache
from pixyproxy.service.images import GenerationPolicy, ImageDeps, InFlightLimit
from pixyproxy.service.pages import PageCache
from pixyproxy.web.auth import DEV_SUBJECT, TokenVerifier, mint_token, with_dev_secret
from pixyproxy.web.authentication import AuthenticationMiddleware
from pixyproxy.web.limits import install_request_limits
from pixyproxy.web.logs import configure_logging, reveal
from pixyproxy.web.metrics import install_metrics_endpoint
from pixyproxy.web.problems import install_problem_handlers, method_table
from pixyproxy.web.requestlog import LogRoute, RequestLogMiddleware
from pixyproxy.web.resources import gallery, health, images
from pixyproxy.web.runtime import Runtime
from pixyproxy.web.slashes import TrailingSlashMiddleware

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)
    settings = _with_token_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.threads
        database = open_database(settings)
        generator = build_generator(settings)
        changes = open_change_counter(settings.shared_dir)
        try:
            if settings.db_auto_migrate:
                await to_thread.run_sync(migrate, database)
            app.state.runtime = Runtime(
                settings=settings,
                database=database,
                images=ImageDeps(
                    repository=SqlImageRepository(database),
                    store=ImageStore(settings.storage_dir),
                    generator=generator,
                    idempotency=SqlIdempotencyRepository(database),
                    quotas=SqlQuotaRepository(database),
                    in_flight=InFlightLimit(settings.max_in_flight_generations),
                    cache=PublicImageCache(settings.detail_cache_entries),
                    pages=PageCache(settings.list_cache_pages, ttl_s=settings.list_cache_ttl_s),
                    changes=changes,
                    policy=GenerationPolicy(
                        anonymous_generation=settings.anonymous_generation,
                        limit=settings.generation_limit,
                        window_s=settings.generation_window_s,
                        idempotency_stale_s=max(600, 2 * int(settings.openai_timeout_s)),
                    ),
                ),
                tokens=TokenVerifier(settings),
            )
            yield
        finally:
            await generator.aclose()
            database.close()
            changes.close()

    app = FastAPI(
        title="PixyProxy",
        version=__version__,
        summary="Text prompt in, PNG out: OpenAI image generation with storage and search.",
        lifespan=lifespan,
        redirect_slashes=False,
        # Request metrics and logs are ours (prometheus, structlog); no OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # The resources' routes, on the app's own router: an included router is matched
        # level by level on every request, a tenth of what serving a cached detail costs.
        # The logging dependency: each resource router gives it to its routes, and the app
        # to the routes added to it directly (/metrics).
        routes=[*images.router.routes, *health.router.routes, *gallery.router.routes],
        dependencies=[LogRoute],
    )
    install_problem_handlers(app)
    app.add_middleware(AuthenticationMiddleware)  # any token, any route: inside the limits
    install_request_limits(app)  # inside the request-id middleware, before the routers
    install_metrics_endpoint(app)
    app.add_middleware(TrailingSlashMiddleware)  # /image/ is routed as /image
    # Outermost: request id, request.start/end and the request metrics.
    app.add_middleware(RequestLogMiddleware)
    app.state.method_table = method_table(app.routes)
    return app


def _with_token_key(settings: Settings) -> Settings:
    """Dev mode without a key: a random secret for this app, and a token to try it with.

    ``pixyproxy serve`` makes the secret once for all workers instead, so this only runs
    when the app is started some other way.
    """
    if settings.has_jwt_key:
        return settings
    settings = with_dev_secret(settings)
    log.warning(
        "dev mode: no PIXY_JWT_* key configured; this run signs tokens with a random secret. "
        "Try: Authorization: Bearer <dev_token>",
        # the one token logs show on purpose: it is what dev mode is for
        extra={"dev_token": reveal(mint_token(settings, DEV_SUBJECT, ttl_s=24 * 3600))},
    )
    return settings
