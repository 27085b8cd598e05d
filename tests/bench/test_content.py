"""The content comparison's parts: the offload is measured only when the package has its
setting (else "not available"), and the nginx config serves the store alone and, behind
the app, passes the app's ETag and Cache-Control with the redirect, sends ranges, and
leaves 304s to the app. A small HTTP server stands in for the app, answering as
PIXY_CONTENT_OFFLOAD=x-accel does (the real one behind the chart's nginx config:
tests/chart/test_content_server.py)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.content import NOT_AVAILABLE, OffloadError, check_offload, offload_support
from bench.nginx import nginx_path, render, start_nginx
from tests.support.ports import free_port

GUID = "ab123456-0000-4000-8000-000000000000"
ETAG = '"sha256-of-the-content"'
PUBLIC = "public, max-age=31536000, immutable"


def test_the_offload_is_not_available_without_its_settings() -> None:
    assert offload_support({"storage_dir": None}) == offload_support({})
    assert offload_support({}).available is False
    assert offload_support({}).reason == NOT_AVAILABLE
    both = {"content_offload": None, "content_offload_prefix": None}
    assert offload_support(both).available is True


def test_this_package_s_offload_support_is_what_its_settings_declare() -> None:
    from pixyproxy.core.settings import Settings

    declared = "content_offload" in Settings.model_fields
    assert offload_support().available is (
        declared and "content_offload_prefix" in Settings.model_fields
    )


def test_the_config_fills_every_value_and_checks_the_prefix(tmp_path: Path) -> None:
    values = {
        "prefix": tmp_path,
        "store": tmp_path / "images",
        "app": "127.0.0.1:9",
        "static_port": 1,
        "offload_port": 2,
        "workers": 2,
    }
    text = render(**values, as_root=False)  # type: ignore[arg-type]
    assert "@" not in text.replace("$upstream", "")
    assert "location /_protected/ {\n            internal;" in text
    assert "user root" not in text
    assert "user root;" in render(**values, as_root=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start and end with"):
        render(**values, offload_prefix="/_protected")  # type: ignore[arg-type]


class _StandIn(http.server.BaseHTTPRequestHandler):
    """The app with the offload on: a visibility check passed, the file is nginx's job."""

    redirect = f"/_protected/{GUID[:2]}/{GUID}.png"

    def do_GET(self) -> None:
        headers = {"ETag": ETAG, "Cache-Control": PUBLIC}
        if self.headers.get("If-None-Match") == ETAG:
            self.send_response(304)
        elif self.path == f"/image/{GUID}/content":
            self.send_response(200)
            headers |= {"X-Accel-Redirect": self.redirect, "Content-Length": "0"}
        else:
            self.send_response(404)
            headers["Content-Length"] = "0"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "images" / GUID[:2] / f"{GUID}.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89PNG" + bytes(range(256)) * 400)
    return tmp_path / "images"


def test_nginx_serves_the_store_alone_and_the_offload_as_the_app_says(
    stand_in: str, store: Path, tmp_path: Path
) -> None:
    if nginx_path() is None:
        pytest.skip("nginx is not installed (Debian package nginx)")
    data = (store / GUID[:2] / f"{GUID}.png").read_bytes()
    nginx = start_nginx(
        tmp_path / "nginx", store, stand_in, workers=1, offload_prefix="/_protected/"
    )
    try:
        alone = httpx.get(f"{nginx.static_url}/{GUID[:2]}/{GUID}.png")
        assert alone.content == data
        check_offload(stand_in, nginx.offload_url, GUID, hashlib.sha256(data).hexdigest())
        url = f"{nginx.offload_url}/image/{GUID}/content"
        ranged = httpx.get(url, headers={"Range": "bytes=4-9"})
        assert (ranged.status_code, ranged.content) == (206, data[4:10])
        assert ranged.headers["etag"] == ETAG
        unchanged = httpx.get(url, headers={"If-None-Match": ETAG})
        assert (unchanged.status_code, unchanged.content) == (304, b"")
        # nginx never answers a date-conditional request by itself: validators are the app's
        dated = httpx.get(url, headers={"If-Modified-Since": alone.headers["last-modified"]})
        assert dated.status_code == 200
        assert httpx.get(f"{nginx.offload_url}/_protected/{GUID[:2]}/{GUID}.png").status_code == 404
        with pytest.raises(OffloadError, match="bytes"):
            check_offload(stand_in, nginx.offload_url, GUID, "0" * 64)
    finally:
        nginx.stop()
