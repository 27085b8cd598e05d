"""Reading PixyProxy's JSON log output in tests."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

END_FIELDS = (
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "request_id",
    "subject",
    "client",
)


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every non-empty line as a JSON object; fails naming the first line that is not one."""
    records = []
    for number, line in enumerate(output.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
        assert isinstance(record, dict), f"line {number} is not a JSON object: {line!r}"
        for field in ("event", "level", "timestamp", "logger"):
            assert field in record, f"line {number} has no {field}: {line!r}"
        records.append(record)
    return records


def request_lines(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [record for record in records if record["event"] == event]


def assert_one_start_and_end_each(
    records: list[dict[str, Any]], request_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Each id has exactly one ``request.start`` and one ``request.end``; returns the ends."""
    starts = Counter(r.get("request_id") for r in request_lines(records, "request.start"))
    ends = Counter(r.get("request_id") for r in request_lines(records, "request.end"))
    for request_id in request_ids:
        assert starts[request_id] == 1, f"{starts[request_id]} request.start for {request_id}"
        assert ends[request_id] == 1, f"{ends[request_id]} request.end for {request_id}"
    by_id = {}
    for record in request_lines(records, "request.end"):
        assert set(END_FIELDS) <= set(record), f"request.end lacks fields: {record}"
        assert isinstance(record["duration_ms"], int | float) and record["duration_ms"] >= 0
        by_id[record["request_id"]] = record
    return by_id


def read_until_ended(
    read: Callable[[], str], request_ids: Iterable[str], timeout_s: float = 10
) -> list[dict[str, Any]]:
    """Keep reading output until every id has its ``request.end`` (a streamed response's
    line follows its last byte, so it can land just after the client has it all)."""
    wanted = set(request_ids)
    output = ""
    deadline = time.monotonic() + timeout_s
    while True:
        output += read()
        records = json_lines(output)
        ended = {r.get("request_id") for r in request_lines(records, "request.end")}
        if wanted <= ended or time.monotonic() > deadline:
            return records
        time.sleep(0.05)
