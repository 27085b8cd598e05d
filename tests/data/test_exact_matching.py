"""What callers send is compared exactly, and alike on SQLite, MariaDB/MySQL and the fake:
authors and viewers, the owners and keys of idempotency claims and generation counts byte
for byte; tags after their one normalisation (lowercase ASCII). Python's own ``==`` is the
oracle. (``q`` compares words, not bytes: tests/data/test_search.py.)

The text is drawn from characters that collations fold together or ignore: case (also
beyond ASCII: the Kelvin sign, dotted and dotless i, sharp s), accents precomposed and
combining, trailing and no-break spaces, zero-width characters, fullwidth letters, LIKE's
wildcards and escape characters."""

from __future__ import annotations

import itertools
import unicodedata
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pixyproxy.core.models import TAG_PATTERN, ImageFilter, ImageListQuery
from pixyproxy.data.database import Database
from pixyproxy.data.idempotency import IdempotencyRepository, SqlIdempotencyRepository
from pixyproxy.data.images import ImageRepository, SqlImageRepository
from pixyproxy.data.quotas import QuotaRepository, SqlQuotaRepository
from tests.support.fakes import (
    FakeIdempotencyRepository,
    FakeImageRepository,
    FakeQuotaRepository,
    sql_or_fake,
)
from tests.support.records import make_record

NEAR_ALIKE = [
    "a", "A", "á", "Á", "a\u0301", "ä", "ª", "\uff41", "s", "S", "ß", "ẞ", "k", "K", "\u212a",
    "i", "I", "\u0131", "İ", "ﬃ", " ", "\u00a0", "\u200b", "\u200d", "\ufeff", "\u00ad",
    "%", "_", "!", "\\", "'", "😀", "\t", "\n",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(NEAR_ALIKE), min_size=1, max_size=6).map("".join)
# A subject or an author: no controls or format characters (claims.py refuses them).
SUBJECT = TEXT.filter(lambda t: not any(c in t for c in "\u200b\u200d\ufeff\u00ad\t\n"))
KEY = st.text(st.sampled_from("kK-_.~!%"), min_size=1, max_size=4)  # printable ASCII


def near(text: str) -> list[str]:
    """Spellings a collation may take for ``text``: each differs from it by a byte or more."""
    spelled = [
        text.upper(), text.lower(), text.casefold(), text.swapcase(), f"{text} ", f" {text}",
        f"{text}\u00a0", unicodedata.normalize("NFD", text), unicodedata.normalize("NFKC", text),
        text.replace("a", "á"), text.replace("a", "\uff41"), text.replace("ss", "ß"),
    ]  # fmt: skip
    return [s for s in dict.fromkeys(spelled) if s and len(s) <= 255]


@st.composite
def alike(draw: st.DrawFn, of: st.SearchStrategy[str] = SUBJECT) -> tuple[str, str]:
    """Two texts, the second often a near spelling of the first (or the first itself)."""
    first = draw(of)
    second = draw(st.sampled_from([first, *near(first)]) | of)
    return first, second


EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_windows = itertools.count(1)


def images_of(database: Database | None) -> ImageRepository:
    """The repository with no images: each example starts from nothing."""
    if database is not None:
        with database.writing() as cursor:
            cursor.execute("DELETE FROM image_tags")
            cursor.execute("DELETE FROM images")
    return sql_or_fake(database, SqlImageRepository, FakeImageRepository)


def listed(repo: ImageRepository, viewer: str | None, **filters: str) -> set[str]:
    page = repo.list(viewer=viewer, filter=ImageFilter(**filters), limit=100, after=None)
    assert not page.more
    return set(page.guids)


@EXAMPLES
@given(pair=alike(), others=st.lists(SUBJECT, max_size=3))
def test_authors_and_viewers_compare_byte_for_byte(
    sql_database: Database | None, pair: tuple[str, str], others: list[str]
) -> None:
    author, viewer = pair
    authors = [author, *others, *near(author)[:2]]
    repo = images_of(sql_database)
    records = [repo.insert(make_record(author=a, private=True)) for a in authors]
    records += [repo.insert(make_record(author=a)) for a in authors]
    for record in records:
        visible = not record.private or record.author == viewer
        assert (repo.get(record.guid, viewer=viewer) is not None) == visible, record.author
        if visible:
            assert repo.get(record.guid, viewer=viewer) == record  # the author round-trips
    for author in {*authors, viewer}:
        expected = {
            str(r.guid)
            for r in records
            if r.author == author and (not r.private or r.author == viewer)
        }
        assert listed(repo, viewer, author=author) == expected, (author, viewer)


@EXAMPLES
@given(tags=st.lists(st.sampled_from(["a", "b-c", "d_e", "k"]), max_size=3), asked=TEXT)
def test_a_tag_filter_is_refused_or_matches_its_lowercase(
    sql_database: Database | None, tags: list[str], asked: str
) -> None:
    repo = images_of(sql_database)
    record = repo.insert(make_record(tags=list(dict.fromkeys(tags))))
    try:
        filter = ImageFilter(tag=asked)
    except ValidationError:
        assert not TAG_PATTERN.fullmatch(asked)
        return
    assert filter.tag == asked.lower()
    expected = {str(record.guid)} if asked.lower() in record.tags else set()
    assert listed(repo, None, tag=asked) == expected


@EXAMPLES
@given(owners=alike(), key_pair=alike(KEY))
def test_idempotency_owners_and_keys_compare_byte_for_byte(
    sql_database: Database | None, owners: tuple[str, str], key_pair: tuple[str, str]
) -> None:
    keys: IdempotencyRepository = sql_or_fake(
        sql_database, SqlIdempotencyRepository, FakeIdempotencyRepository
    )
    (first, second), (key, other_key) = owners, key_pair
    prefix = uuid4().hex  # keys of earlier examples stay in the table
    ours, theirs = f"{prefix}{key}", f"{prefix}{other_key}"
    now = make_record().created_at

    def claim(owner: str, key: str) -> str:
        return keys.claim(owner, key, "h", now=now, ttl_s=60, stale_s=60).outcome

    assert claim(first, ours) == "claimed"
    assert claim(second, ours) == ("in_progress" if second == first else "claimed")
    assert claim(first, theirs) == ("in_progress" if theirs == ours else "claimed")


@EXAMPLES
@given(owners=alike())
def test_quota_owners_compare_byte_for_byte(
    sql_database: Database | None, owners: tuple[str, str]
) -> None:
    first, second = owners
    quotas: QuotaRepository = sql_or_fake(sql_database, SqlQuotaRepository, FakeQuotaRepository)
    window = next(_windows) * 3600
    assert quotas.count_generation(first, window, 3600) == 1
    assert quotas.count_generation(second, window, 3600) == (2 if first == second else 1)


@pytest.mark.parametrize("q", ["\x00", "fox\x00", "\x00%", "%\x00", "\x1b[0m", "\u202e", "\ud800"])
def test_a_q_no_prompt_can_contain_is_refused(q: str) -> None:
    """NUL ends a LIKE pattern for some databases, which would match every prompt."""
    with pytest.raises(ValidationError):
        ImageListQuery(q=q)
