"""The idempotency-key contract, on SQLite, MariaDB/MySQL and the fake: a key is claimed
once per owner, a finished request replays, another body is a mismatch, a claim that
expired or was abandoned is taken over, and one whose image was stored gives that image."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from pixyproxy.data.database import Database
from pixyproxy.data.idempotency import IdempotencyRepository, SqlIdempotencyRepository
from pixyproxy.data.images import ImageRepository, SqlImageRepository
from tests.support.fakes import FakeIdempotencyRepository, FakeImageRepository, sql_or_fake
from tests.support.records import make_record

NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
TTL_S, STALE_S = 3600, 600


@pytest.fixture
def keys(sql_database: Database | None) -> IdempotencyRepository:
    return sql_or_fake(sql_database, SqlIdempotencyRepository, FakeIdempotencyRepository)


def claim(
    keys: IdempotencyRepository, body: str = "h1", *, owner: str = "alice", at: datetime = NOW
) -> str:
    result = keys.claim(owner, "k", body, now=at, ttl_s=TTL_S, stale_s=STALE_S)
    return result.outcome if result.outcome != "replay" else f"replay:{result.response}"


def test_a_key_is_claimed_once_then_replays_its_answer(keys: IdempotencyRepository) -> None:
    assert claim(keys) == "claimed"
    assert claim(keys) == "in_progress"
    assert claim(keys, "h2") == "mismatch"
    keys.complete("alice", "k", '{"guid": "g"}')
    assert claim(keys) == 'replay:{"guid": "g"}'
    assert claim(keys, "h2") == "mismatch"


def test_keys_belong_to_their_owner(keys: IdempotencyRepository) -> None:
    assert claim(keys, owner="alice") == "claimed"
    assert claim(keys, owner="bob") == "claimed"
    assert claim(keys, owner="") == "claimed"  # the anonymous callers' owner


def test_a_released_claim_may_be_claimed_again(keys: IdempotencyRepository) -> None:
    assert claim(keys) == "claimed"
    keys.release("alice", "k")
    assert claim(keys, "h2") == "claimed"
    keys.complete("alice", "k", "answer")
    keys.release("alice", "k")  # a finished key is kept
    assert claim(keys, "h2") == "replay:answer"


def test_expired_and_abandoned_claims_are_taken_over(keys: IdempotencyRepository) -> None:
    assert claim(keys) == "claimed"
    assert claim(keys, at=NOW + timedelta(seconds=STALE_S - 1)) == "in_progress"
    assert claim(keys, "h2", at=NOW + timedelta(seconds=STALE_S)) == "claimed"  # abandoned
    keys.complete("alice", "k", "answer")
    later = NOW + timedelta(seconds=STALE_S)
    assert claim(keys, "h2", at=later + timedelta(seconds=TTL_S - 1)) == "replay:answer"
    assert claim(keys, "h3", at=later + timedelta(seconds=TTL_S)) == "claimed"  # expired


@pytest.fixture
def images_and_keys(
    sql_database: Database | None,
) -> tuple[ImageRepository, IdempotencyRepository]:
    """An image repository and the key repository of the same database (or fakes)."""
    if sql_database is None:
        fake = FakeImageRepository()
        return fake, FakeIdempotencyRepository(fake)
    return SqlImageRepository(sql_database), SqlIdempotencyRepository(sql_database)


def test_a_pending_key_whose_image_was_stored_gives_that_image(
    images_and_keys: tuple[ImageRepository, IdempotencyRepository],
) -> None:
    """Its answer was never recorded: a retry gets the image, at once and after the claim
    would have gone stale, and a release (of a failure after the commit) keeps it."""
    images, keys = images_and_keys
    record = make_record()
    options = {"ttl_s": TTL_S, "stale_s": STALE_S}
    first = keys.claim("alice", "k", "h1", now=NOW, image_guid=record.guid, **options)
    assert first.outcome == "claimed"
    assert keys.claim("alice", "k", "h1", now=NOW, **options).outcome == "in_progress"
    images.insert(record)
    for at in (NOW, NOW + timedelta(seconds=STALE_S + 1)):
        again = keys.claim("alice", "k", "h1", now=at, **options)
        assert (again.outcome, again.image_guid) == ("committed", record.guid)
    assert keys.claim("alice", "k", "h2", now=NOW, **options).outcome == "mismatch"
    keys.release("alice", "k")
    assert keys.claim("alice", "k", "h1", now=NOW, **options).outcome == "committed"
    keys.complete("alice", "k", "answer")
    assert claim(keys) == "replay:answer"


def test_a_pending_key_whose_image_never_came_is_taken_over_when_stale(
    images_and_keys: tuple[ImageRepository, IdempotencyRepository],
) -> None:
    _, keys = images_and_keys
    options = {"ttl_s": TTL_S, "stale_s": STALE_S}
    assert keys.claim("alice", "k", "h1", now=NOW, image_guid=uuid4(), **options).outcome == (
        "claimed"
    )
    assert keys.claim("alice", "k", "h1", now=NOW, **options).outcome == "in_progress"
    later = NOW + timedelta(seconds=STALE_S)
    assert keys.claim("alice", "k", "h1", now=later, **options).outcome == "claimed"


def test_a_key_whose_image_was_deleted_answers_deleted_until_it_expires(
    images_and_keys: tuple[ImageRepository, IdempotencyRepository],
) -> None:
    """Whether its answer was recorded or not, and however the image went (a delete, a
    prune): never a replay of the image, never a claim for a second generation."""
    images, keys = images_and_keys
    options = {"ttl_s": TTL_S, "stale_s": STALE_S}
    recorded, unrecorded, pruned = make_record(), make_record(), make_record()
    for key, record in (("done", recorded), ("pending", unrecorded), ("pruned", pruned)):
        keys.claim("alice", key, "h1", now=NOW, image_guid=record.guid, **options)
        images.insert(record)
    keys.complete("alice", "done", "answer")
    images.delete(recorded.guid)
    images.delete(unrecorded.guid)
    images.prune(pruned.created_at + timedelta(seconds=1), 10)
    for key in ("done", "pending", "pruned"):
        for at in (NOW, NOW + timedelta(seconds=STALE_S + 1)):
            assert keys.claim("alice", key, "h1", now=at, **options).outcome == "deleted"
        assert keys.claim("alice", key, "h2", now=NOW, **options).outcome == "mismatch"
    keys.release("alice", "pending")  # a deleted key is not pending: it stays
    assert keys.claim("alice", "pending", "h1", now=NOW, **options).outcome == "deleted"
    expired = NOW + timedelta(seconds=TTL_S + 1)
    assert keys.claim("alice", "done", "h1", now=expired, **options).outcome == "claimed"
