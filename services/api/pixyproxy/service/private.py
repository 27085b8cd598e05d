"""What an authenticated caller may do, and its rules.

- It sees public images and its own private ones (its subject is the viewer of every
  query), and nobody else's private images.
- It generates images as their author, public or private.
- Its idempotency keys and its generation quota are its own.
"""

from __future__ import annotations

from uuid import UUID

from pixyproxy.core.models import (
    Caller,
    GenerateRequest,
    ImageDetail,
    ImageListQuery,
    ThumbnailWidth,
)
from pixyproxy.service.images import ImageServices
from pixyproxy.service.pages import DetailPage
from pixyproxy.service.reading import ImageContent


class PrivateImages:
    def __init__(self, services: ImageServices, caller: Caller) -> None:
        self._services = services
        self.caller = caller

    async def get(self, guid: UUID) -> ImageDetail:
        return await self._services.reading.get(guid, viewer=self.caller.subject)

    async def list(self, query: ImageListQuery) -> DetailPage:
        return await self._services.reading.list(query, viewer=self.caller.subject)

    async def content(self, guid: UUID) -> ImageContent:
        return await self._services.reading.content(guid, viewer=self.caller.subject)

    async def thumbnail(self, guid: UUID, width: ThumbnailWidth) -> ImageContent:
        return await self._services.reading.thumbnail(guid, width, viewer=self.caller.subject)

    async def generate(
        self, request: GenerateRequest, *, idempotency_key: str | None = None
    ) -> ImageDetail:
        subject = self.caller.subject
        return await self._services.generation.generate(
            request, author=subject, owner=subject, idempotency_key=idempotency_key
        )
