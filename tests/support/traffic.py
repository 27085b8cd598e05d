"""Steady traffic against a running server, and what each request came to."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from tests.support.problems import PROBLEM


@dataclass
class Outcome:
    kind: str  # "read" or "write"
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    code: str | None = None
    retry_after: str | None = None
    guid: str | None = None
    error: str | None = None

    @property
    def duration_s(self) -> float:
        return self.ended - self.started


@dataclass
class Traffic:
    """A few threads sending requests in a loop until stopped (and never more than a bound)."""

    base_url: str
    readers: int = 3
    writers: int = 2
    pause_s: float = 0.05
    max_per_thread: int = 400
    timeout_s: float = 20
    prompt: str = "steady traffic"
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        for i in range(self.readers):
            self._threads.append(threading.Thread(target=self._run, args=("read", i), daemon=True))
        for i in range(self.writers):
            self._threads.append(threading.Thread(target=self._run, args=("write", i), daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 10)
        assert not any(thread.is_alive() for thread in self._threads), "traffic did not stop"
        return self.outcomes

    def successful_writes(self) -> set[str]:
        return {o.guid for o in self.outcomes if o.kind == "write" and o.status == 200 and o.guid}

    def _run(self, kind: str, index: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s) as client:
            for n in range(self.max_per_thread):
                if self._stop.is_set():
                    return
                outcome = self._one(client, kind, f"{index}-{n}")
                with self._lock:
                    self.outcomes.append(outcome)
                self._stop.wait(self.pause_s)

    def _one(self, client: httpx.Client, kind: str, tag: str) -> Outcome:
        started = time.monotonic()
        try:
            if kind == "write":
                response = client.post("/image", json={"prompt": f"{self.prompt} {tag}"})
            elif tag.endswith(("0", "2", "4", "6", "8")) and (guid := self._a_guid()):
                response = client.get(f"/image/{guid}")
            else:
                response = client.get("/image", params={"limit": 5})
        except httpx.HTTPError as exc:
            return Outcome(kind, started, time.monotonic(), 0, error=repr(exc))
        ended = time.monotonic()
        outcome = Outcome(kind, started, ended, response.status_code)
        outcome.retry_after = response.headers.get("retry-after")
        if response.headers.get("content-type") == PROBLEM:
            outcome.code = str(response.json().get("code"))
        elif kind == "write" and response.status_code == 200:
            outcome.guid = str(response.json()["guid"])
        return outcome

    def _a_guid(self) -> str | None:
        with self._lock:
            for outcome in reversed(self.outcomes):
                if outcome.guid:
                    return outcome.guid
        return None


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.1) -> float:
    """Seconds until ``predicate()`` was true; raises when ``timeout_s`` passes first."""
    assert callable(predicate)
    started = time.monotonic()
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if predicate():
                return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not true within {timeout_s}s")
        time.sleep(interval_s)


@contextlib.contextmanager
def traffic(base_url: str, **options: object) -> Iterator[Traffic]:
    running = Traffic(base_url, **options).start()  # type: ignore[arg-type]
    try:
        yield running
    finally:
        running.stop()
