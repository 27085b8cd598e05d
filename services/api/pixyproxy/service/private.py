"""What an authenticated caller may do, and its rules.

- It sees public images and its own private ones (its subject is the viewer of every
  query), and nobody else's private images.
- It generates images as their author, public or private.
- Its idempotency keys and its generation quota are its own.
- It may edit and delete its own images (``editing.py``); an admin (``PIXY_JWT_ADMIN_CLAIM``)
  any image, to moderate. An admin reads like any other caller: public images and its
  own, never another's private image in details, lists or content; an edit's answer is the
  one place an admin sees a private image it does not own (the image it changed).
"""

from __future__ import annotations

from uuid import UUID

from pixyproxy.core.models import (
    Caller,
    GenerateRequest,
    IfMatch,
    ImageDetail,
    ImageListQuery,
    ImagePatch,
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

    async def edit(
        self, guid: UUID, patch: ImagePatch, *, if_match: IfMatch | None = None
    ) -> ImageDetail:
        return await self._services.editing.edit(guid, patch, caller=self.caller, if_match=if_match)

    async def delete(self, guid: UUID, *, if_match: IfMatch | None = None) -> None:
        await self._services.editing.delete(guid, caller=self.caller, if_match=if_match)
