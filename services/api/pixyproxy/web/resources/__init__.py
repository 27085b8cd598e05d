"""The resources' routes, and how they reach the app.

FastAPI's own way to add a router's routes is ``app.include_router``. Since FastAPI 0.137
an included router stays a router of its own, matched level by level on every request;
the routes built by each resource's ``APIRouter`` (its dependencies, tags and responses
already applied to them) are put on the app's own router instead. Measured with callgrind
on the request path (uvicorn, httptools and the app, whole requests over HTTP, instructions
per request): included routers cost GET /image/{guid} 818,504 -> 999,026 (+22 %) and
GET /image?limit=50 1,346,465 -> 1,514,383 (+12 %); the content of a 1 MB PNG +7 % in the
app alone.
tests/web/test_routes.py fails if the routes put here stop being the ones include_router
would serve (their dependencies, parameters, responses and OpenAPI document).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from pixyproxy.web.resources import gallery, health, images

ROUTERS = (images.router, health.router, gallery.router)


def routes() -> list[BaseRoute]:
    """Every route of every resource router, for the app's own router."""
    return [route for router in ROUTERS for route in router.routes]
