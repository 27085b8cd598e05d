"""Requests from authenticated callers: they also see, and may create, their own private images."""

from __future__ import annotations

from pixyproxy.core.models import Caller, GenerateRequest, ImageDetail
from pixyproxy.service.images import ImageDeps, ImageService


class PrivateImageService(ImageService):
    def __init__(self, deps: ImageDeps, caller: Caller) -> None:
        super().__init__(deps, viewer=caller.subject)
        self.caller = caller

    async def generate(
        self, request: GenerateRequest, *, idempotency_key: str | None = None
    ) -> ImageDetail:
        return await self._generate(
            request, author=self.caller.subject, idempotency_key=idempotency_key
        )
