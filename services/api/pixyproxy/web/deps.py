"""FastAPI dependencies, as ``Annotated`` aliases the resources declare in their signatures.

They are ``async def`` although they do not await: FastAPI runs plain ``def`` dependencies
in the threadpool, a thread hop per dependency per request for what is a attribute lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from pixyproxy.core.models import Caller
from pixyproxy.service.private import PrivateImageService
from pixyproxy.service.public import PublicImageService
from pixyproxy.web.auth import parse_authorization
from pixyproxy.web.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_optional_caller(
    request: Request,
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller | None:
    """The caller of a valid bearer token, or None without an Authorization header.

    A header that is present but not a valid token is a 401 on every route, public ones too.
    """
    token = parse_authorization(authorization)
    if token is None:
        return None
    caller = await runtime.tokens.verify(token)
    request.state.subject = caller.subject
    return caller


OptionalCaller = Annotated[Caller | None, Depends(get_optional_caller)]


async def get_image_service(
    runtime: RuntimeDep, caller: OptionalCaller
) -> PublicImageService | PrivateImageService:
    """Anonymous callers get the public service, authenticated ones the private one."""
    if caller is None:
        return PublicImageService(runtime.images)
    return PrivateImageService(runtime.images, caller)


Images = Annotated[PublicImageService | PrivateImageService, Depends(get_image_service)]
