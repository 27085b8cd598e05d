"""The content comparison (scenario 6): the same 1 MB file served three ways in one run.

- ``6_content_nginx``: nginx alone, by the file's path in the store, with sendfile;
- ``6_content_inprocess``: PixyProxy's own ``GET /image/{guid}/content``;
- ``6_content_offload``: PixyProxy behind nginx with ``PIXY_CONTENT_OFFLOAD=x-accel``: the
  app checks visibility and answers with ``X-Accel-Redirect``, nginx sends the file.

The offload runs with the product's own settings (``offload_env``: ``PIXY_CONTENT_OFFLOAD``
and ``PIXY_CONTENT_OFFLOAD_PREFIX``); a PixyProxy without them (an older checkout) makes
the run say "not available" instead of measuring the target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from bench.nginx import DEFAULT_OFFLOAD_PREFIX

OFFLOAD_FIELDS = ("content_offload", "content_offload_prefix")
NOT_AVAILABLE = "not available: this PixyProxy has no PIXY_CONTENT_OFFLOAD setting"


class OffloadError(RuntimeError):
    """The offload is configured but does not answer as documented."""


@dataclass(frozen=True)
class Offload:
    available: bool
    reason: str | None = None


def offload_support(fields: object = None) -> Offload:
    """Whether ``Settings`` (or the given field names) has the offload settings."""
    if fields is None:
        from pixyproxy.core.settings import Settings

        fields = Settings.model_fields
    missing = [name for name in OFFLOAD_FIELDS if name not in fields]  # type: ignore[operator]
    return Offload(available=not missing, reason=NOT_AVAILABLE if missing else None)


def offload_env(prefix: str = DEFAULT_OFFLOAD_PREFIX) -> dict[str, str]:
    return {"PIXY_CONTENT_OFFLOAD": "x-accel", "PIXY_CONTENT_OFFLOAD_PREFIX": prefix}


def store_url_path(guid: str) -> str:
    """Where nginx alone finds an image's file: the store's layout."""
    return f"/{guid[:2]}/{guid}.png"


def check_offload(
    app_url: str, front_url: str, guid: str, sha256: str, prefix: str = DEFAULT_OFFLOAD_PREFIX
) -> None:
    """The app redirects into ``prefix`` and nginx sends the right bytes with the app's
    validators; else ``OffloadError`` saying what differed."""
    path = f"/image/{guid}/content"
    with httpx.Client(timeout=30) as client:
        direct = client.get(app_url + path)
        redirect = direct.headers.get("x-accel-redirect", "")
        if direct.status_code != 200 or not redirect.startswith(prefix):
            raise OffloadError(
                f"GET {path} from the app answered {direct.status_code} with X-Accel-Redirect"
                f" {redirect!r}, not a path under {prefix}"
            )
        served = client.get(front_url + path)
    problems = []
    if served.status_code != 200 or hashlib.sha256(served.content).hexdigest() != sha256:
        problems.append(f"status {served.status_code}, {len(served.content)} bytes")
    for header in ("etag", "cache-control"):
        if served.headers.get(header) != direct.headers.get(header):
            problems.append(
                f"{header} {served.headers.get(header)!r} is not the app's"
                f" {direct.headers.get(header)!r}"
            )
    if served.headers.get("content-type") != "image/png":
        problems.append(f"content-type {served.headers.get('content-type')!r}")
    if problems:
        raise OffloadError(f"GET {path} through nginx: " + "; ".join(problems))
