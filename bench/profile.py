"""Sample the gunicorn workers with py-spy while a scenario runs, and sum up where time goes.

``py-spy`` is not a dependency of PixyProxy: ``.venv/bin/pip install py-spy`` to use
``bench/run.py --profile``. Each worker gets one ``py-spy record --format raw`` (collapsed
stacks); ``summarize`` folds them into the frames that take the most samples, by themselves
("self") and with everything they call ("inclusive"). Runs with ``--profile`` are slower
(py-spy pauses the workers to sample them): use them to find hot spots, not for the table.

    python -m bench.profile var/bench/profile/1_detail-*.txt   # print the summary again
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def py_spy_path() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.is_file() else shutil.which("py-spy")


class Recording:
    """py-spy recording some workers in the background."""

    def __init__(
        self, pids: list[int], name: str, out_dir: Path, duration_s: float, rate: int = 200
    ) -> None:
        spy = py_spy_path()
        if spy is None:
            raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.outputs: list[Path] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []
        for pid in pids:
            output = out_dir / f"{name}-{pid}.txt"
            log = out_dir / f"{name}-{pid}.log"
            self.outputs.append(output)
            self._logs.append(log)
            with log.open("wb") as log_file:
                self._processes.append(
                    subprocess.Popen(
                        [
                            spy,
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(max(1, round(duration_s))),
                            "--rate",
                            str(rate),
                            "--format",
                            "raw",
                            "--gil",  # only the thread holding the GIL: Python's CPU time
                            "--output",
                            str(output),
                        ],
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                    )
                )
        self._timeout_s = duration_s + 60

    def wait(self) -> list[Path]:
        for process, log in zip(self._processes, self._logs, strict=True):
            try:
                process.wait(timeout=self._timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.returncode != 0:
                print(
                    f"py-spy exited with {process.returncode}: {log.read_text()[-500:]}",
                    file=sys.stderr,
                )
        return [path for path in self.outputs if path.is_file()]


# Frames every sample of a worker sits under: they say nothing about where time goes.
_SCAFFOLD_PACKAGES = frozenset({"gunicorn", "uvicorn_worker", "runpy"})
_SCAFFOLD_FUNCTIONS = frozenset(
    {
        "asyncio_run",
        "Runner.run",
        "Thread._bootstrap",
        "Thread._bootstrap_inner",
        "Thread.run",
        "WorkerThread.run",
        "BaseEventLoop.run_forever",
        "BaseEventLoop.run_until_complete",
        "BaseEventLoop._run_once",
        "Handle._run",
        "Context.run",
    }
)


@dataclass
class Summary:
    samples: int
    self_top: list[tuple[str, int]]
    inclusive_top: list[tuple[str, int]]
    packages: list[tuple[str, int]]
    threads: dict[str, int]

    def lines(self, title: str) -> list[str]:
        if not self.samples:
            return [f"{title}: no samples"]

        def share(count: int) -> str:
            return f"{count / self.samples:6.1%}"

        out = [f"{title}: {self.samples} samples of the thread holding the GIL, every worker"]
        out.append(
            "  threads: "
            + ", ".join(f"{name} {share(count).strip()}" for name, count in self.threads.items())
        )
        out.append("  by package (self time):")
        out += [f"    {share(count)}  {name}" for name, count in self.packages]
        out.append("  self (time in the frame itself):")
        out += [f"    {share(count)}  {frame}" for frame, count in self.self_top]
        out.append("  inclusive (the frame and what it calls; server scaffolding left out):")
        out += [f"    {share(count)}  {frame}" for frame, count in self.inclusive_top]
        return out

    def as_dict(self) -> dict[str, object]:
        def shares(pairs: list[tuple[str, int]]) -> list[dict[str, object]]:
            return [{"frame": f, "share": round(c / self.samples, 4)} for f, c in pairs]

        return {
            "samples": self.samples,
            "threads": {k: round(v / max(1, self.samples), 4) for k, v in self.threads.items()},
            "packages": [
                {"package": p, "share": round(c / max(1, self.samples), 4)}
                for p, c in self.packages
            ],
            "self": shares(self.self_top),
            "inclusive": shares(self.inclusive_top),
        }


def _split(frame: str) -> tuple[str, str]:
    """``func (pkg/module.py:12)`` -> (``func (pkg/module.py)``, ``pkg``)."""
    name = _LINE.sub(")", frame.strip())
    where = name.partition(" (")[2]
    where = where.rstrip(")")
    if where.startswith("<frozen "):
        package = where.removeprefix("<frozen ").rstrip(">")
    else:
        package = where.split("/", 1)[0].removesuffix(".py")
    return name, package or "?"


def summarize(files: Sequence[Path], top: int = 25) -> Summary:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            # py-spy may put "process ..." and "thread ..." pseudo frames first
            frames = [
                _split(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))
            ]
            if not frames:
                continue
            total += count
            names = [name for name, _ in frames]
            self_counts[names[-1]] += count
            packages[frames[-1][1]] += count
            functions = {name.partition(" (")[0] for name in names}
            if "WorkerThread.run" in functions:
                threads["threadpool"] += count
            elif "Runner.run" in functions or "asyncio_run" in functions:
                threads["event loop"] += count
            else:
                threads["other"] += count
            for name, package in set(frames):
                function = name.partition(" (")[0]
                if package not in _SCAFFOLD_PACKAGES and function not in _SCAFFOLD_FUNCTIONS:
                    inclusive[name] += count
    return Summary(
        total,
        self_counts.most_common(top),
        inclusive.most_common(top),
        packages.most_common(12),
        dict(threads.most_common()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sum up py-spy raw (collapsed) stack files.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    print("\n".join(summarize(args.files, args.top).lines("profile")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
