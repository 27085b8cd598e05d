"""Shared pieces of the fault tests: service settings, steady traffic, process and store probes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx

from pixyproxy.data.filestore import TEMP_SUFFIX
from pixyproxy.data.png import InvalidPng, png_dimensions

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, object]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM, response.headers
    body: dict[str, object] = response.json()
    assert body["status"] == status, body
    if code is not None:
        assert body["code"] == code, body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def service_env(
    *,
    database_url: str,
    storage_dir: Path,
    mock_base_url: str | None = None,
    **extra: object,
) -> dict[str, str]:
    """Environment for ``pixyproxy serve``: anonymous generation on, so no token is needed."""
    env = {
        "PIXY_ENV": "dev",
        "PIXY_DATABASE_URL": database_url,
        "PIXY_STORAGE_DIR": str(storage_dir),
        "PIXY_ANONYMOUS_GENERATION": "true",
        "PIXY_LOG_FORMAT": "json",
        "PIXY_LOG_LEVEL": "warning",
        "PIXY_IMAGE_PROVIDER": "placeholder",
    }
    if mock_base_url is not None:
        env |= {
            "PIXY_IMAGE_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": mock_base_url,
        }
    env |= {key.upper(): str(value) for key, value in extra.items()}
    return env


# --- processes ---------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            # the command name is in parentheses and may hold spaces: split after it
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def wait_for_workers(master_pid: int, count: int, timeout_s: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = children(master_pid)
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"gunicorn {master_pid} has workers {children(master_pid)}, not {count}")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (resident at its peak) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


# --- the image store ---------------------------------------------------------------------


def final_pngs(root: Path) -> dict[str, Path]:
    """Files under their final names: ``<root>/<2 hex>/<guid>.png``, by guid."""
    found = {}
    for path in root.glob("*/*.png"):
        if not path.name.startswith("."):
            found[path.stem] = path
    return found


def temp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(f"*{TEMP_SUFFIX}") if path.is_file()]


def check_png_file(path: Path) -> str | None:
    """None if the file is a complete PNG (or vanished meanwhile), else what is wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None  # removed after a failed insert: never visible as a broken file
    try:
        png_dimensions(data, max_bytes=64 << 20)
    except InvalidPng as exc:
        return f"{path.name}: {exc} ({len(data)} bytes)"
    return None


# --- steady traffic ----------------------------------------------------------------------


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


def guid_of(text: str) -> UUID:
    return UUID(text)
