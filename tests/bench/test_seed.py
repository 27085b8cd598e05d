"""Seeding the bench's database: every row and its file, incremental growth, reuse, and
both ways of writing rows, against the real MariaDB (no timing)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import seed as seeding
from bench.mysql import MySQLTarget, drop_database
from bench.seeddata import codename, seed_image, seed_images
from bench.writers import tsv_field
from pixyproxy.data.images import WRITTEN
from pixyproxy.data.png import png_dimensions
from pixyproxy.data.search import match_params
from tests.support.mysql import mysql_base_url

pytestmark = pytest.mark.mysql


@pytest.fixture
def target(mysql_admin: pymysql.Connection[Any]) -> Iterator[MySQLTarget]:
    parts = urlsplit(mysql_base_url())
    name = f"pixyproxy_bseed_{uuid.uuid4().hex[:8]}"
    made = MySQLTarget.from_url(urlunsplit(parts._replace(path=f"/{name}")))
    yield made
    for database in (made, made.with_suffix("big"), made.with_suffix("ins")):
        drop_database(database)


def rows(target: MySQLTarget, sql: str) -> list[tuple[Any, ...]]:
    with target.connect() as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def test_every_seeded_row_has_its_file_with_the_size_and_hash_the_row_says(
    target: MySQLTarget, tmp_path: Path
) -> None:
    seeded = seeding.seed(target, tmp_path, 120)
    images = rows(target, "SELECT id, guid, filename, size_bytes, sha256, private FROM images")
    assert len(images) == 120
    assert sorted(row[0] for row in images) == list(range(1, 121))
    for _id, guid, filename, size, sha256, _private in images:
        path = seeded.storage / guid[:2] / filename
        data = path.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
    assert len(seeded.public_guids) == sum(1 for row in images if not row[5])
    assert seeded.private == 120 - len(seeded.public_guids)
    tags = rows(target, "SELECT image_id, tag FROM image_tags ORDER BY image_id, position")
    assert tags == [(i.id, t) for i in seed_images(1, 120) for t in i.tags]


def test_a_larger_seed_copies_the_smaller_one_and_adds_the_rest_then_is_reused(
    target: MySQLTarget, tmp_path: Path
) -> None:
    seeding.seed(target, tmp_path, 50)
    bigger = target.with_suffix("big")
    grown = seeding.seed(bigger, tmp_path, 130, smaller=target)
    assert (grown.copied, grown.added, grown.reused) == (50, 80, False)
    columns = ", ".join(seeding.image_columns())
    first = f"SELECT {columns} FROM images WHERE id <= 50 ORDER BY id"
    assert rows(bigger, first) == rows(target, first)
    again = seeding.seed(bigger, tmp_path, 130)
    assert (again.reused, again.added) == (True, 0)
    more = seeding.seed(bigger, tmp_path, 140)  # the same database grows in place
    assert (more.reused, more.added, more.copied) == (False, 10, 0)
    assert rows(bigger, "SELECT COUNT(*), MAX(id) FROM images") == [(140, 140)]


def test_rows_added_after_the_seed_are_removed_with_their_files(
    target: MySQLTarget, tmp_path: Path
) -> None:
    seeded = seeding.seed(target, tmp_path, 20)
    extra = seed_image(999)
    rows_before = rows(target, "SELECT COUNT(*) FROM images")
    params = seeding.image_rows([extra], seeding.make_sources(tmp_path / "sources", 8))[0]
    params["model"] = "gpt-image-1"  # what the generation scenario stores
    with target.connect() as connection, connection.cursor() as cursor:
        names = ", ".join(seeding.image_columns())
        values = ", ".join(f"%({n})s" for n in seeding.image_columns())
        cursor.execute(f"INSERT INTO images ({names}) VALUES ({values})", params)
    generated = seeded.storage / extra.guid[:2] / f"{extra.guid}.png"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_bytes(b"generated")
    assert seeding.seed(target, tmp_path, 20).removed_generated == 1
    assert rows(target, "SELECT COUNT(*) FROM images") == rows_before
    assert not generated.exists()


def test_load_data_and_insert_write_the_same_rows(target: MySQLTarget, tmp_path: Path) -> None:
    seeding.seed(target, tmp_path, 40, method="load-data")
    other = target.with_suffix("ins")
    seeding.seed(other, tmp_path, 40, method="insert")
    columns = ", ".join(seeding.image_columns())
    for sql in (
        f"SELECT {columns} FROM images ORDER BY id",
        "SELECT image_id, tag, position FROM image_tags ORDER BY image_id, tag",
    ):
        assert rows(target, sql) == rows(other, sql)


def test_the_seeder_writes_the_repository_s_own_columns(tmp_path: Path) -> None:
    assert seeding.image_columns() == ("id", *WRITTEN)  # the search words among them
    sources = seeding.make_sources(tmp_path, 8)
    assert set(seeding.image_rows(seed_images(1, 1), sources)[0]) == set(WRITTEN) | {"id"}


def test_seeded_images_are_found_by_their_words(target: MySQLTarget, tmp_path: Path) -> None:
    """The q scenarios search the full-text index: a codename finds its one image."""
    seeding.seed(target, tmp_path, 40, method="load-data")
    q = match_params(codename(7), "mysql")["q"]
    found = rows(
        target,
        f"SELECT id FROM images WHERE MATCH (prompt_words) AGAINST ('{q}' IN BOOLEAN MODE)",
    )
    assert found == [(7,)]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=2_000_000))
def test_an_image_depends_on_its_id_alone_and_its_word_is_its_own(image_id: int) -> None:
    image = seed_image(image_id)
    assert image == seed_image(image_id)
    assert uuid.UUID(image.guid).version == 4
    assert codename(image_id) in image.prompt
    assert codename(image_id) != codename(image_id + 1)
    assert codename(image_id + 1) not in image.prompt
    assert image.private is False or image.author is not None
    assert len(set(image.tags)) == len(image.tags) <= 3


def test_the_mix_has_common_and_rare_tags_and_authors() -> None:
    images = seed_images(1, 20_000)
    by_author: dict[str | None, int] = {}
    by_tag: dict[str, int] = {}
    for image in images:
        by_author[image.author] = by_author.get(image.author, 0) + 1
        for tag in image.tags:
            by_tag[tag] = by_tag.get(tag, 0) + 1
    authored = sorted(n for a, n in by_author.items() if a is not None)
    assert authored[-1] > 0.1 * len(images)  # an unselective author filter
    assert authored[0] <= 3  # and selective ones
    assert max(by_tag.values()) > 0.1 * len(images)
    assert min(by_tag.values()) <= 5
    assert 0.005 < sum(i.private for i in images) / len(images) < 0.03


def test_sources_stay_under_the_filesystem_s_link_limit() -> None:
    per_source: dict[int, int] = {}
    for image_id in range(1, 1_000_001, 7):
        index = seeding.source_index(image_id)
        per_source[index] = per_source.get(index, 0) + 7
    assert max(per_source.values()) <= seeding.LINKS_PER_SOURCE + 7
    assert max(per_source) < seeding.source_count(1_000_000)


def test_seed_pngs_are_real_pngs_of_about_a_megabyte() -> None:
    png = seeding.noise_png()
    assert png_dimensions(png, max_bytes=2_000_000) == (1024, 1024)
    assert 900_000 < len(png) < 1_200_000


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text()))
def test_tsv_fields_escape_what_load_data_would_misread(value: object) -> None:
    field = tsv_field(value)
    assert "\t" not in field and "\n" not in field
    if value is None:
        assert field == "\\N"
