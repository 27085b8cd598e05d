"""The resources' routes sit on the app's own router rather than in included routers
(web/resources/__init__.py has the measurement). This fails if FastAPI changes so that the
routes put there stop being what ``include_router`` would serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from pixyproxy.core.settings import Settings
from pixyproxy.web import resources
from pixyproxy.web.app import create_app
from pixyproxy.web.requestlog import LogRoute


def included(app: FastAPI) -> FastAPI:
    """An app of the same routers, added the framework's own way."""
    reference = FastAPI(
        title=app.title, version=app.version, summary=app.summary, dependencies=[LogRoute]
    )
    for router in resources.ROUTERS:
        reference.include_router(router)
    return reference


def document(app: FastAPI) -> dict[str, Any]:
    openapi = app.openapi()
    return {"paths": openapi["paths"], "components": openapi.get("components")}


def test_the_routes_are_those_include_router_would_serve(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    assert document(app) == document(included(app))
    ours = [route for route in app.routes if isinstance(route, APIRoute)]
    assert {(r.path, frozenset(r.methods)) for r in ours} >= {
        (r.path, frozenset(r.methods))
        for router in resources.ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute)
    }
    for route in resources.routes():
        if isinstance(route, Mount):
            continue  # the gallery's assets: no dependencies, not in the OpenAPI document
        assert isinstance(route, APIRoute), route
        # the resource router's own dependency (request logging) is on the route itself
        assert route.dependencies[0].dependency is LogRoute.dependency, route.path
