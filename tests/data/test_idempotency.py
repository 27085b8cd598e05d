"""The idempotency-key contract, on SQLite, MariaDB/MySQL and the fake: a key is claimed
once per owner, a finished request replays, another body is a mismatch, and a claim that
expired or was abandoned is taken over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pixyproxy.data.database import Database
from pixyproxy.data.idempotency import IdempotencyRepository, SqlIdempotencyRepository
from tests.support.fakes import FakeIdempotencyRepository, sql_or_fake

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
