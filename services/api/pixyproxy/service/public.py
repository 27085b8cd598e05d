"""What an anonymous caller may do, and its rules.

- It sees public images only: in details, content and lists alike another caller's
  private image answers exactly like a missing one.
- It may generate only where ``PIXY_ANONYMOUS_GENERATION`` allows, and only public images
  (a private image needs an author to be visible to).
- Anonymous callers share one owner of idempotency keys and of the generation quota.
"""

from __future__ import annotations

from uuid import UUID

from pixyproxy.core.errors import AuthenticationRequired, InvalidRequest
from pixyproxy.core.models import GenerateRequest, ImageDetail, ImageListQuery, ThumbnailWidth
from pixyproxy.service.images import ImageServices
from pixyproxy.service.pages import DetailPage
from pixyproxy.service.reading import ImageContent

# Whose idempotency keys and quota anonymous generations share (no subject can be empty).
ANONYMOUS_OWNER = ""


class PublicImages:
    def __init__(self, services: ImageServices) -> None:
        self._services = services

    async def get(self, guid: UUID) -> ImageDetail:
        return await self._services.reading.get(guid, viewer=None)

    async def list(self, query: ImageListQuery) -> DetailPage:
        return await self._services.reading.list(query, viewer=None)

    async def content(self, guid: UUID) -> ImageContent:
        return await self._services.reading.content(guid, viewer=None)

    async def thumbnail(self, guid: UUID, width: ThumbnailWidth) -> ImageContent:
        return await self._services.reading.thumbnail(guid, width, viewer=None)

    async def generate(
        self, request: GenerateRequest, *, idempotency_key: str | None = None
    ) -> ImageDetail:
        if not self._services.anonymous_generation:
            raise AuthenticationRequired("Generating images needs a bearer token.")
        if request.private:
            raise InvalidRequest(
                "Anonymous callers cannot create private images.",
                errors=[{"loc": ["body", "private"], "msg": "needs an authenticated caller"}],
            )
        return await self._services.generation.generate(
            request, author=None, owner=ANONYMOUS_OWNER, idempotency_key=idempotency_key
        )
