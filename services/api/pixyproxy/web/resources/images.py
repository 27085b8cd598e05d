"""The image resource: generate, read, list, and serve content and thumbnails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse

from pixyproxy.core.models import (
    PNG_CONTENT_TYPE,
    WEBP_CONTENT_TYPE,
    GenerateRequest,
    ImageDetail,
    ImageListQuery,
    ThumbnailQuery,
)
from pixyproxy.service.pages import DetailPage
from pixyproxy.web.content import content_response
from pixyproxy.web.deps import OptionalCaller, images_for, runtime_of
from pixyproxy.web.limits import single_values
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
                "GetImageThumbnail": {
                    "operationId": "getImageThumbnail",
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
    images = images_for(request, caller)
    return JsonBody(await images.generate(body, idempotency_key=idempotency_key))


@router.api_route(
    "/image",
    methods=["GET"],
    response_model=list[ImageDetail],
    summary="List images, newest first",
    operation_id="listImages",
    dependencies=[single_values(ImageListQuery)],
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
    request: Request, caller: OptionalCaller, query: Annotated[ImageListQuery, Query()]
) -> Response:
    page = await images_for(request, caller).list(query)
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
    return JsonBody(await images_for(request, caller).get(guid))


def _bytes_responses(media_type: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a route that sends stored bytes (web/content.py)."""
    body = {media_type: {"schema": {"type": "string", "format": "binary"}}}
    return {
        200: {"content": body},
        206: {"description": "Partial Content", "content": body},
        304: {"description": "Not Modified"},
        **problem_responses(400, 404, 416),
    }


async def get_image_content(guid: UUID, request: Request, caller: OptionalCaller) -> Response:
    content = await images_for(request, caller).content(guid)
    return content_response(request, content, runtime_of(request).offload)


async def get_image_thumbnail(
    guid: UUID,
    request: Request,
    caller: OptionalCaller,
    query: Annotated[ThumbnailQuery, Query()],
) -> Response:
    thumbnail = await images_for(request, caller).thumbnail(guid, query.w)
    return content_response(request, thumbnail, runtime_of(request).offload)


def _add_bytes_routes(
    path: str,
    endpoint: Callable[..., Awaitable[Response]],
    *,
    operation: str,
    summaries: tuple[str, str],
    responses: dict[int | str, dict[str, Any]],
    dependencies: Sequence[Any] = (),
) -> None:
    """GET and HEAD of a route that sends stored bytes, as two operations: each method of an
    OpenAPI path has its own operation id. GET first: it is the one the bench's content
    scenario sends, and routes are tried in order."""
    for method, summary in zip(("GET", "HEAD"), summaries, strict=True):
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_class=FileResponse,
            summary=summary,
            responses=responses,
            operation_id=f"{method.lower()}{operation}",
            dependencies=list(dependencies),
        )


_add_bytes_routes(
    "/image/{guid}/content",
    get_image_content,
    operation="ImageContent",
    summaries=("The PNG", "The PNG's headers"),
    responses=_bytes_responses(PNG_CONTENT_TYPE),
)
_add_bytes_routes(
    "/image/{guid}/thumbnail",
    get_image_thumbnail,
    operation="ImageThumbnail",
    summaries=("A WebP thumbnail, made on its first request", "A WebP thumbnail's headers"),
    # 503 and 507 as well: the image store cannot keep a new thumbnail.
    responses={**_bytes_responses(WEBP_CONTENT_TYPE), **problem_responses(507)},
    dependencies=[single_values(ThumbnailQuery)],
)
