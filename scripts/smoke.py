#!/usr/bin/env python3
"""Operator smoke test for a running PixyProxy deployment.

Walks the path a real caller takes — readiness, generate, get, list, content, the
anonymous-generation policy and the metrics that should record all of it — and prints one
line per step::

    PASS generate (812 ms)
    FAIL content: Content-Type is 'image/jpeg', expected 'image/png'

It ends with a RESULT line and exits 0 only if every step passed (1 otherwise, 2 for usage
errors). The generated image's guid is printed as ``GUID=<guid>`` (and written to
``--guid-file``) so that a later run with ``--guid`` can check the same image is still served,
e.g. after ``helm upgrade``.

Usage::

    python scripts/smoke.py --url http://127.0.0.1:8080 --token "$TOKEN"
    python scripts/smoke.py --url http://127.0.0.1:8080 --guid 1f4a...   # existing image only

The token may also come from ``PIXY_SMOKE_TOKEN``. Only the standard library and httpx.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMOKE_TAG = "smoke"
DEFAULT_PROMPT = "PixyProxy smoke test: a small red bicycle leaning on a lamp post"
MAX_LIST_PAGES = 5
READY_POLL_S = 1.0
DETAIL_FIELDS = (
    "guid",
    "prompt",
    "filename",
    "tags",
    "author",
    "private",
    "created_at",
    "updated_at",
    "content_type",
    "size_bytes",
    "width",
    "height",
    "model",
    "content_url",
)
# One sample line of the Prometheus text format: name{labels} value [timestamp]
SAMPLE_RE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
LABEL_RE = re.compile(r'(?P<key>[A-Za-z_]\w*)="(?P<value>(?:[^"\\]|\\.)*)"')


class StepError(Exception):
    """A step's check failed; the message is the reason printed after FAIL."""


class Skipped(Exception):
    """A step could not run because a step it depends on failed."""


@dataclass
class Outcome:
    name: str
    status: str  # PASS, FAIL or SKIP
    reason: str = ""
    elapsed_ms: float = 0.0

    def line(self) -> str:
        if self.status == "PASS":
            return f"PASS {self.name} ({self.elapsed_ms:.0f} ms)"
        return f"{self.status} {self.name}: {self.reason}"


@dataclass
class Options:
    url: str
    token: str | None
    anonymous_generation: bool
    timeout: float
    request_timeout: float
    prompt: str
    guid: str | None
    guid_file: Path | None


@dataclass
class SmokeRun:
    options: Options
    client: httpx.Client
    detail: dict[str, Any] | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    # ----------------------------------------------------------------- helpers

    def auth_headers(self) -> dict[str, str]:
        if self.options.token is None:
            return {}
        return {"Authorization": f"Bearer {self.options.token}"}

    def need_detail(self) -> dict[str, Any]:
        if self.detail is None:
            raise Skipped("no image to check (an earlier step failed)")
        return self.detail

    def absolute(self, path_or_url: str) -> str:
        return urljoin(self.options.url + "/", path_or_url.lstrip("/"))

    # ------------------------------------------------------------------- steps

    def step_readiness(self) -> None:
        deadline = time.monotonic() + self.options.timeout
        last = "no answer"
        while True:
            try:
                response = self.client.get(
                    self.absolute("/readyz"), timeout=min(self.options.request_timeout, 10.0)
                )
                if response.status_code == 200:
                    return
                last = f"status {response.status_code}: {response.text[:200]!r}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise StepError(f"/readyz not 200 after {self.options.timeout:.0f} s ({last})")
            time.sleep(READY_POLL_S)

    def step_generate(self) -> None:
        body = {"prompt": self.options.prompt, "tags": [SMOKE_TAG], "private": False}
        response = self.client.post(self.absolute("/image"), json=body, headers=self.auth_headers())
        detail = expect_json(response, 200)
        check_detail(detail, self.options.prompt, expected_author(self.options))
        self.detail = detail
        self.report_guid(str(detail["guid"]))

    def step_get(self) -> None:
        detail = self.need_detail()
        response = self.client.get(
            self.absolute(f"/image/{detail['guid']}"), headers=self.auth_headers()
        )
        fetched = expect_json(response, 200)
        if self.options.guid is not None:
            # Checking an existing image: learn it here, the later steps use it.
            check_detail(fetched, None, None)
            self.detail = fetched
            return
        if not isinstance(fetched, dict):
            raise StepError(f"expected an ImageDetail object, got {type(fetched).__name__}")
        if fetched != detail:
            diff = sorted(k for k in set(fetched) | set(detail) if fetched.get(k) != detail.get(k))
            raise StepError(f"body differs from the POST answer in: {', '.join(diff)}")

    def step_list(self) -> None:
        guid = self.need_detail()["guid"]
        url: str | None = self.absolute(f"/image?tag={SMOKE_TAG}")
        seen = 0
        for _page in range(MAX_LIST_PAGES):
            if url is None:
                break
            response = self.client.get(url, headers=self.auth_headers())
            items = expect_json(response, 200)
            if not isinstance(items, list):
                raise StepError(f"expected a JSON array, got {type(items).__name__}")
            seen += len(items)
            if any(isinstance(item, dict) and item.get("guid") == guid for item in items):
                return
            next_link = response.links.get("next", {}).get("url")
            url = self.absolute(next_link) if next_link else None
        raise StepError(
            f"guid {guid} not among {seen} images tagged {SMOKE_TAG!r} "
            f"(looked at up to {MAX_LIST_PAGES} pages)"
        )

    def step_content(self) -> None:
        detail = self.need_detail()
        response = self.client.get(
            self.absolute(str(detail["content_url"])), headers=self.auth_headers()
        )
        if response.status_code != 200:
            raise StepError(f"status {response.status_code}, expected 200")
        content_type = response.headers.get("content-type", "")
        if content_type != "image/png":
            raise StepError(f"Content-Type is {content_type!r}, expected 'image/png'")
        data = response.content
        if not data.startswith(PNG_SIGNATURE):
            raise StepError(f"body does not start with the PNG signature: {data[:8]!r}")
        if len(data) != detail["size_bytes"]:
            raise StepError(f"{len(data)} bytes, but size_bytes says {detail['size_bytes']}")
        width, height = png_dimensions(data)
        if (width, height) != (detail["width"], detail["height"]):
            raise StepError(
                f"PNG is {width}x{height}, detail says {detail['width']}x{detail['height']}"
            )

    def step_anonymous(self) -> None:
        body = {"prompt": self.options.prompt, "tags": [SMOKE_TAG]}
        response = self.client.post(self.absolute("/image"), json=body)
        if self.options.anonymous_generation:
            detail = expect_json(response, 200)
            check_detail(detail, self.options.prompt, None)
            if detail["author"] is not None:
                raise StepError(f"anonymous image has author {detail['author']!r}, expected null")
            return
        problem = expect_json(response, 401, content_type="application/problem+json")
        if not isinstance(problem, dict) or not problem.get("code"):
            raise StepError(f"401 body is not problem JSON with a code: {response.text[:200]!r}")
        if problem.get("status") != 401:
            raise StepError(f"problem status is {problem.get('status')!r}, expected 401")
        challenge = response.headers.get("www-authenticate", "")
        if not challenge.lower().startswith("bearer"):
            raise StepError(f"WWW-Authenticate is {challenge!r}, expected a Bearer challenge")

    def step_metrics(self) -> None:
        response = self.client.get(self.absolute("/metrics"))
        if response.status_code != 200:
            raise StepError(f"status {response.status_code}, expected 200")
        samples = list(parse_samples(response.text))
        posts = sum(
            value
            for name, labels, value in samples
            if name == "http_requests_total"
            and labels.get("handler") in ("/image", "/image/")
            and labels.get("method") == "POST"
        )
        if posts < 1:
            raise StepError('no http_requests_total{handler="/image",method="POST"} sample >= 1')
        if not any(name == "pixyproxy_generations_total" for name, _, _ in samples):
            raise StepError("no pixyproxy_generations_total sample")

    # ------------------------------------------------------------------ running

    def report_guid(self, guid: str) -> None:
        print(f"GUID={guid}", flush=True)
        if self.options.guid_file is not None:
            self.options.guid_file.write_text(guid + "\n", encoding="utf-8")

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        if self.options.guid is not None:
            self.detail = {"guid": self.options.guid}
            return [
                ("readiness", self.step_readiness),
                ("get", self.step_get),
                ("content", self.step_content),
            ]
        return [
            ("readiness", self.step_readiness),
            ("generate", self.step_generate),
            ("get", self.step_get),
            ("list", self.step_list),
            ("content", self.step_content),
            ("anonymous", self.step_anonymous),
            ("metrics", self.step_metrics),
        ]

    def run_step(self, name: str, step: Callable[[], None]) -> Outcome:
        started = time.perf_counter()
        try:
            step()
        except Skipped as exc:
            return Outcome(name, "SKIP", str(exc))
        except StepError as exc:
            return Outcome(name, "FAIL", str(exc))
        except httpx.HTTPError as exc:
            return Outcome(name, "FAIL", f"{type(exc).__name__}: {exc}")
        return Outcome(name, "PASS", elapsed_ms=(time.perf_counter() - started) * 1000)

    def run(self) -> bool:
        for name, step in self.steps():
            if self.outcomes and self.outcomes[0].status != "PASS":
                outcome = Outcome(name, "SKIP", "the service never became ready")
            else:
                outcome = self.run_step(name, step)
            self.outcomes.append(outcome)
            print(outcome.line(), flush=True)
        passed = sum(o.status == "PASS" for o in self.outcomes)
        failed = [o.name for o in self.outcomes if o.status == "FAIL"]
        skipped = [o.name for o in self.outcomes if o.status == "SKIP"]
        total = len(self.outcomes)
        if failed or skipped:
            detail = f"failed: {', '.join(failed)}"
            if skipped:
                detail += f"; skipped: {', '.join(skipped)}"
            print(f"RESULT: FAIL ({passed}/{total} steps passed; {detail})")
            return False
        print(f"RESULT: PASS ({passed}/{total} steps passed)")
        return True


# ---------------------------------------------------------------------- checks


def expect_json(response: httpx.Response, status: int, content_type: str | None = None) -> Any:
    if response.status_code != status:
        raise StepError(
            f"status {response.status_code}, expected {status}: {response.text[:300]!r}"
        )
    actual_type = response.headers.get("content-type", "").split(";")[0].strip()
    if content_type is not None and actual_type != content_type:
        raise StepError(f"Content-Type is {actual_type!r}, expected {content_type!r}")
    try:
        return response.json()
    except ValueError as exc:
        raise StepError(f"body is not JSON: {response.text[:200]!r}") from exc


def check_detail(detail: Any, prompt: str | None, author: str | None) -> None:
    """Check an ImageDetail body against the contract (DESIGN §2).

    `prompt` None means an existing image of unknown origin: prompt and tags are not checked;
    `author` None means the author is not checked.
    """
    if not isinstance(detail, dict):
        raise StepError(f"expected an ImageDetail object, got {type(detail).__name__}")
    missing = [name for name in DETAIL_FIELDS if name not in detail]
    if missing:
        raise StepError(f"ImageDetail lacks {', '.join(missing)}")
    if "id" in detail:
        raise StepError("ImageDetail exposes the internal id")
    guid = detail["guid"]
    if not isinstance(guid, str) or len(guid) != 36 or not is_uuid(guid):
        raise StepError(f"guid {guid!r} is not a 36-character UUID")
    if prompt is not None and detail["prompt"] != prompt.strip():
        raise StepError(f"prompt is {detail['prompt']!r}, expected {prompt.strip()!r}")
    if not isinstance(detail["tags"], list):
        raise StepError(f"tags is {detail['tags']!r}, expected a list")
    if prompt is not None and SMOKE_TAG not in detail["tags"]:
        raise StepError(f"tags {detail['tags']!r} lack {SMOKE_TAG!r}")
    if detail["private"] is not False:
        raise StepError(f"private is {detail['private']!r}, expected false")
    if detail["content_type"] != "image/png":
        raise StepError(f"content_type is {detail['content_type']!r}, expected 'image/png'")
    for name in ("size_bytes", "width", "height"):
        value = detail[name]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise StepError(f"{name} is {value!r}, expected a positive integer")
    for name in ("filename", "model"):
        if not isinstance(detail[name], str) or not detail[name]:
            raise StepError(f"{name} is {detail[name]!r}, expected a non-empty string")
    for name in ("created_at", "updated_at"):
        check_timestamp(name, detail[name])
    if not str(detail["content_url"]).endswith(f"/image/{guid}/content"):
        raise StepError(f"content_url {detail['content_url']!r} is not /image/{guid}/content")
    if author is not None and detail["author"] != author:
        raise StepError(f"author is {detail['author']!r}, expected {author!r}")


def check_timestamp(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise StepError(f"{name} {value!r} is not an ISO 8601 UTC timestamp ending in Z")
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise StepError(f"{name} {value!r} is not ISO 8601") from exc


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def png_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise StepError("PNG has no IHDR chunk at the start")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def parse_samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Samples of the Prometheus text exposition format (comments skipped)."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE_RE.match(line)
        if match is None:
            continue
        labels = {m["key"]: m["value"] for m in LABEL_RE.finditer(match["labels"] or "")}
        try:
            value = float(match["value"])
        except ValueError:
            continue
        yield match["name"], labels, value


def token_subject(token: str) -> str | None:
    """The `sub` claim of a JWT, read without verifying it (the server verifies)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def expected_author(options: Options) -> str | None:
    return token_subject(options.token) if options.token else None


# ------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Smoke-test a running PixyProxy deployment.",
        epilog="Exit status: 0 all steps passed, 1 a step failed, 2 usage error.",
    )
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument(
        "--token",
        default=os.environ.get("PIXY_SMOKE_TOKEN") or None,
        help="bearer JWT for generation (default: $PIXY_SMOKE_TOKEN)",
    )
    parser.add_argument(
        "--anonymous-generation",
        action="store_true",
        help="the deployment sets PIXY_ANONYMOUS_GENERATION=true: expect anonymous POST to work",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for /readyz (default 60)"
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=180.0,
        help="seconds per HTTP request; generation may be slow (default 180)",
    )
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="prompt to generate")
    parser.add_argument(
        "--guid", help="check this existing image (get, content) instead of generating one"
    )
    parser.add_argument("--guid-file", type=Path, help="write the generated image's guid here")
    args = parser.parse_args(argv)

    url = str(args.url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, got {args.url!r}")
    token = str(args.token).removeprefix("Bearer ").strip() if args.token else None
    if args.guid is None and token is None and not args.anonymous_generation:
        parser.error("a token is needed to generate: --token or PIXY_SMOKE_TOKEN")
    if args.guid is not None and not is_uuid(args.guid):
        parser.error(f"--guid {args.guid!r} is not a UUID")
    if args.timeout < 0 or args.request_timeout <= 0:
        parser.error("timeouts must be positive")
    if not args.prompt.strip():
        parser.error("--prompt must not be blank")
    return Options(
        url=url,
        token=token,
        anonymous_generation=args.anonymous_generation,
        timeout=args.timeout,
        request_timeout=args.request_timeout,
        prompt=args.prompt,
        guid=args.guid,
        guid_file=args.guid_file,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    print(f"smoke: {options.url}", flush=True)
    with httpx.Client(timeout=options.request_timeout, follow_redirects=False) as client:
        ok = SmokeRun(options, client).run()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
