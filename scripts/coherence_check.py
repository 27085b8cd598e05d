#!/usr/bin/env python3
"""Check that two PixyProxy replicas agree within the coherence bound.

Generates an image through replica A, reads it through replica B (so B's workers cache it),
changes its tags through A and polls B until B shows them, then deletes it through A and
polls B until B answers 404. Prints one line per change with its staleness, the time from
A's acknowledgement of the change until B first answered with the new state::

    PASS edit: B showed it after 0.412 s
    PASS delete: B answered 404 after 0.287 s

and exits 0 if both are within ``--bound`` (default 1 s, the bound PixyProxy documents),
1 otherwise or on any failure, 2 for usage errors. Usage::

    python scripts/coherence_check.py --url-a http://127.0.0.1:8081 \\
        --url-b http://127.0.0.1:8082 --token "$TOKEN"

Point A and B at two different replicas (e.g. two ``kubectl port-forward pod/...``), not at
one Service. Only the standard library and httpx.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import httpx

POLL_S = 0.02
READS_TO_WARM = 8  # enough for every worker of B to have read (and cached) the image


class CheckFailed(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    headers = {"Authorization": f"Bearer {args.token}"}
    with (
        httpx.Client(base_url=args.url_a, headers=headers, timeout=args.timeout) as a,
        httpx.Client(base_url=args.url_b, headers=headers, timeout=args.timeout) as b,
    ):
        try:
            staleness = run(a, b, wait_s=args.wait)
        except (CheckFailed, httpx.HTTPError) as exc:
            print(f"FAIL {exc}")
            return 1
    failed = False
    for change, seconds in staleness.items():
        verdict = "PASS" if seconds <= args.bound else "FAIL"
        failed |= verdict == "FAIL"
        print(f"{verdict} {change}: B showed it after {seconds:.3f} s (bound {args.bound:g} s)")
    print(f"RESULT {'FAIL' if failed else 'PASS'} staleness_max={max(staleness.values()):.3f}")
    return 1 if failed else 0


def run(a: httpx.Client, b: httpx.Client, *, wait_s: float) -> dict[str, float]:
    """The staleness of an edit and of a delete made through ``a``, as ``b`` shows them."""
    made = _expect(a.post("/image", json={"prompt": "coherence check", "tags": ["before"]}), 200)
    guid = made["guid"]
    path = f"/image/{guid}"
    _until(lambda: b.get(path).status_code == 200, wait_s, "B never served the new image")
    for _ in range(READS_TO_WARM):
        _expect(b.get(path), 200)
    staleness: dict[str, float] = {}
    edit = a.patch(path, json={"tags": ["after"]})
    acknowledged = time.monotonic()
    _expect(edit, 200)
    staleness["edit"] = (
        _until(lambda: b.get(path).json().get("tags") == ["after"], wait_s, "B kept the old tags")
        - acknowledged
    )
    deleted = a.delete(path)
    acknowledged = time.monotonic()
    if deleted.status_code != 204:
        raise CheckFailed(f"delete through A answered {deleted.status_code}: {deleted.text}")
    staleness["delete"] = (
        _until(lambda: b.get(path).status_code == 404, wait_s, "B kept serving the deleted image")
        - acknowledged
    )
    return staleness


def _until(done: Callable[[], bool], wait_s: float, failure: str) -> float:
    """Ask until ``done``; when the first request that showed it was sent."""
    deadline = time.monotonic() + wait_s
    while True:
        sent = time.monotonic()
        if done():
            return sent
        if sent > deadline:
            raise CheckFailed(f"{failure} for {wait_s:g} s")
        time.sleep(POLL_S)


def _expect(response: httpx.Response, status: int) -> dict[str, object]:
    if response.status_code != status:
        raise CheckFailed(
            f"{response.request.method} {response.request.url.path} answered"
            f" {response.status_code}, expected {status}: {response.text[:300]}"
        )
    body: dict[str, object] = response.json()
    return body


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url-a", required=True, help="replica A, where the changes are made")
    parser.add_argument("--url-b", required=True, help="replica B, where they are watched")
    parser.add_argument("--token", required=True, help="a bearer token (its subject authors)")
    parser.add_argument("--bound", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--wait", type=float, default=15.0, help="give up after (default 15 s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request (default 30 s)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
