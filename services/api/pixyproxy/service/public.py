"""Requests from anonymous callers: public images only, generation only where allowed."""

from __future__ import annotations

from pixyproxy.core.errors import AuthenticationRequired, InvalidRequest
from pixyproxy.core.models import GenerateRequest, ImageDetail
from pixyproxy.service.images import ImageDeps, ImageService


class PublicImageService(ImageService):
    def __init__(self, deps: ImageDeps) -> None:
        super().__init__(deps, viewer=None)

    async def generate(
        self, request: GenerateRequest, *, idempotency_key: str | None = None
    ) -> ImageDetail:
        if not self._deps.anonymous_generation:
            raise AuthenticationRequired("Generating images needs a bearer token.")
        if request.private:
            raise InvalidRequest(
                "Anonymous callers cannot create private images.",
                errors=[{"loc": ["body", "private"], "msg": "needs an authenticated caller"}],
            )
        return await self._generate(request, author=None, idempotency_key=idempotency_key)
