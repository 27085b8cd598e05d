"""The image use cases assembled for service tests: on in-memory fakes, or on a real
database and image store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pixyproxy.core.settings import Settings
from pixyproxy.data.changes import SqlChangeLog
from pixyproxy.data.database import Database
from pixyproxy.data.generators import ImageGenerator
from pixyproxy.data.idempotency import SqlIdempotencyRepository
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.quotas import SqlQuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.data.stores import open_store
from pixyproxy.service.images import ImageServices
from tests.support.fakes import (
    FakeGenerator,
    FakeIdempotencyRepository,
    FakeImageRepository,
    FakeImageStore,
    FakeQuotaRepository,
)


@dataclass
class FakeClock:
    """A monotonic clock that moves only when told to."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fakes:
    """The fakes of one database and store; ``services`` assembles one worker's use cases on
    them, its caches fresh (the change log just read) until ``clock`` moves past the bound."""

    repository: FakeImageRepository = field(default_factory=FakeImageRepository)
    store: FakeImageStore = field(default_factory=FakeImageStore)
    generator: FakeGenerator = field(default_factory=FakeGenerator)
    idempotency: FakeIdempotencyRepository = field(default_factory=FakeIdempotencyRepository)
    quotas: FakeQuotaRepository = field(default_factory=FakeQuotaRepository)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.idempotency.images = self.repository  # one database: keys see the image rows

    def services(self, settings: Settings) -> ImageServices:
        """The use cases of one worker; several share these fakes as workers share a
        database (each with its caches, kept coherent through the fake change log)."""
        services = ImageServices.assemble(
            settings,
            repository=self.repository,
            store=self.store,
            generator=self.generator,
            idempotency_keys=self.idempotency,
            quotas=self.quotas,
            changes=self.repository.changes,
            monotonic=self.clock,
        )
        services.coherence.catch_up()
        return services


def sql_services(
    settings: Settings, database: Database, root: Path, generator: ImageGenerator
) -> tuple[ImageServices, SqlImageRepository, ImageStore]:
    """The use cases on a real database and the store the settings name: files under
    ``root``, or the S3 bucket of ``PIXY_S3_BUCKET``."""
    repository = SqlImageRepository(database)
    store = open_store(settings.model_copy(update={"storage_dir": root}))
    services = ImageServices.assemble(
        settings,
        repository=repository,
        store=store,
        generator=generator,
        idempotency_keys=SqlIdempotencyRepository(database),
        quotas=SqlQuotaRepository(database),
        changes=SqlChangeLog(database),
    )
    return services, repository, store
