"""Checking RFC 9457 problem answers (DESIGN §3) in tests."""

from __future__ import annotations

import httpx

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, object]:
    """The response is problem JSON of ``status`` (and ``code``, when given) with a title, a
    detail and the request id of the response; returns the body."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM, response.headers
    body: dict[str, object] = response.json()
    assert body["status"] == status, body
    if code is not None:
        assert body["code"] == code, body
    assert body["type"] == "about:blank" and body["title"] and body["detail"], body
    assert body["request_id"] == response.headers["x-request-id"]
    return body
