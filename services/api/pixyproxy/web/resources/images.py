"""The image resource: generate, read, list, and serve content."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from pixyproxy.core.errors import InvalidRange, RangeNotSatisfiableError
from pixyproxy.core.models import (
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    TAG_PATTERN,
    GenerateRequest,
    ImageDetail,
    ImageFilter,
)
from pixyproxy.service.pages import DetailPage
from pixyproxy.web.deps import OptionalCaller, image_service
from pixyproxy.web.limits import SingleQueryValues
from pixyproxy.web.problems import problem_responses
from pixyproxy.web.requestlog import LogRoute

router = APIRouter(tags=["images"], dependencies=[LogRoute])


class JsonBody(Response):
    """Image details as JSON, from encodings made once (``ImageDetail.encoded``,
    ``DetailPage.encoded``): cached details and pages are served many times.

    Returning a Response spares FastAPI validating and serialising the response model again;
    the routes still declare ``response_model`` for the OpenAPI document.
    """

    media_type = "application/json"

    def __init__(self, content: ImageDetail | DetailPage, status_code: int = 200) -> None:
        super().__init__(content.encoded, status_code=status_code)


PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, no-store"


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key and body returns the first result.",
    ),
]


@router.api_route(
    "/image",
    methods=["POST"],
    response_model=ImageDetail,
    summary="Generate an image",
    responses={
        200: {
            "links": {
                "GetImage": {
                    "operationId": "getImage",
                    "parameters": {"guid": "$response.body#/guid"},
                },
                "GetImageContent": {
                    "operationId": "getImageContent",
                    "parameters": {"guid": "$response.body#/guid"},
                },
                "HeadImageContent": {
                    "operationId": "headImageContent",
                    "parameters": {"guid": "$response.body#/guid"},
                },
            }
        },
        **problem_responses(400, 409, 413, 429, 502, 507),
    },
    operation_id="generateImage",
)
async def generate_image(
    request: Request,
    body: GenerateRequest,
    caller: OptionalCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    images = image_service(request, caller)
    return JsonBody(await images.generate(body, idempotency_key=idempotency_key))


@router.api_route(
    "/image",
    methods=["GET"],
    response_model=list[ImageDetail],
    summary="List images, newest first",
    operation_id="listImages",
    dependencies=[SingleQueryValues],
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'The next page: <url>; rel="next"',
                    "schema": {"type": "string"},
                }
            }
        },
        **problem_responses(),
    },
)
async def list_images(
    request: Request,
    caller: OptionalCaller,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = LIST_LIMIT_DEFAULT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN.pattern)] = None,
    author: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> Response:
    images = image_service(request, caller)
    page = await images.list(ImageFilter(tag=tag, author=author, q=q), limit=limit, cursor=cursor)
    response = JsonBody(page)
    if page.next_cursor:
        next_url = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
    return response


@router.api_route(
    "/image/{guid}",
    methods=["GET"],
    response_model=ImageDetail,
    summary="One image's details",
    operation_id="getImage",
    responses=problem_responses(404),
)
async def get_image(guid: UUID, request: Request, caller: OptionalCaller) -> Response:
    return JsonBody(await image_service(request, caller).get(guid))


_PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}
CONTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": _PNG},
    206: {"description": "Partial Content", "content": _PNG},
    304: {"description": "Not Modified"},
    **problem_responses(400, 404, 416),
}


@router.api_route(
    "/image/{guid}/content",
    methods=["HEAD"],
    response_class=FileResponse,
    summary="The PNG's headers",
    responses=CONTENT_RESPONSES,
    operation_id="headImageContent",
)
@router.api_route(
    "/image/{guid}/content",
    methods=["GET"],
    response_class=FileResponse,
    summary="The PNG",
    responses=CONTENT_RESPONSES,
    operation_id="getImageContent",
)
async def get_image_content(guid: UUID, request: Request, caller: OptionalCaller) -> Response:
    content = await image_service(request, caller).content(guid)
    headers = {
        "ETag": content.etag,
        "Cache-Control": PRIVATE_CACHE if content.private else PUBLIC_CACHE,
    }
    if _matches(request.headers.get("if-none-match"), content.etag):
        return Response(status_code=304, headers=headers)
    if (range_header := request.headers.get("range")) is not None:
        _check_range(range_header, content.size_bytes)
    return ImageFileResponse(
        content.path, stat_result=content.stat, media_type=content.content_type, headers=headers
    )


class ImageFileResponse(FileResponse):
    # Each chunk is a threadpool hop: a 1 MB PNG in 4 reads rather than 16.
    chunk_size = 256 * 1024


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _check_range(header: str, size: int) -> None:
    """Answer bad ranges with problem JSON rather than Starlette's plain text."""
    try:
        FileResponse._parse_range_header(header, size)
    except MalformedRangeHeader as exc:
        raise InvalidRange(exc.content) from None
    except RangeNotSatisfiable:
        raise RangeNotSatisfiableError(size) from None
