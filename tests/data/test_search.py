"""``q`` on the full-text indexes (README, "Search"): every word of ``q`` begins a word of
the prompt, caselessly and without accents, and SQLite, MariaDB/MySQL and the rule in
Python (``data/search.py``'s ``matches``, which the fake uses) answer alike for the same
images and the same ``q``. Also what the index cannot hold on its own (stopwords, short
and long words), what ``q`` may not be, and the migration of a database made before it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pixyproxy.core.models import ImageFilter, ImageListQuery
from pixyproxy.core.words import words
from pixyproxy.data import search
from pixyproxy.data.database import Database
from pixyproxy.data.images import WORD_SCAN_ROWS, ImageRepository, SqlImageRepository
from pixyproxy.data.init import migrate, schema_version
from pixyproxy.data.schema import MIGRATIONS, VERSION_TABLE
from pixyproxy.data.search import TOKEN_MAX, matches, prompt_words, token
from pixyproxy.data.sqlite import SQLiteDatabase
from tests.support.fakes import FakeImageRepository, sql_or_fake
from tests.support.records import make_record

# Words that fold together or apart, stopwords, one letter, the code's own escape letter,
# scripts without spaces, and words longer than an index token.
PIECES = [
    "fox", "Fox", "FÖX", "foxé", "fo", "straße", "STRASSE", "the", "The", "a", "i", "I",
    "\u0131", "İ", "z", "zz", "zebra", "ﬃ", "ffi", "\uff26\uff4f\uff58", "月", "光", "月光",
    "кот", "Кошка",
    "123", "1", "ä", "a\u0308", "k", "\u212a", "x" * 90, "é" * 30, "\u00e9" * 17,
]  # fmt: skip
# What only separates words, operators and wildcards of LIKE, InnoDB and FTS5 among them.
SEPARATORS = [
    " ", "-", "%", "_", "*", '"', "'", "+", "~", "(", ")", "@", "<", ">", "\u200b", "😀",
    "\n", ":", "^", "NEAR", "AND", "OR",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(PIECES + SEPARATORS), min_size=1, max_size=8).map("".join)
PROMPT = TEXT.filter(lambda t: t.strip() != "")
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def emptied(database: Database, word_scan_rows: int = WORD_SCAN_ROWS) -> ImageRepository:
    with database.writing() as cursor:
        cursor.execute("DELETE FROM image_tags")
        cursor.execute("DELETE FROM images")
    return SqlImageRepository(database, word_scan_rows=word_scan_rows)


def found(repo: ImageRepository, q: str, viewer: str | None = None) -> set[str]:
    page = repo.list(viewer=viewer, filter=ImageFilter(q=q), limit=100, after=None)
    assert not page.more
    return set(page.guids)


@st.composite
def queries(draw: st.DrawFn, prompts: list[str]) -> list[str]:
    """Texts of ``q``: prefixes of the prompts' words (in other spellings too) and others."""
    drawn = draw(st.lists(TEXT, min_size=1, max_size=3))
    for prompt in prompts:
        for word in words(prompt)[:2]:
            drawn.append(word[: draw(st.integers(1, len(word)))])
            drawn.append(word.upper())
    return [q for q in drawn if words(q) and len(q) <= 200]  # the API's longest q


@pytest.mark.mysql
@EXAMPLES
@given(data=st.data(), prompts=st.lists(PROMPT, min_size=1, max_size=5))
def test_sqlite_mariadb_and_the_rule_find_the_same_prompts(
    sqlite_database: Database, mysql_database: Database, data: st.DataObject, prompts: list[str]
) -> None:
    """On MariaDB both ways of answering: the newest images checked for the words (a
    handful of images are all there is) and the full-text index (when no more than one
    image is checked first)."""
    repos = [emptied(sqlite_database), emptied(mysql_database)]
    guids = [[str(repo.insert(make_record(p)).guid) for p in prompts] for repo in repos]
    by_index = SqlImageRepository(mysql_database, word_scan_rows=1)
    for q in data.draw(queries(prompts)):
        for repo, theirs in zip([*repos, by_index], [*guids, guids[1]], strict=True):
            expected = {g for g, p in zip(theirs, prompts, strict=True) if matches(q, p)}
            assert found(repo, q) == expected, (q, prompts, repo)


@pytest.mark.mysql
@pytest.mark.parametrize("word_scan_rows", [1, 4, 9, 100])
def test_pages_of_a_search_are_the_matches_newest_first_however_each_is_found(
    mysql_database: Database, word_scan_rows: int
) -> None:
    """Pages of 3 through 40 images of which some match: with a window of 4 or 9 images,
    some pages are found in the window and some through the index, and a cursor page may
    be either; the pages together are every match, once, newest first."""
    repo = emptied(mysql_database, word_scan_rows)
    prompts = [f"a {'fox' if n % 3 == 0 or 12 <= n < 20 else 'owl'} {n}" for n in range(40)]
    guids = [str(repo.insert(make_record(prompt)).guid) for prompt in prompts]
    expected = [g for g, p in zip(guids, prompts, strict=True) if "fox" in p][::-1]
    seen: list[str] = []
    after = None
    while True:
        page = repo.list(viewer=None, filter=ImageFilter(q="fox"), limit=3, after=after)
        seen += page.guids
        if not page.more:
            break
        after = UUID(page.guids[-1])
    assert seen == expected


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql), "fake"])
def repo(request: pytest.FixtureRequest) -> ImageRepository:
    database = None
    if request.param != "fake":
        database = request.getfixturevalue(f"{request.param}_database")
    return sql_or_fake(database, SqlImageRepository, FakeImageRepository)


def test_words_are_caseless_accentless_and_begin_words(repo: ImageRepository) -> None:
    fox = str(repo.insert(make_record("A Red FOX, at dusk")).guid)
    cafe = str(repo.insert(make_record("Café in der Straße, ﬁne")).guid)
    moon = str(repo.insert(make_record("一只猫在月光下")).guid)
    assert found(repo, "fox") == found(repo, "\uff26\uff4f\uff58") == found(repo, "re fo") == {fox}
    assert found(repo, "cafe") == found(repo, "CAFÉ") == found(repo, "cafe\u0301") == {cafe}
    assert found(repo, "strasse") == found(repo, "STRASS") == found(repo, "fine") == {cafe}
    assert found(repo, "光 月") == found(repo, "猫") == {moon}
    assert found(repo, "ox") == found(repo, "fox red blue") == found(repo, "月球") == set()


def test_stopwords_short_and_long_words_are_held(repo: ImageRepository) -> None:
    """InnoDB would drop stopwords and words shorter than 3 letters or longer than 84:
    tokens are never either (data/search.py)."""
    short = str(repo.insert(make_record("a i o the of and with")).guid)
    long_word = "pneumonoultramicroscopicsilicovolcanoconiosis" * 3  # 135 letters
    long = str(repo.insert(make_record(f"{long_word} z zz")).guid)
    for q in ("a", "i", "o", "the", "of", "and", "with", "a the with"):
        assert found(repo, q) == {short}, q
    assert found(repo, "z") == found(repo, "zz") == {long}
    assert found(repo, long_word[:82]) == found(repo, long_word) == {long}
    assert found(repo, long_word[:40] + "x") == set()


def test_index_tokens_fit_innodb_and_keep_prefixes() -> None:
    assert token("a").startswith("xw") and len(token("a")) >= 3
    assert len(token("é" * 100)) <= TOKEN_MAX and len(token("x" * 100)) == TOKEN_MAX
    for word in ("zebra", "кошка", "straße", "\U00020000\U00020001", "月"):
        whole = token(word)
        assert set(whole) <= set("abcdefghijklmnopqrstuvwxyz0123456789"), word
        for cut in range(1, len(word)):
            assert whole.startswith(token(word[:cut])), (word, cut)
    assert not token("zz").startswith(token("z0"))  # ``z`` is escaped: a prefix-free code
    assert prompt_words("the The THE") == "xwthe"


@pytest.mark.parametrize(
    "q", ["%", "*", "_", '"', "+-~<>()", "\u200b", "😀", " ", "'", "\\", "@", "...", "\u0301"]
)
def test_a_q_without_a_word_is_refused(q: str) -> None:
    """It would match nothing, or to an index asked carelessly everything: 422."""
    with pytest.raises(ValidationError, match="word"):
        ImageListQuery(q=q)


@pytest.mark.parametrize("q", ["*", "a*", "-a", '"a', "a%", "(a)", "+a -b", "a OR b", "NOT a"])
def test_operators_in_q_are_text(repo: ImageRepository, q: str) -> None:
    """No ``q`` matches everything, nor a prompt without its words."""
    images = {
        str(repo.insert(make_record(p)).guid): p
        for p in ("a b", "b only", "or not", "apple", "nothing here")
    }
    try:
        query = ImageListQuery(q=q)
    except ValidationError:
        assert not words(q)
        return
    assert query.q is not None
    hits = found(repo, query.q)
    assert hits != set(images), q
    assert hits == {g for g, p in images.items() if matches(q, p)}, q


def test_search_keeps_private_images_to_their_author(repo: ImageRepository) -> None:
    public = str(repo.insert(make_record("secret garden")).guid)
    mine = str(repo.insert(make_record("secret garden", author="alice", private=True)).guid)
    repo.insert(make_record("secret garden", author="bob", private=True))
    assert found(repo, "secret") == found(repo, "secret", viewer="carol") == {public}
    assert found(repo, "secret", viewer="alice") == {public, mine}


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def database_before_search(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database at schema version 3, as PixyProxy made it before search had an index."""
    own = request.param == "sqlite"
    database: Database = (
        SQLiteDatabase(str(tmp_path / "old.db"))
        if own
        else request.getfixturevalue("empty_mysql_database")
    )
    with database.writing() as cursor:
        steps = VERSION_TABLE.for_dialect(database.dialect)
        for version in (1, 2, 3):
            for step in (*steps, *MIGRATIONS[version].for_dialect(database.dialect)):
                assert isinstance(step, str)
                cursor.execute(step)
            steps = ()
            cursor.execute(
                "INSERT INTO schema_version VALUES (%(v)s, '2025-01-01 00:00:00')", {"v": version}
            )
    yield database
    if own:
        database.close()


def _insert_as_version_3(database: Database, prompt: str, n: int) -> str:
    """An image row as PixyProxy wrote it before migration 5 (no search words)."""
    guid = f"00000000-0000-4000-8000-{n:012d}"
    with database.writing() as cursor:
        cursor.execute(
            "INSERT INTO images (guid, filename, prompt, author, private, size_bytes, width,"
            " height, model, sha256, created_at, updated_at) VALUES (%(guid)s, 'f.png',"
            " %(prompt)s, NULL, 0, 1, 1, 1, 'm', 'h', '2025-01-01 00:00:00',"
            " '2025-01-01 00:00:00')",
            {"guid": guid, "prompt": prompt},
        )
    return guid


def test_migrating_an_existing_database_indexes_its_images(
    database_before_search: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = database_before_search
    monkeypatch.setattr(search, "FILL_BATCH", 2)  # several batches from a few rows
    old = [_insert_as_version_3(database, f"old image {n}, a Lighthouse", n) for n in range(5)]
    cafe = _insert_as_version_3(database, "ünique café", 5)
    assert schema_version(database) == 3
    assert 5 in migrate(database)
    repo = SqlImageRepository(database)
    assert found(repo, "lighth") == set(old)
    assert found(repo, "unique cafe") == {cafe}
    new = repo.insert(make_record("a new lighthouse"))
    assert found(repo, "lighthouse") == {*old, str(new.guid)}
    assert repo.delete(new.guid)
    assert found(repo, "lighthouse") == set(old)  # the index follows deletes
