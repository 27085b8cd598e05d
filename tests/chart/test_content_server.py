"""The chart's contentServer sidecar, and PixyProxy's content offload behind it: the nginx
config the chart renders, run by the real nginx binary in front of a real PixyProxy (under
gunicorn, ``PIXY_CONTENT_OFFLOAD=x-accel``), serves what ``GET /image/{guid}/content``
and the thumbnails promise: the bytes, our ETag (one, not nginx's), Cache-Control, 206
for a range, 304, HEAD, and a private image only to its author; the internal location
is not reachable from outside.

The rendered config names the pod's addresses (the API on 127.0.0.1:8000, the image volume
at /data/images); the test puts its own server and store in their place, nothing else."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chart import FULLNAME, api_config, containers, one, pod_template, render
from tests.support.nginx import nginx_path, run_nginx
from tests.support.ports import free_port
from tests.support.servers import run_pixyproxy, server_env
from tests.support.tokens import SECRET, bearer

ALICE, BOB = bearer("alice", ttl_s=3 * 3600), bearer("bob", ttl_s=3 * 3600)
PREFIX = "/_protected/"


def rendered(**content_server: Any) -> list[dict[str, Any]]:
    return render({"contentServer": {"enabled": True, **content_server}})


def nginx_config(docs: list[dict[str, Any]]) -> str:
    config_map = one(docs, "ConfigMap", f"{FULLNAME}-content-server")
    text: str = config_map["data"]["nginx.conf"]
    return text


def test_off_by_default_and_the_api_serves_content_itself() -> None:
    docs = render({})
    assert "PIXY_CONTENT_OFFLOAD" not in api_config(docs)
    spec = pod_template(one(docs, "Deployment", FULLNAME))["spec"]
    assert [c["name"] for c in containers(spec)] == ["migrate", "api"]
    assert one(docs, "Service", FULLNAME)["spec"]["ports"][0]["targetPort"] == "http"


def test_the_sidecar_is_wired_to_the_api_and_the_volume() -> None:
    docs = rendered(offloadPrefix="/files/")
    assert api_config(docs)["PIXY_CONTENT_OFFLOAD"] == "x-accel"
    assert api_config(docs)["PIXY_CONTENT_OFFLOAD_PREFIX"] == "/files/"
    assert "location /files/ {" in nginx_config(docs)
    spec = pod_template(one(docs, "Deployment", FULLNAME))["spec"]
    (nginx,) = [c for c in containers(spec) if c["name"] == "content-server"]
    assert nginx["image"] == "docker.io/nginxinc/nginx-unprivileged:1.27.4-alpine"
    assert nginx["securityContext"]["runAsNonRoot"] is True
    assert nginx["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in nginx["volumeMounts"]}
    assert mounts["/data/images"]["name"] == "images" and mounts["/data/images"]["readOnly"]
    assert {"/tmp", "/var/cache/nginx", "/etc/pixyproxy/nginx"} <= set(mounts)  # noqa: S108
    assert nginx["readinessProbe"]["tcpSocket"]["port"] == "content"
    assert one(docs, "Service", FULLNAME)["spec"]["ports"][0]["targetPort"] == "content"
    assert {"name": "content", "containerPort": 8080, "protocol": "TCP"} in nginx["ports"]


def test_a_prefix_that_is_not_a_location_is_refused() -> None:
    for prefix in ("/", "files/", "/files", "/../"):
        with pytest.raises(Exception, match="offloadPrefix"):
            rendered(offloadPrefix=prefix)


@dataclass
class Front:
    app: httpx.Client  # PixyProxy itself
    nginx: httpx.Client  # the sidecar's nginx in front of it
    store: Path


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    if nginx_path() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    work = tmp_path_factory.mktemp("content-server")
    store = work / "images"
    env = server_env(
        database_url=f"sqlite:///{work / 'db.sqlite'}",
        storage_dir=store,
        jwt_secret=SECRET,
        content_offload="x-accel",
        log_level="warning",
    )
    port = free_port()
    with run_pixyproxy(env, workers=1) as server:
        config = nginx_config(rendered(port=port))
        app_address = server.url.removeprefix("http://")
        pod_facts = (("127.0.0.1:8000;", f"{app_address};"), ("/data/images/", f"{store}/"))
        for pod_fact, ours in pod_facts:
            assert pod_fact in config, pod_fact
            config = config.replace(pod_fact, ours)
        url = f"http://127.0.0.1:{port}"
        with (
            run_nginx(config, work / "nginx", url),
            httpx.Client(base_url=server.url, timeout=30) as app,
            httpx.Client(base_url=url, timeout=30) as nginx,
        ):
            yield Front(app, nginx, store)


def create(client: httpx.Client, headers: dict[str, str], **body: object) -> str:
    response = client.post("/image", json={"prompt": "a lighthouse", **body}, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["guid"])


def stored(front: Front, guid: str, name: str = "") -> bytes:
    return (front.store / guid[:2] / (name or f"{guid}.png")).read_bytes()


def test_the_app_answers_with_a_redirect_and_no_body(front: Front) -> None:
    guid = create(front.nginx, ALICE)
    answer = front.app.get(f"/image/{guid}/content")
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["x-accel-redirect"] == f"{PREFIX}{guid[:2]}/{guid}.png"
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["etag"] == f'"{hashlib.sha256(stored(front, guid)).hexdigest()}"'
    head = front.app.head(f"/image/{guid}/content")
    assert head.headers["x-accel-redirect"] == answer.headers["x-accel-redirect"]


def test_nginx_sends_the_bytes_with_our_headers(front: Front) -> None:
    guid = create(front.nginx, ALICE)
    expected = stored(front, guid)
    etag = f'"{hashlib.sha256(expected).hexdigest()}"'
    answer = front.nginx.get(f"/image/{guid}/content")
    assert answer.status_code == 200 and answer.content == expected
    assert answer.headers.get_list("etag") == [etag]  # ours, once; not nginx's own
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"] == "image/png"
    assert "x-accel-redirect" not in answer.headers and "last-modified" not in answer.headers

    head = front.nginx.head(f"/image/{guid}/content")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(expected))
    assert head.headers.get_list("etag") == [etag]

    part = front.nginx.get(f"/image/{guid}/content", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == expected[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(expected)}"
    assert part.headers.get_list("etag") == [etag]
    suffix = front.nginx.get(f"/image/{guid}/content", headers={"Range": "bytes=-5"})
    assert suffix.status_code == 206 and suffix.content == expected[-5:]
    past = front.nginx.get(f"/image/{guid}/content", headers={"Range": f"bytes={len(expected)}-"})
    assert past.status_code == 416

    cached = front.nginx.get(f"/image/{guid}/content", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers.get_list("etag") == [etag]


def test_a_private_image_reaches_only_its_author(front: Front) -> None:
    guid = create(front.nginx, ALICE, private=True)
    for headers in ({}, BOB):
        answer = front.nginx.get(f"/image/{guid}/content", headers=headers)
        assert answer.status_code == 404, headers
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "image_not_found"
    mine = front.nginx.get(f"/image/{guid}/content", headers=ALICE)
    assert mine.status_code == 200 and mine.content == stored(front, guid)
    assert mine.headers["cache-control"] == "private, no-store"


def test_thumbnails_are_sent_by_nginx_too(front: Front) -> None:
    guid = create(front.nginx, ALICE)
    digest = hashlib.sha256(stored(front, guid)).hexdigest()
    answer = front.nginx.get(f"/image/{guid}/thumbnail", params={"w": 128})
    assert answer.status_code == 200
    assert answer.content == stored(front, guid, f"{guid}.w128.webp")
    assert answer.headers["content-type"] == "image/webp"
    assert answer.headers.get_list("etag") == [f'"{digest}-w128"']
    redirect = front.app.get(f"/image/{guid}/thumbnail", params={"w": 128})
    assert redirect.headers["x-accel-redirect"] == f"{PREFIX}{guid[:2]}/{guid}.w128.webp"


def test_the_internal_location_is_not_reachable_from_outside(front: Front) -> None:
    guid = create(front.nginx, ALICE, private=True)
    answer = front.nginx.get(f"{PREFIX}{guid[:2]}/{guid}.png")
    assert answer.status_code == 404  # "internal": only a redirect from the API gets there
    assert answer.content != stored(front, guid)


def test_every_other_route_passes_through(front: Front) -> None:
    guid = create(front.nginx, ALICE)
    assert front.nginx.get(f"/image/{guid}").json()["guid"] == guid
    listed = front.nginx.get("/image", params={"q": "lighthouse"})
    assert guid in [image["guid"] for image in listed.json()]
    assert front.nginx.get("/readyz").status_code == 200
