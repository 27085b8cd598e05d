"""scripts/smoke.py against a tiny in-process fake of the PixyProxy API.

The fake implements just enough of DESIGN §2-4 for the smoke test (readiness, generate, get,
list with Link paging, content, the anonymous 401, metrics) and can break one step at a
time, so these tests prove the script passes a good server and names the step that fails.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.png import rgb_png
from tests.support.servers import serve_in_thread
from tests.support.tokens import token

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scripts" / "smoke.py"
SUBJECT = "smoke-tester"


def png(width: int, height: int) -> bytes:
    return rgb_png(width, [b"\xff\x00\x00" * width] * height)


TOKEN = token(SUBJECT, ttl_s=86400)  # made at collection, maybe long before the tests run


@dataclass
class FakeState:
    broken: str | None = None
    anonymous_generation: bool = False
    images: list[dict[str, Any]] = field(default_factory=list)
    posts: int = 0
    generations: int = 0

    def reset(self) -> None:
        self.broken = None
        self.anonymous_generation = False
        self.posts = 0
        self.generations = 0
        # Two older smoke images first, so the new one is only found on page 3.
        self.images = [self.new_image("older smoke image", None) for _ in range(2)]

    @staticmethod
    def new_image(prompt: str, author: str | None, tags: list[str] | None = None) -> dict[str, Any]:
        guid = str(uuid.uuid4())
        return {
            "guid": guid,
            "prompt": prompt.strip(),
            "filename": f"{guid}.png",
            "tags": tags if tags is not None else ["smoke"],
            "author": author,
            "private": False,
            "created_at": "2025-01-02T03:04:05Z",
            "updated_at": "2025-01-02T03:04:05Z",
            "content_type": "image/png",
            "size_bytes": len(PNG),
            "width": 4,
            "height": 3,
            "model": "fake-image-1",
            "content_url": f"/image/{guid}/content",
        }


PNG = png(4, 3)
STATE = FakeState()


def problem(status: int, code: str, title: str, **headers: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "code": code}
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def subject(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    payload = auth.removeprefix("Bearer ").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


def find(guid: str) -> dict[str, Any] | None:
    return next((image for image in STATE.images if image["guid"] == guid), None)


async def readyz(_: Request) -> Response:
    if STATE.broken == "readiness":
        return problem(503, "database_unavailable", "Service Unavailable")
    return JSONResponse({"status": "ok"})


async def create_image(request: Request) -> Response:
    STATE.posts += 1
    author = subject(request)
    if STATE.broken == "anonymous" and author is None:
        return JSONResponse({"detail": "nope"}, 401)  # not problem JSON, no challenge
    if author is None and not STATE.anonymous_generation:
        return problem(401, "not_authenticated", "Unauthorized", **{"WWW-Authenticate": "Bearer"})
    body = await request.json()
    image = STATE.new_image(body["prompt"], author, body.get("tags"))
    if STATE.broken == "generate":
        del image["content_url"]
    STATE.images.append(image)
    STATE.generations += 1
    return JSONResponse(image)


async def get_image(request: Request) -> Response:
    image = find(request.path_params["guid"])
    if image is None:
        return problem(404, "image_not_found", "Not Found")
    if STATE.broken == "get":
        return JSONResponse({**image, "prompt": "something else"})
    return JSONResponse(image)


async def list_images(request: Request) -> Response:
    tag = request.query_params.get("tag")
    matching = [image for image in STATE.images if tag is None or tag in image["tags"]]
    if STATE.broken == "list":
        matching = matching[:-1]
    start = int(request.query_params.get("cursor", "0"))
    page = matching[start : start + 1]
    headers = {}
    if start + 1 < len(matching):
        headers["Link"] = f'</image?tag={tag}&cursor={start + 1}>; rel="next"'
    return JSONResponse(page, headers=headers)


async def content(request: Request) -> Response:
    if find(request.path_params["guid"]) is None:
        return problem(404, "image_not_found", "Not Found")
    if STATE.broken == "content":
        return Response(PNG, media_type="image/jpeg")
    return Response(PNG, media_type="image/png")


async def metrics(_: Request) -> Response:
    lines = [
        "# HELP http_requests_total Total number of requests by method, status and handler.",
        "# TYPE http_requests_total counter",
        f'http_requests_total{{handler="/image",method="POST",status="2xx"}} {STATE.posts}.0',
        'http_requests_total{handler="/readyz",method="GET",status="2xx"} 3.0',
    ]
    if STATE.broken != "metrics":
        lines += [
            "# TYPE pixyproxy_generations_total counter",
            f'pixyproxy_generations_total{{outcome="ok"}} {STATE.generations}.0',
        ]
    return PlainTextResponse("\n".join(lines) + "\n")


app = Starlette(
    routes=[
        Route("/readyz", readyz),
        Route("/image", create_image, methods=["POST"]),
        Route("/image", list_images, methods=["GET"]),
        Route("/image/{guid}", get_image),
        Route("/image/{guid}/content", content),
        Route("/metrics", metrics),
    ]
)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with serve_in_thread(app) as url:  # type: ignore[arg-type]
        yield url


@pytest.fixture
def url(server_url: str) -> str:
    STATE.reset()
    return server_url


def run_smoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )


def test_passes_against_a_good_server(url: str, tmp_path: Path) -> None:
    guid_file = tmp_path / "guid"
    result = run_smoke("--url", url, "--token", TOKEN, "--guid-file", str(guid_file))
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("readiness", "generate", "get", "list", "content", "anonymous", "metrics"):
        assert f"PASS {step} (" in result.stdout
    assert "RESULT: PASS (7/7 steps passed)" in result.stdout
    guid = guid_file.read_text().strip()
    assert f"GUID={guid}" in result.stdout
    image = find(guid)
    assert image is not None
    assert image["author"] == SUBJECT


@pytest.mark.parametrize(
    "step", ["generate", "get", "list", "content", "anonymous", "metrics", "readiness"]
)
def test_fails_naming_the_broken_step(url: str, step: str) -> None:
    STATE.broken = step
    result = run_smoke("--url", url, "--token", TOKEN, "--timeout", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL {step}: " in result.stdout
    assert "RESULT: FAIL" in result.stdout
    failed_line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    assert f"failed: {step}" in failed_line


def test_token_from_environment(url: str) -> None:
    env = {"PATH": "", "PIXY_SMOKE_TOKEN": TOKEN}
    result = run_smoke("--url", url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_anonymous_generation_deployment(url: str) -> None:
    STATE.anonymous_generation = True
    strict = run_smoke("--url", url, "--token", TOKEN)
    assert strict.returncode == 1
    assert "FAIL anonymous: status 200, expected 401" in strict.stdout
    relaxed = run_smoke("--url", url, "--token", TOKEN, "--anonymous-generation")
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr


def test_checks_an_existing_image(url: str) -> None:
    existing = STATE.images[0]["guid"]
    result = run_smoke("--url", url, "--guid", existing)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: PASS (3/3 steps passed)" in result.stdout
    missing = run_smoke("--url", url, "--guid", str(uuid.uuid4()))
    assert missing.returncode == 1
    assert "FAIL get: status 404" in missing.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--url", "localhost:8000", "--token", "t"],
        ["--url", "http://127.0.0.1:9"],
        ["--url", "http://127.0.0.1:9", "--guid", "not-a-uuid"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_smoke(*args, env={"PATH": ""})
    assert result.returncode == 2, result.stdout + result.stderr
