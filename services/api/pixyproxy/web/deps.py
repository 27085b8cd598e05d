"""FastAPI dependencies, as ``Annotated`` aliases the resources declare in their signatures.

They are ``async def`` although most do not await: FastAPI runs plain ``def`` dependencies
in the threadpool, a thread hop per dependency per request for what is an attribute
lookup. The image routes declare two (the logging dependency and the caller) and take
the use cases for the caller themselves (``images_for``): every dependency FastAPI solves
costs each request as much as reading a cached image does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pixyproxy.core.errors import AuthenticationRequired
from pixyproxy.core.models import Caller
from pixyproxy.service.images import CallerImages
from pixyproxy.service.private import PrivateImages
from pixyproxy.service.public import PublicImages
from pixyproxy.web.authentication import caller_of
from pixyproxy.web.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_optional_caller(request: Request) -> Caller | None:
    """The caller of a valid bearer token, or None without an Authorization header.

    The token was verified by the authentication middleware, which answers a bad one with
    a 401 on every route before any route runs.
    """
    return caller_of(request)


OptionalCaller = Annotated[Caller | None, Depends(get_optional_caller)]


def images_for(request: Request, caller: Caller | None) -> CallerImages:
    """The image use cases for this caller: what an anonymous caller may do, or what an
    authenticated one may do.

    A plain function the routes call with their ``OptionalCaller``, not one more dependency:
    FastAPI's solving of each dependency costs a cached read a tenth of its time.
    """
    images = runtime_of(request).images
    if caller is None:
        # The address uvicorn saw, after the proxies PIXY_FORWARDED_ALLOW_IPS trusts.
        return PublicImages(images, client=request.client.host if request.client else None)
    return PrivateImages(images, caller)


def private_images_for(request: Request, caller: Caller | None, action: str) -> PrivateImages:
    """The use cases of an authenticated caller, for a route only those may use (changing
    or deleting an image): an anonymous caller is a 401 before anything else is looked at,
    its body included. ``action`` names what needs the token, for the message."""
    if caller is None:
        raise AuthenticationRequired(f"{action} needs the author's or an admin's bearer token.")
    return PrivateImages(runtime_of(request).images, caller)
