"""Seed a MariaDB database of the bench's own with images: rows straight into the tables the
repository reads, PNG files (about 1 MB of noise each) hard-linked into the store layout.

A run reuses the database and the files when they were seeded with the same image count and
seeding format; rows added by a previous run's generation scenario are removed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import pymysql

from pixyproxy.core.settings import load_settings
from pixyproxy.data.init import migrate, open_database
from tests.support.png import rgb_png

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/pixyproxy_bench"
SEED_MODEL = "bench-seed"
SEED_FORMAT = 1  # bump when the seeded data changes shape, so old seeds are rebuilt
SOURCE_COUNT = 8
PNG_SIDE = 1024
NOISE_ROWS = 326  # rows of random RGB: 326 * 3072 bytes, about 1 MB that does not compress
INSERT_BATCH = 1000
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)

_SUBJECTS = (
    "a lighthouse",
    "a red fox",
    "an old tram",
    "a glass teapot",
    "a mountain village",
    "a paper crane",
    "a robot gardener",
    "a koi pond",
    "a desert observatory",
    "a bicycle in the rain",
)
_STYLES = (
    "at dusk, oil painting",
    "in the style of a woodcut",
    "as a pixel-art scene",
    "photographed on 35 mm film",
    "in watercolour, soft light",
    "isometric, pastel colours",
    "under neon signs at night",
)
_TAGS = ("landscape", "portrait", "animal", "city", "night", "abstract", "retro", "bench")


class SeedError(RuntimeError):
    """The database or the store could not be prepared."""


@dataclass(frozen=True)
class MySQLTarget:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> MySQLTarget:
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        if parts.scheme not in ("mysql", "mysql+pymysql") or not database:
            raise SeedError(f"expected mysql://user:password@host:port/database, got {url!r}")
        if not database.replace("_", "").isalnum():
            raise SeedError(f"database name {database!r}: letters, digits and '_' only")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
        )

    @property
    def url(self) -> str:
        """The URL for ``PIXY_DATABASE_URL`` (password included: it is a local bench server)."""
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"mysql://{auth}@{self.host}:{self.port}/{self.database}"

    def connect(self, *, database: bool = True) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database if database else None,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
        )


@dataclass(frozen=True)
class SourcePng:
    path: Path
    size_bytes: int
    sha256: str


@dataclass
class Seeded:
    """What the load scenarios need to know about the seeded data."""

    images: int
    public_guids: list[str]
    private: int
    with_tags: int
    with_authors: int
    max_seed_id: int
    reused: bool
    seconds: float
    removed_generated: int
    source_png_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("public_guids")
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


def make_sources(directory: Path, count: int = SOURCE_COUNT) -> list[SourcePng]:
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


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Image:
    id: int
    guid: str
    prompt: str
    author: str | None
    private: bool
    tags: tuple[str, ...]
    source: SourcePng
    created_at: datetime


def _images(count: int, sources: list[SourcePng]) -> list[_Image]:
    rng = random.Random(20250101)  # noqa: S311 - reproducible data, not secrets
    images = []
    for image_id in range(1, count + 1):
        guid = str(UUID(int=rng.getrandbits(128), version=4))
        author = f"user-{image_id % 20:02d}" if image_id % 7 == 0 else None
        private = author is not None and image_id % 49 == 0
        tags: tuple[str, ...] = ()
        if image_id % 3 == 0:
            tags = tuple(rng.sample(_TAGS, 1 + image_id % 3))
        prompt = f"{rng.choice(_SUBJECTS)} {rng.choice(_STYLES)}, variation {image_id}" + (
            ", with a small caption in the corner" if image_id % 5 == 0 else ""
        )
        images.append(
            _Image(
                id=image_id,
                guid=guid,
                prompt=prompt,
                author=author,
                private=private,
                tags=tags,
                source=sources[image_id % len(sources)],
                created_at=BASE_TIME + timedelta(seconds=image_id * 37),
            )
        )
    return images


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _insert_rows(connection: pymysql.connections.Connection[Any], images: list[_Image]) -> None:
    image_sql = (
        "INSERT INTO images (id, guid, filename, prompt, author, private, content_type,"
        " size_bytes, width, height, model, sha256, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    tag_sql = "INSERT INTO image_tags (image_id, tag, position) VALUES (%s, %s, %s)"
    with connection.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        for start in range(0, len(images), INSERT_BATCH):
            batch = images[start : start + INSERT_BATCH]
            cursor.execute("BEGIN")
            cursor.executemany(
                image_sql,
                [
                    (
                        image.id,
                        image.guid,
                        f"{image.guid}.png",
                        image.prompt,
                        image.author,
                        int(image.private),
                        "image/png",
                        image.source.size_bytes,
                        PNG_SIDE,
                        PNG_SIDE,
                        SEED_MODEL,
                        image.source.sha256,
                        _timestamp(image.created_at),
                        _timestamp(image.created_at),
                    )
                    for image in batch
                ],
            )
            tag_rows = [
                (image.id, tag, position)
                for image in batch
                for position, tag in enumerate(image.tags)
            ]
            if tag_rows:
                cursor.executemany(tag_sql, tag_rows)
            cursor.execute("COMMIT")


def _link_files(storage: Path, images: list[_Image]) -> None:
    for image in images:
        target = storage / image.guid[:2] / f"{image.guid}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(image.source.path, target)
        except FileExistsError:
            continue
        except OSError:  # another filesystem, or too many links: copy instead
            shutil.copyfile(image.source.path, target)


# --- reuse -----------------------------------------------------------------------------------


def _marker(work_dir: Path) -> Path:
    return work_dir / "seed.json"


def _wanted_marker(target: MySQLTarget, count: int, sources: list[SourcePng]) -> dict[str, Any]:
    return {
        "format": SEED_FORMAT,
        "images": count,
        "database": f"{target.host}:{target.port}/{target.database}",
        "sources": [source.sha256 for source in sources],
    }


def _reusable(
    target: MySQLTarget, work_dir: Path, wanted: dict[str, Any], images: list[_Image]
) -> bool:
    marker = _marker(work_dir)
    try:
        if json.loads(marker.read_text()) != wanted:
            return False
    except (OSError, ValueError):
        return False
    try:
        connection = target.connect()
    except pymysql.err.MySQLError:
        return False
    with connection, connection.cursor() as cursor:
        try:
            cursor.execute(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM images WHERE model = %s", (SEED_MODEL,)
            )
        except pymysql.err.MySQLError:
            return False
        row = cursor.fetchone()
    if row is None or row[0] != len(images) or row[1] != len(images):
        return False
    storage = work_dir / "images"
    step = max(1, len(images) // 50)
    return all(
        (storage / image.guid[:2] / f"{image.guid}.png").is_file() for image in images[::step]
    )


def remove_generated(target: MySQLTarget, storage: Path, max_seed_id: int) -> int:
    """Delete rows (and their files) that a generation scenario added after the seed."""
    with target.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT guid FROM images WHERE id > %s", (max_seed_id,))
        guids = [str(row[0]) for row in cursor.fetchall()]
        for guid in guids:
            with contextlib.suppress(OSError):
                (storage / guid[:2] / f"{guid}.png").unlink()
        cursor.execute("DELETE FROM images WHERE id > %s", (max_seed_id,))
    return len(guids)


def _migrate(target: MySQLTarget) -> None:
    settings = load_settings(secrets_dirs=(), database_url=target.url, db_pool_size=2)
    database = open_database(settings)
    try:
        migrate(database)
    finally:
        database.close()


def seed(target: MySQLTarget, work_dir: Path, count: int) -> Seeded:
    """Make sure ``target`` holds exactly ``count`` seeded images and their files."""
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    storage = work_dir / "images"
    sources = make_sources(work_dir / "sources")
    images = _images(count, sources)
    wanted = _wanted_marker(target, count, sources)
    reused = _reusable(target, work_dir, wanted, images)
    if not reused:
        _marker(work_dir).unlink(missing_ok=True)
        try:
            with target.connect(database=False) as admin, admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
                cursor.execute(f"CREATE DATABASE `{target.database}` CHARACTER SET utf8mb4")
        except pymysql.err.MySQLError as exc:
            raise SeedError(f"cannot create database {target.database}: {exc}") from exc
        _migrate(target)
        if storage.exists():
            shutil.rmtree(storage)
        storage.mkdir(parents=True)
        with target.connect() as connection:
            _insert_rows(connection, images)
        _link_files(storage, images)
        _marker(work_dir).write_text(json.dumps(wanted, indent=2) + "\n")
    else:
        _migrate(target)  # a newer schema version may have landed since the seed
    removed = remove_generated(target, storage, count)
    return Seeded(
        images=count,
        public_guids=[image.guid for image in images if not image.private],
        private=sum(image.private for image in images),
        with_tags=sum(bool(image.tags) for image in images),
        with_authors=sum(image.author is not None for image in images),
        max_seed_id=count,
        reused=reused,
        seconds=round(time.monotonic() - started, 2),
        removed_generated=removed,
        source_png_bytes=[source.size_bytes for source in sources],
    )


def drop_database(target: MySQLTarget) -> None:
    with target.connect(database=False) as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
