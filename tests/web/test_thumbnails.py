"""``GET /image/{guid}/thumbnail`` over real HTTP, on each database backend: every answer
the route declares, the visibility of private images, bad widths, and what the store keeps."""

from __future__ import annotations

import concurrent.futures
import io
import threading
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from pixyproxy.core.models import ThumbnailWidth
from tests.support.s3 import S3Server
from tests.support.servers import ServeApi, run_pixyproxy, server_env
from tests.support.stored import temp_files
from tests.support.tokens import SECRET, bearer

# Minted when the module is imported: valid for longer than a whole run of the suite.
ALICE, BOB = bearer("alice", ttl_s=3 * 3600), bearer("bob", ttl_s=3 * 3600)
WIDTHS = [width.value for width in ThumbnailWidth]


@pytest.fixture
def api(serve_api: ServeApi, database_url: str, store_settings: dict[str, object]) -> httpx.Client:
    """On each database and each image store."""
    return serve_api(
        database_url=database_url,
        jwt_secret=SECRET,
        image_provider="placeholder",
        **store_settings,
    )


def create(api: httpx.Client, headers: dict[str, str], **body: object) -> dict[str, object]:
    response = api.post("/image", json={"prompt": "a lighthouse at dusk", **body}, headers=headers)
    assert response.status_code == 200, response.text
    image: dict[str, object] = response.json()
    return image


def picture(response: httpx.Response) -> Image.Image:
    return picture_of(response.content)


def picture_of(data: bytes) -> Image.Image:
    opened = Image.open(io.BytesIO(data))
    assert opened.format == "WEBP"
    return opened


def scrape_total(api: httpx.Client, name: str, **labels: str) -> float:
    """A sample of /metrics (summed over the server's workers)."""
    families = text_string_to_metric_families(api.get("/metrics").text)
    samples = [s for f in families for s in f.samples if s.name == name and s.labels == labels]
    return sum(sample.value for sample in samples)


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024", "1024x1536"])
def test_each_width_is_a_webp_of_that_width_keeping_the_aspect_ratio(
    api: httpx.Client, size: str
) -> None:
    image = create(api, ALICE, size=size)
    url = f"/image/{image['guid']}/thumbnail"
    for width in WIDTHS:
        response = api.get(url, params={"w": width})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/webp"
        assert int(response.headers["content-length"]) == len(response.content)
        expected_height = round(int(str(image["height"])) * width / int(str(image["width"])))
        assert picture(response).size == (width, expected_height)
    default = api.get(url)
    assert default.content == api.get(url, params={"w": 256}).content
    assert picture(default).width == 256
    assert api.get(f"{url}/").content == default.content  # the trailing-slash spelling


def test_validators_conditional_requests_ranges_and_head(api: httpx.Client) -> None:
    image = create(api, ALICE)
    url = f"/image/{image['guid']}/thumbnail"
    first = api.get(url, params={"w": 128})
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert api.get(url, params={"w": 128}).headers["etag"] == etag  # stable
    assert len({api.get(url, params={"w": w}).headers["etag"] for w in WIDTHS}) == 3
    assert etag != api.get(f"/image/{image['guid']}/content").headers["etag"]

    for candidates in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = api.get(url, params={"w": 128}, headers={"If-None-Match": candidates})
        assert not_modified.status_code == 304, candidates
        assert not_modified.content == b"" and not_modified.headers["etag"] == etag
    assert api.get(url, params={"w": 128}, headers={"If-None-Match": '"x"'}).status_code == 200

    part = api.get(url, params={"w": 128}, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == first.content[:10]
    size = len(first.content)
    assert part.headers["content-range"] == f"bytes 0-9/{size}"
    beyond = api.get(url, params={"w": 128}, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.json()["code"] == "range_not_satisfiable"
    bad = api.get(url, params={"w": 128}, headers={"Range": "pages=1-2"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_range"

    head = api.head(url, params={"w": 128})
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "cache-control", "content-type", "content-length"):
        assert head.headers[name] == first.headers[name], name


def test_a_private_image_s_thumbnail_is_its_author_s_alone(api: httpx.Client) -> None:
    secret = create(api, ALICE, private=True)
    url = f"/image/{secret['guid']}/thumbnail"
    other = str(uuid4())
    for who in ({}, BOB):
        hidden = api.get(url, headers=who)
        unknown = api.get(f"/image/{other}/thumbnail", headers=who)
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.headers["content-type"] == "application/problem+json"
        assert hidden.json()["code"] == unknown.json()["code"] == "image_not_found"
        said, told = hidden.json()["detail"], unknown.json()["detail"]
        assert said.replace(str(secret["guid"]), "G") == told.replace(other, "G")
        assert api.head(url, headers=who).status_code == 404
    mine = api.get(url, headers=ALICE)
    assert mine.status_code == 200 and picture(mine).width == 256
    assert mine.headers["cache-control"] == "private, no-store"
    assert api.get(url, headers=ALICE, params={"w": 512}).status_code == 200


@pytest.fixture
def guid(api: httpx.Client) -> str:
    """An image of the test's own (once per test, however many examples it runs)."""
    return str(create(api, ALICE)["guid"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    w=st.one_of(
        st.integers(-1000, 5000).filter(lambda n: n not in WIDTHS).map(str),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8),
    )
)
def test_any_other_width_is_a_422_problem(api: httpx.Client, guid: str, w: str) -> None:
    # Numbers are read as numbers: "0256" and "256.0" are the width 256.
    try:
        as_number = float(w)
    except ValueError:
        as_number = None
    if as_number in WIDTHS:
        return
    response = api.get(f"/image/{guid}/thumbnail", params={"w": w})
    assert response.status_code == 422, (w, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"][0]["loc"] == ["query", "w"]


def test_a_repeated_width_a_malformed_guid_and_a_missing_original(
    serve_api: ServeApi, tmp_path: Path
) -> None:
    api = serve_api(jwt_secret=SECRET)
    guid = str(create(api, ALICE)["guid"])
    repeated = api.get(f"/image/{guid}/thumbnail?w=128&w=256")
    assert repeated.status_code == 422 and repeated.json()["code"] == "validation_failed"
    malformed = api.get("/image/not-a-guid/thumbnail")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["loc"] == [
        "path",
        "guid",
    ]
    # The row is there, its original is not: like content, 404, and no thumbnail is made.
    (tmp_path / "images" / guid[:2] / f"{guid}.png").unlink()
    gone = api.get(f"/image/{guid}/thumbnail")
    assert gone.status_code == 404 and gone.json()["code"] == "image_not_found"
    assert sorted(p.name for p in (tmp_path / "images" / guid[:2]).iterdir()) == []


def test_a_thumbnail_is_made_once_and_kept_beside_its_original(
    serve_api: ServeApi, tmp_path: Path
) -> None:
    api = serve_api(jwt_secret=SECRET)
    guid = str(create(api, ALICE)["guid"])
    shard = tmp_path / "images" / guid[:2]
    assert sorted(p.name for p in shard.iterdir()) == [f"{guid}.png"]
    made = api.get(f"/image/{guid}/thumbnail", params={"w": 512})
    stored = shard / f"{guid}.w512.webp"
    assert stored.read_bytes() == made.content
    mtime = stored.stat().st_mtime_ns
    assert api.get(f"/image/{guid}/thumbnail", params={"w": 512}).content == made.content
    assert stored.stat().st_mtime_ns == mtime, "served from the store, not made again"
    assert sorted(p.name for p in shard.iterdir()) == [f"{guid}.png", f"{guid}.w512.webp"]
    assert temp_files(tmp_path / "images") == []


def test_on_s3_a_thumbnail_is_made_once_and_kept_beside_its_original(
    serve_api: ServeApi, s3_server: S3Server
) -> None:
    bucket = s3_server.new_bucket()
    api = serve_api(jwt_secret=SECRET, **s3_server.settings(bucket))
    guid = str(create(api, ALICE)["guid"])
    made = api.get(f"/image/{guid}/thumbnail", params={"w": 512})
    key = f"images/{guid[:2]}/{guid}.w512.webp"
    assert sorted(s3_server.keys(bucket)) == [f"images/{guid[:2]}/{guid}.png", key]
    stored = s3_server.client().get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == made.content and stored["ContentType"] == "image/webp"
    before = scrape_total(api, "pixyproxy_thumbnails_made_total", width="512")
    assert api.get(f"/image/{guid}/thumbnail", params={"w": 512}).content == made.content
    assert scrape_total(api, "pixyproxy_thumbnails_made_total", width="512") == before
    s3_server.client().delete_object(Bucket=bucket, Key=f"images/{guid[:2]}/{guid}.png")
    gone = api.get(f"/image/{guid}/thumbnail", params={"w": 128})
    assert gone.status_code == 404 and gone.json()["code"] == "image_not_found"


def test_many_first_requests_at_once_make_one_whole_thumbnail(tmp_path: Path) -> None:
    """Two gunicorn workers, 48 requests at once for thumbnails nobody asked for before:
    12 of each of 4 images' 256 px thumbnails. Every answer is the same whole WebP,
    each process made each thumbnail at most once, and the store holds one file each."""
    env = server_env(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        storage_dir=tmp_path / "images",
        jwt_secret=SECRET,
        log_level="warning",
    )
    with run_pixyproxy(env, workers=2) as server, httpx.Client(base_url=server.url) as api:
        guids = [str(create(api, ALICE, prompt=f"burst {i}")["guid"]) for i in range(4)]
        urls = [f"/image/{guid}/thumbnail" for guid in guids for _ in range(12)]
        start = threading.Barrier(len(urls))

        def fetch(url: str) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                start.wait()
                return client.get(url)

        with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
            answers = list(pool.map(fetch, urls))
        made = scrape_total(api, "pixyproxy_thumbnails_made_total", width="256")

    assert [answer.status_code for answer in answers] == [200] * len(urls)
    for guid in guids:
        bodies = {a.content for a, url in zip(answers, urls, strict=True) if guid in url}
        (body,) = bodies  # one content per thumbnail, whichever worker answered
        assert picture_of(body).size == (256, 256)
        stored = tmp_path / "images" / guid[:2] / f"{guid}.w256.webp"
        assert stored.read_bytes() == body
    assert len(guids) <= made <= 2 * len(guids), "at most once per process"
    assert temp_files(tmp_path / "images") == []
