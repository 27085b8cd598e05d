"""What an anonymous caller may do, and its rules.

- It sees public images only: in details, content and lists alike another caller's
  private image answers exactly like a missing one.
- It may generate only where ``PIXY_ANONYMOUS_GENERATION`` allows, and only public images
  (a private image needs an author to be visible to).
- It may neither edit nor delete any image: 401, whether the image exists or not.
- Its idempotency keys and generation quota are those of its client address (after the
  proxies ``PIXY_FORWARDED_ALLOW_IPS`` trusts), an IPv6 client's by its /64 network, which
  one host may hold whole: one client can neither replay, block or claim another's keys
  nor spend another's quota.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from uuid import UUID

from pixyproxy.core.errors import AuthenticationRequired, InvalidRequest
from pixyproxy.core.models import (
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

# Anonymous owners start with a control character, which no subject may hold
# (web/claims.py): no token can name an anonymous client's keys or quota.
ANONYMOUS_PREFIX = "\x01anonymous "


def anonymous_owner(client: str | None) -> str:
    """Whose keys and quota an anonymous generation from ``client`` counts against."""
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return f"{ANONYMOUS_PREFIX}unknown"  # no address (a Unix socket): one owner for all
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{ANONYMOUS_PREFIX}{address.ipv4_mapped}"
        return f"{ANONYMOUS_PREFIX}{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"{ANONYMOUS_PREFIX}{address}"


class PublicImages:
    def __init__(self, services: ImageServices, *, client: str | None = None) -> None:
        """``client``: the caller's address, as the server saw it after trusted proxies."""
        self._services = services
        self._client = client

    @cached_property
    def owner(self) -> str:
        """Whose keys and quota this caller's generations count against: worked out only
        when asked, since parsing the address costs a cached read a few per cent and only
        a generation needs it."""
        return anonymous_owner(self._client)

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
            request, author=None, owner=self.owner, idempotency_key=idempotency_key
        )

    async def edit(
        self, guid: UUID, patch: ImagePatch, *, if_match: IfMatch | None = None
    ) -> ImageDetail:
        raise AuthenticationRequired("Changing an image needs its author's or an admin's token.")

    async def delete(self, guid: UUID, *, if_match: IfMatch | None = None) -> None:
        raise AuthenticationRequired("Deleting an image needs its author's or an admin's token.")
