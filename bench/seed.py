"""Seed a MariaDB database of the bench's own with images, quickly and incrementally.

Rows go straight into the tables the repository reads, with the repository's own column
list and encoding (``pixyproxy.data.images.IMAGES``, made from ``core/models.py``), so a new
column keeps working; ``bench/seeddata.py`` decides what each image is. Files are hard links
to a few PNG sources of about 1 MB each in the store's layout ``<2 hex>/<guid>.png``: one
link is a directory entry, not an inode or a copy, so a million images cost no more disk
than their sources and their directories (ext4 allows 65,000 links to a file: each source
takes at most ``LINKS_PER_SOURCE``, and sources are added as the seed grows).

A seed is reused when its marker (``seed-<database>.json`` beside the store) and the
database agree; a larger ``count`` adds only the missing rows; rows a generation scenario
added are removed first. One store serves every bench database: image ``n`` is the same
everywhere, so the store holds the files of the largest seed and each row's file exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import pymysql

from bench.mysql import MySQLTarget, SeedError, drop_database, migrate
from bench.seeddata import SeedImage, seed_image, seed_images
from bench.writers import WRITERS
from pixyproxy.core.models import ImageRecord
from pixyproxy.data.images import WRITTEN, row_params
from tests.support.png import rgb_png

__all__ = ["MySQLTarget", "SeedError", "Seeded", "drop_database", "remove_generated", "seed"]

SEED_MODEL = "bench-seed"
SEED_FORMAT = 3  # bump when the seeded data changes shape, so old seeds are rebuilt
SOURCES_PER_BLOCK = 8  # distinct files among neighbouring images
LINKS_PER_SOURCE = 50_000  # under ext4's 65,000 links per inode
PNG_SIDE = 1024
NOISE_ROWS = 326  # rows of random RGB: 326 * 3072 bytes, about 1 MB that does not compress
BATCH = 50_000  # rows made and written at a time: bounded memory at any size
Method = Literal["load-data", "insert"]


@dataclass(frozen=True)
class SourcePng:
    path: Path
    size_bytes: int
    sha256: str


@dataclass
class Seeded:
    """What the load scenarios need to know about the seeded data."""

    images: int
    database: str
    storage: Path
    public_guids: list[str]
    private: int
    max_seed_id: int
    reused: bool
    added: int
    copied: int
    method: str
    seconds: float
    seconds_rows: float
    seconds_files: float
    removed_generated: int
    source_png_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("public_guids")
        data["storage"] = str(self.storage)
        data["public"] = len(self.public_guids)
        return data


# --- PNG sources -----------------------------------------------------------------------------


def noise_png(side: int = PNG_SIDE, noise_rows: int = NOISE_ROWS) -> bytes:
    """A ``side`` x ``side`` RGB PNG: random noise on top (incompressible), a gradient below."""
    rows = []
    for y in range(side):
        if y < noise_rows:
            rows.append(os.urandom(side * 3))
        else:
            shade = y * 255 // side
            rows.append(bytes((shade, 255 - shade, 128)) * side)
    return rgb_png(side, rows, level=1)


def source_count(images: int) -> int:
    per_block = SOURCES_PER_BLOCK * LINKS_PER_SOURCE
    return SOURCES_PER_BLOCK * max(1, math.ceil(images / per_block))


def source_index(image_id: int) -> int:
    """Which source image ``image_id`` links to: one of 8 in its block of 400,000 ids."""
    block = (image_id - 1) // (SOURCES_PER_BLOCK * LINKS_PER_SOURCE)
    return block * SOURCES_PER_BLOCK + image_id % SOURCES_PER_BLOCK


def make_sources(directory: Path, count: int) -> list[SourcePng]:
    """``count`` distinct noise PNGs under ``directory``, made once and then reused."""
    directory.mkdir(parents=True, exist_ok=True)
    sources = []
    for index in range(count):
        path = directory / f"source-{index}.png"
        if not path.is_file():
            temp = path.with_suffix(".tmp")
            temp.write_bytes(noise_png())
            temp.replace(path)
        data = path.read_bytes()
        sources.append(SourcePng(path, len(data), hashlib.sha256(data).hexdigest()))
    return sources


def store_path(storage: Path, guid: str) -> Path:
    return storage / guid[:2] / f"{guid}.png"


# --- rows ------------------------------------------------------------------------------------


def image_columns() -> tuple[str, ...]:
    """The images table's columns as the repository writes them (the search words among
    them), plus the id we choose."""
    return ("id", *WRITTEN)


def image_rows(images: list[SeedImage], sources: list[SourcePng]) -> list[dict[str, Any]]:
    """Each image as the repository's INSERT parameters (its encoding), with its id."""
    rows = []
    for image in images:
        source = sources[source_index(image.id)]
        record = ImageRecord.model_construct(
            id=image.id,
            guid=UUID(image.guid),
            prompt=image.prompt,
            filename=f"{image.guid}.png",
            tags=list(image.tags),
            author=image.author,
            private=image.private,
            created_at=image.created_at,
            updated_at=image.created_at,
            content_type="image/png",
            size_bytes=source.size_bytes,
            width=PNG_SIDE,
            height=PNG_SIDE,
            model=SEED_MODEL,
            sha256=source.sha256,
        )
        rows.append({"id": image.id, **row_params(record)})
    return rows


TAG_COLUMNS = ("image_id", "tag", "position")


def tag_rows(images: list[SeedImage]) -> list[dict[str, Any]]:
    return [
        {"image_id": image.id, "tag": tag, "position": position}
        for image in images
        for position, tag in enumerate(image.tags)
    ]


def _add(
    target: MySQLTarget,
    *,
    write_from: int,
    link_from: int,
    last: int,
    sources: list[SourcePng],
    method: Method,
    storage: Path,
) -> tuple[float, float]:
    """Write rows ``write_from``..``last`` and link files ``link_from``..``last``, a batch
    at a time; the seconds spent on each."""
    write = WRITERS[method]
    rows_s = files_s = 0.0
    with target.connect(local_infile=method == "load-data") as connection:
        with connection.cursor() as cursor:
            # Our rows are consistent by construction: skip the per-row checks.
            cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        for start in range(min(write_from, link_from), last + 1, BATCH):
            batch = seed_images(start, min(last, start + BATCH - 1))
            started = time.monotonic()
            writing = [image for image in batch if image.id >= write_from]
            rows = image_rows(writing, sources)
            write(connection, "images", image_columns(), rows, storage.parent)
            write(connection, "image_tags", TAG_COLUMNS, tag_rows(writing), storage.parent)
            linked = time.monotonic()
            _link(storage, [image for image in batch if image.id >= link_from], sources)
            rows_s, files_s = rows_s + linked - started, files_s + time.monotonic() - linked
    return rows_s, files_s


def _link(storage: Path, images: list[SeedImage], sources: list[SourcePng]) -> None:
    for image in images:
        target = store_path(storage, image.guid)
        source = sources[source_index(image.id)].path
        try:
            os.link(source, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
        except FileExistsError:
            continue


# --- reuse -----------------------------------------------------------------------------------


def _marker_path(work_dir: Path, database: str) -> Path:
    return work_dir / f"seed-{database}.json"


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _seeded_rows(target: MySQLTarget) -> int | None:
    """How many seeded rows the database holds if they are ids 1..n; None otherwise."""
    try:
        with target.connect() as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM images WHERE model = %s", (SEED_MODEL,)
            )
            row = cursor.fetchone()
    except pymysql.err.MySQLError:
        return None
    if row is None or row[0] != row[1]:
        return None
    return int(row[0])


def public_guids(target: MySQLTarget) -> list[str]:
    """The guids of the seeded public images, oldest first."""
    with target.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT guid FROM images WHERE model = %s AND private = 0 ORDER BY id", (SEED_MODEL,)
        )
        return [str(row[0]) for row in cursor.fetchall()]


def remove_generated(target: MySQLTarget, storage: Path, max_seed_id: int) -> int:
    """Delete rows (and their files) that a generation scenario added after the seed."""
    with target.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT guid FROM images WHERE id > %s", (max_seed_id,))
        guids = [str(row[0]) for row in cursor.fetchall()]
        for guid in guids:
            store_path(storage, guid).unlink(missing_ok=True)
        cursor.execute("DELETE FROM images WHERE id > %s", (max_seed_id,))
    return len(guids)


def _rebuild(target: MySQLTarget) -> None:
    drop_database(target)
    try:
        with target.connect(database=False) as admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{target.database}` CHARACTER SET utf8mb4")
    except pymysql.err.MySQLError as exc:
        raise SeedError(f"cannot create database {target.database}: {exc}") from exc
    migrate(target)


def _copy_from(source: MySQLTarget, target: MySQLTarget, count: int) -> None:
    """Rows 1..count of a smaller seeded database of the same server, copied server-side."""
    columns = ", ".join(image_columns())
    with target.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        cursor.execute(
            f"INSERT INTO images ({columns}) SELECT {columns} FROM `{source.database}`.images"
            " WHERE id <= %s AND model = %s",
            (count, SEED_MODEL),
        )
        cursor.execute(
            "INSERT INTO image_tags (image_id, tag, position) SELECT image_id, tag, position"
            f" FROM `{source.database}`.image_tags WHERE image_id <= %s",
            (count,),
        )


def _compatible(marker: dict[str, Any], hashes: list[str]) -> bool:
    """Same seed format, and the sources both know of are the same files."""
    known = marker.get("sources")
    if marker.get("format") != SEED_FORMAT or not isinstance(known, list):
        return False
    return all(a == b for a, b in zip(known, hashes, strict=False))


def _prepare_store(work_dir: Path, hashes: list[str]) -> Path:
    """The shared store; emptied when its links point at other sources than these."""
    storage = work_dir / "images"
    marker_path = work_dir / "store.json"
    marker = _read_marker(marker_path)
    if storage.exists() and (marker is None or not _compatible(marker, hashes)):
        shutil.rmtree(storage)
    storage.mkdir(parents=True, exist_ok=True)
    marker_path.write_text(json.dumps({"format": SEED_FORMAT, "sources": hashes}) + "\n")
    return storage


def _files_present(storage: Path, count: int) -> bool:
    """Whether a sample of 200 of images 1..count have their file."""
    step = max(1, count // 200)
    return all(
        store_path(storage, seed_image(image_id).guid).is_file()
        for image_id in range(1, count + 1, step)
    )


def seed(
    target: MySQLTarget,
    work_dir: Path,
    count: int,
    *,
    method: Method = "load-data",
    smaller: MySQLTarget | None = None,
) -> Seeded:
    """Make sure ``target`` holds exactly images 1..``count`` and the store their files.

    ``smaller``: a database seeded here before with fewer images (the previous size of a
    scale run): its rows are copied server-side rather than made again."""
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    sources = make_sources(work_dir / "sources", source_count(count))
    hashes = [source.sha256 for source in sources]
    storage = _prepare_store(work_dir, hashes)
    marker_path = _marker_path(work_dir, target.database)
    marker = _read_marker(marker_path) or {}
    have = _seeded_rows(target) if _compatible(marker, hashes) else None
    if have is None or have != marker.get("images") or have > count:
        marker_path.unlink(missing_ok=True)
        _rebuild(target)
        have = 0
    else:
        migrate(target)  # a newer schema version may have landed since the seed
    removed = remove_generated(target, storage, have)
    copied, copy_s = 0, 0.0
    if smaller is not None and have == 0:
        smaller_marker = _read_marker(_marker_path(work_dir, smaller.database)) or {}
        smaller_rows = smaller_marker.get("images")
        compatible = _compatible(smaller_marker, hashes)
        if compatible and isinstance(smaller_rows, int) and _seeded_rows(smaller) == smaller_rows:
            copied = min(count, smaller_rows)
            copy_started = time.monotonic()
            _copy_from(smaller, target, copied)
            copy_s = time.monotonic() - copy_started
    rows_s, files_s = _add(
        target,
        write_from=have + copied + 1,
        link_from=have + 1 if _files_present(storage, have) else 1,
        last=count,
        sources=sources,
        method=method,
        storage=storage,
    )
    public = public_guids(target)
    marker = {"format": SEED_FORMAT, "sources": hashes, "images": count}
    marker_path.write_text(json.dumps(marker) + "\n")
    return Seeded(
        images=count,
        database=target.database,
        storage=storage,
        public_guids=public,
        private=count - len(public),
        max_seed_id=count,
        reused=have == count,
        added=count - have - copied,
        copied=copied,
        method=method,
        seconds=round(time.monotonic() - started, 2),
        seconds_rows=round(rows_s + copy_s, 2),
        seconds_files=round(files_s, 2),
        removed_generated=removed,
        source_png_bytes=[source.size_bytes for source in sources],
    )
