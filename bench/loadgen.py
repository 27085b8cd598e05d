"""Drive a server with ``wrk`` (Debian package ``wrk``) and read its figures back.

Each run concatenates ``lua/common.lua`` (thread setup, path files, a ``done`` hook that prints
one ``BENCH_JSON`` line) with a scenario script (``lua/get.lua``, ``lua/generate.lua``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LUA_DIR = Path(__file__).resolve().parent / "lua"
_MARKER = "BENCH_JSON "


class LoadError(RuntimeError):
    """wrk is missing, failed, or printed no figures."""


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class LoadResult:
    """One wrk run. Latencies in milliseconds; ``ok`` excludes answers with status >= 400."""

    requests: int
    duration_s: float
    rps: float
    ok_requests: int
    ok_rps: float
    errors: int
    error_kinds: dict[str, int]
    statuses: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    mb_per_s: float
    connections: int
    threads: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_output(stdout: str, *, connections: int, threads: int) -> LoadResult:
    """The figures of the ``BENCH_JSON`` line wrk's ``done`` hook printed."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARKER):
            data = json.loads(line[len(_MARKER) :])
            break
    else:
        raise LoadError(f"wrk printed no figures:\n{stdout[-2000:]}")
    duration_s = max(data["duration_us"] / 1e6, 1e-9)
    kinds = {name: int(count) for name, count in data["errors"].items()}
    requests = int(data["requests"])
    ok = max(0, requests - kinds["status"])
    latency = data["latency_us"]
    return LoadResult(
        requests=requests,
        duration_s=round(duration_s, 3),
        rps=round(requests / duration_s, 1),
        ok_requests=ok,
        ok_rps=round(ok / duration_s, 1),
        errors=sum(kinds.values()),
        error_kinds=kinds,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        p50_ms=round(latency["p50"] / 1000, 2),
        p90_ms=round(latency["p90"] / 1000, 2),
        p99_ms=round(latency["p99"] / 1000, 2),
        mean_ms=round(latency["mean"] / 1000, 2),
        max_ms=round(latency["max"] / 1000, 2),
        mb_per_s=round(data["bytes"] / duration_s / 1e6, 1),
        connections=connections,
        threads=threads,
    )


class WrkRun:
    """A wrk process started in the background; ``wait()`` returns its figures."""

    def __init__(
        self,
        url: str,
        script: str,
        script_args: list[str],
        *,
        duration_s: float,
        connections: int,
        threads: int,
        timeout_s: float,
        work_dir: Path,
    ) -> None:
        wrk = wrk_path()
        if wrk is None:
            raise LoadError("wrk is not installed (Debian: apt-get install wrk)")
        if not url.startswith(("http://127.0.0.1:", "http://[::1]:", "http://localhost:")):
            raise LoadError(f"the bench only loads loopback addresses, not {url}")
        self.connections = max(connections, threads)
        self.threads = threads
        self.duration_s = max(1, round(duration_s))
        work_dir.mkdir(parents=True, exist_ok=True)
        combined = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed in wait()
            "w", suffix=".lua", dir=work_dir, delete=False
        )
        with combined:
            combined.write((LUA_DIR / "common.lua").read_text())
            combined.write("\n")
            combined.write((LUA_DIR / script).read_text())
        self._script = Path(combined.name)
        command = [
            wrk,
            f"--threads={threads}",
            f"--connections={self.connections}",
            f"--duration={self.duration_s}s",
            f"--timeout={max(1, round(timeout_s))}s",
            f"--script={self._script}",
            url,
            "--",
            *script_args,
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def wait(self) -> LoadResult:
        try:
            stdout, _ = self._process.communicate(timeout=self.duration_s + 60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate(timeout=10)
            raise LoadError("wrk did not finish in time") from None
        finally:
            self._script.unlink(missing_ok=True)
        if self._process.returncode != 0:
            raise LoadError(f"wrk exited with {self._process.returncode}:\n{stdout[-2000:]}")
        return parse_output(stdout, connections=self.connections, threads=self.threads)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._script.unlink(missing_ok=True)

    def finish(self) -> LoadResult:
        """``wait()``, and the process is gone afterwards whatever happened."""
        try:
            return self.wait()
        finally:
            self.stop()
