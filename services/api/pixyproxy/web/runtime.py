"""The long-lived parts of one app, built from its settings in its lifespan and reached
through dependencies: the database pool, the image store, the image use cases' parts (and
the task that keeps their caches coherent) and the token verifier. Nothing here is built
at import time, so tests can run many apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from anyio import to_thread

from pixyproxy.core.settings import Settings
from pixyproxy.data.changes import SqlChangeLog
from pixyproxy.data.database import Database
from pixyproxy.data.generators import build_generator
from pixyproxy.data.idempotency import SqlIdempotencyRepository
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import migrate, open_database
from pixyproxy.data.quotas import SqlQuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.data.stores import open_store
from pixyproxy.service.images import ImageServices
from pixyproxy.web.auth import DevTokens, TokenVerifier
from pixyproxy.web.content import XAccelRedirect


@dataclass(frozen=True)
class Runtime:
    database: Database
    store: ImageStore
    images: ImageServices
    tokens: TokenVerifier
    dev_tokens: DevTokens | None  # the gallery's dev sign-in; None outside dev mode
    # Origins content redirects send the browser to (the gallery's CSP allows them).
    image_origins: tuple[str, ...] = ()
    offload: XAccelRedirect | None = None  # nginx sends the content (PIXY_CONTENT_OFFLOAD)


def redirect_origins(settings: Settings) -> tuple[str, ...]:
    """Where ``PIXY_S3_CONTENT=redirect`` sends browsers: the endpoint's origin, or AWS S3's
    hosts. None otherwise: content comes from this origin."""
    if settings.storage_backend != "s3" or settings.s3_content != "redirect":
        return ()
    if settings.s3_endpoint_url is None:
        return ("https://*.amazonaws.com",)
    url = urlsplit(settings.s3_endpoint_url)
    return (f"{url.scheme}://{url.netloc}",)


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The runtime of one app, open while the block runs (the app's lifespan)."""
    to_thread.current_default_thread_limiter().total_tokens = settings.threads
    database = open_database(settings)
    generator = build_generator(settings)
    try:
        if settings.db_auto_migrate:
            await to_thread.run_sync(migrate, database)
        store = open_store(settings)
        images = ImageServices.assemble(
            settings,
            repository=SqlImageRepository(database),
            store=store,
            generator=generator,
            idempotency_keys=SqlIdempotencyRepository(database),
            quotas=SqlQuotaRepository(database),
            changes=SqlChangeLog(database),
        )
        async with anyio.create_task_group() as background:
            # Reads the change log while the app runs (service/coherence.py).
            background.start_soon(images.coherence.run)
            # Settles the files of writes whose commit was unconfirmed (service/settling.py).
            background.start_soon(images.unsettled.run)
            yield Runtime(
                database=database,
                store=store,
                images=images,
                tokens=TokenVerifier(settings),
                dev_tokens=DevTokens.for_settings(settings),
                image_origins=redirect_origins(settings),
                offload=(
                    XAccelRedirect(settings.content_offload_prefix, settings.storage_dir)
                    if settings.content_offload == "x-accel"
                    else None
                ),
            )
            background.cancel_scope.cancel()
    finally:
        await generator.aclose()
        database.close()
