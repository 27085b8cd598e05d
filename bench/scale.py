"""``make bench-scale``: the read scenarios at 10,000, 100,000 and 1,000,000 images, to
show whether their cost stays flat as the data grows.

    .venv/bin/python -m bench.scale                       # 10k, 100k, 1M
    .venv/bin/python -m bench.scale --sizes 10000,100000  # fewer sizes

Each size has a database of its own (``<database>_10k``, ...), seeded incrementally: the
first time, a size copies the rows of the size before it and adds the rest; later runs
reuse them. The store is shared (image n is the same in every database). MariaDB's buffer
pool is raised to 2 GiB for the run and put back after (``bench/mysql.py``: the 1M
database is 0.7 GB, and the default 128 MiB made a random detail a disk read), and each
database is read through its indexes once before it is measured. PixyProxy runs
with its default settings (2 workers, anonymous reads, the placeholder generator, which
no scenario calls). Scenarios per size, each measured ``--repeat`` times:

- ``detail``: ``GET /image/{guid}`` of random public guids (at 1M, most of them are not in
  the 10,000-entry cache: the database path counts);
- ``first_page``: ``GET /image?limit=50``;
- ``deep_page``: pages of the last tenth of the list, reached by paging through it once
  by the ``Link`` headers (``limit=100`` on the walk, so its pages are of 100);
- ``tag_common``/``tag_rare``: a tag on about a sixth of the images / the rarest tags;
- ``author_common``/``author_rare``: the most prolific author / authors of a few images;
- ``q_common``/``q_rare``: a word in a tenth of the prompts / a word in one prompt;
- ``detail_db``/``deep_page_db``: ``detail`` and ``deep_page`` once more, on a server
  started with both caches off (``PIXY_DETAIL_CACHE_BYTES=0``, ``PIXY_LIST_CACHE_BYTES=0``):
  every request is the database path at every size (``deep_page_db``: the 10 deepest
  pages at every size, as many as callers share at 10,000 images). ``detail`` and
  ``deep_page`` compare a cache hit at 10,000 images with a database read at 1M; these two
  compare like with like.

Targets (judged on medians): p99 at the largest size <= 1.5x p99 at the smallest for
detail, pages, tag and author, and for the two database paths; ``q`` p99 <= 100 ms at the
largest size. Writes ``bench/results-scale.json``; exit codes as ``bench.run``.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import scale_report
from bench.lists import LIST_LIMIT, walk_list
from bench.loadgen import wrk_path
from bench.machine import QUIET_PCT, git_state, loadavg, machine, utc_now_text, wait_for_quiet
from bench.measure import Load, Measurer, write_paths
from bench.mysql import SCALE_BUFFER_POOL_BYTES, buffer_pool_of_at_least, preload
from bench.run import (
    HarnessError,
    add_common_arguments,
    load_of,
    parse_env,
    pixyproxy_env,
    rss_summary,
    run_reported,
    run_seed,
    save,
    smoke,
)
from bench.seed import MySQLTarget, Seeded
from bench.seeddata import SUBJECTS, codename
from bench.servers import REPO, MemoryWatch, Server, start_pixyproxy

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
WALK_LIMIT = 100
COMMON_WORD = SUBJECTS[0].split()[-1]  # "lighthouse": in a tenth of the prompts
RARE_VALUES = 50  # how many rare tags, authors and words the rare scenarios spread over
# deep_page_db asks for this many of the deepest pages at every size: callers asking for one
# page at once share its read (service/singleflight.py), caches or not, and the share must
# not change with the size (10 pages are all of 10,000 images' last tenth).
DATABASE_DEEP_PAGES = 10
CACHES_OFF = {"PIXY_DETAIL_CACHE_BYTES": "0", "PIXY_LIST_CACHE_BYTES": "0"}


@dataclass
class ScaleOptions:
    sizes: tuple[int, ...]
    load: Load
    workers: int
    mysql_url: str
    seed_method: str
    output: Path
    history_dir: Path | None
    busy_sample_s: float
    wait_quiet_s: float
    server_env: dict[str, str]


def size_label(size: int) -> str:
    for unit, name in ((1_000_000, "m"), (1_000, "k")):
        if size % unit == 0:
            return f"{size // unit}{name}"
    return str(size)


def parse_args(argv: Sequence[str] | None) -> ScaleOptions:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    add_common_arguments(parser, duration=10)
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="image counts, smallest first (comma-separated)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results-scale.json")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(part) for part in args.sizes.split(",") if part)
    except ValueError:
        parser.error("--sizes: image counts, comma-separated")
    if not sizes or list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
        parser.error("--sizes: positive image counts, smallest first, each once")
    return ScaleOptions(
        sizes=sizes,
        load=load_of(args, parser),
        workers=args.workers,
        mysql_url=args.mysql_url,
        seed_method=args.seed_method,
        output=args.output.resolve(),
        history_dir=None if args.no_history else args.history_dir.resolve(),
        busy_sample_s=max(0.1, args.busy_sample),
        wait_quiet_s=max(0.0, args.wait_quiet),
        server_env=parse_env(parser, args.env),
    )


def _counted(target: MySQLTarget, sql: str) -> list[tuple[str, int]]:
    """(value, images) pairs, most images first."""
    with target.connect() as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return [(str(value), int(count)) for value, count in cursor.fetchall()]


def filter_values(target: MySQLTarget) -> dict[str, list[str]]:
    """The most used tag and author, and the least used ones, from the seeded rows."""
    tags = _counted(
        target,
        "SELECT tag, COUNT(*) AS n FROM image_tags GROUP BY tag ORDER BY n DESC, tag",
    )
    authors = _counted(
        target,
        "SELECT author, COUNT(*) AS n FROM images WHERE author IS NOT NULL AND private = 0"
        " GROUP BY author ORDER BY n DESC, author",
    )
    return {
        "tag_common": [tags[0][0]],
        "tag_rare": [tag for tag, _n in tags[-RARE_VALUES:]],
        "author_common": [authors[0][0]],
        "author_rare": [author for author, _n in authors[-RARE_VALUES:]],
    }


def scenario_paths(
    seeded: Seeded, values: dict[str, list[str]], deep: list[str]
) -> dict[str, list[str]]:
    """Every scenario's request paths (wrk picks one at random per request)."""
    rng = random.Random(seeded.images)  # noqa: S311 - which words to ask for, not secrets
    public_ids = rng.sample(range(1, seeded.images + 1), min(RARE_VALUES * 4, seeded.images))
    page = f"/image?limit={LIST_LIMIT}"
    paths = {
        "detail": [f"/image/{guid}" for guid in seeded.public_guids],
        "first_page": [page],
        "deep_page": deep,
        "tag_common": [f"{page}&tag={v}" for v in values["tag_common"]],
        "tag_rare": [f"{page}&tag={v}" for v in values["tag_rare"]],
        "author_common": [f"{page}&author={v}" for v in values["author_common"]],
        "author_rare": [f"{page}&author={v}" for v in values["author_rare"]],
        "q_common": [f"{page}&q={COMMON_WORD}"],
        "q_rare": [f"{page}&q={codename(image_id)}" for image_id in public_ids],
    }
    return {name: found for name, found in paths.items() if found}


class ScaleRunner:
    def __init__(self, options: ScaleOptions) -> None:
        self.options = options
        self.results: dict[str, Any] = {"sizes": {}, "notes": []}
        self.measurer = Measurer(options.load, self.note)

    def note(self, text: str) -> None:
        print(f"bench: {text}", flush=True)
        self.results["notes"].append(text)

    def run(self) -> dict[str, Any]:
        options = self.options
        started = utc_now_text()
        if wrk_path() is None:
            raise HarnessError("wrk is not installed (Debian: apt-get install wrk)")
        busy = wait_for_quiet(options.busy_sample_s, options.wait_quiet_s)
        if busy > QUIET_PCT:
            self.note(f"the machine was already {busy:g} % busy before the run: figures are noisy")
        self.results.update(
            {
                "version": 2,
                "started_at": started,
                "machine": {**machine(), "cpu_busy_pct_before": busy, "loadavg_start": loadavg()},
                "git": git_state(),
                "config": {
                    "sizes": list(options.sizes),
                    "duration_s": options.load.duration_s,
                    "repeat": options.load.repeat,
                    "spread": "min-max",
                    "warmup_s": options.load.warmup_s,
                    "connections": options.load.connections,
                    "wrk_threads": options.load.threads,
                    "workers": options.workers,
                    "seed_method": options.seed_method,
                    "server_env": options.server_env,
                },
            }
        )
        base = MySQLTarget.from_url(options.mysql_url)
        smaller = None
        with buffer_pool_of_at_least(base, SCALE_BUFFER_POOL_BYTES) as pool:
            self.results["config"]["mysql_buffer_pool"] = pool
            if pool["refused"]:
                self.note(
                    f"MariaDB's buffer pool ({pool['before_bytes']} bytes) was {pool['refused']}"
                )
            for size in options.sizes:
                target = base.with_suffix(size_label(size))
                seeded = run_seed(
                    target,
                    options.load.work_dir,
                    size,
                    method=options.seed_method,
                    smaller=smaller,
                )
                preload(target)
                self.results["sizes"][str(size)] = self._size(seeded, target)
                smaller = target
        self.results["growth"] = scale_report.growth(self.results)
        self.results["targets"] = scale_report.evaluate(self.results)
        self.results["machine"]["loadavg_end"] = loadavg()
        self.results["finished_at"] = utc_now_text()
        return self.results

    def _size(self, seeded: Seeded, target: MySQLTarget) -> dict[str, Any]:
        options = self.options
        label = size_label(seeded.images)
        paths_dir = options.load.work_dir / "paths" / label
        env = pixyproxy_env(
            target,
            seeded.storage,
            options.workers,
            {"PIXY_IMAGE_PROVIDER": "placeholder", **options.server_env},
        )
        memory = MemoryWatch()
        result: dict[str, Any] = {"seed": seeded.summary(), "scenarios": {}}
        files: dict[str, Path] = {}
        with memory.running(), self._server(env, seeded, memory) as server:
            deep = self._deep_pages(server, seeded.images)
            all_paths = scenario_paths(seeded, filter_values(target), deep)
            result["filters"] = {k: v[:3] for k, v in all_paths.items() if k != "detail"}
            for name, paths in all_paths.items():
                files[name] = write_paths(paths_dir / f"{name}.txt", paths)
                result["scenarios"][name] = self.measurer.scenario(
                    f"{label} {name}", server, files[name]
                )
        result["rss"] = rss_summary(memory)
        database_paths = {"detail_db": files.get("detail")}
        if deep:
            deepest = deep[-DATABASE_DEEP_PAGES:]
            database_paths["deep_page_db"] = write_paths(paths_dir / "deep_page_db.txt", deepest)
        with self._server({**env, **CACHES_OFF}, seeded) as server:
            for name, file in database_paths.items():
                if file is not None:
                    result["scenarios"][name] = self.measurer.scenario(
                        f"{label} {name}", server, file
                    )
        return result

    @contextmanager
    def _server(
        self, env: dict[str, str], seeded: Seeded, memory: MemoryWatch | None = None
    ) -> Iterator[Server]:
        """PixyProxy on ``env`` (its workers' memory in ``memory``), checked by one smoke
        request."""
        options = self.options
        server = start_pixyproxy(env, options.load.work_dir / "logs", workers=options.workers)
        try:
            if memory is not None:
                memory.watch("pixyproxy", server.pid)
            smoke(server.url, seeded.public_guids[0])
            yield server
        finally:
            if memory is not None:
                memory.unwatch("pixyproxy")
            server.stop()

    def _deep_pages(self, server: Server, images: int) -> list[str]:
        print(f"bench: paging through {images} images, {WALK_LIMIT} a page", flush=True)
        walk = walk_list(server.url, limit=WALK_LIMIT, max_pages=images // WALK_LIMIT + 5)
        deep = walk.next_paths[-max(1, len(walk.next_paths) // 10) :] if walk.next_paths else []
        if not deep:
            self.note(f"{images} images fit one page: no deep page to ask for")
        return deep


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    results = run_reported(ScaleRunner(options).run)
    if results is None:
        return 2
    print()
    print("\n".join(scale_report.tables(results)))
    for path in save(options.output, options.history_dir, results):
        print(f"bench: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
