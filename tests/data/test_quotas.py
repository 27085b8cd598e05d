"""The generation-count contract, on SQLite, MariaDB/MySQL and the fake: counts per owner
and window, every increment kept, one taken back on request."""

from __future__ import annotations

import threading

import pytest

from pixyproxy.data.database import Database
from pixyproxy.data.quotas import QuotaRepository, SqlQuotaRepository
from tests.support.fakes import FakeQuotaRepository, sql_or_fake


@pytest.fixture
def quotas(sql_database: Database | None) -> QuotaRepository:
    return sql_or_fake(sql_database, SqlQuotaRepository, FakeQuotaRepository)


def test_counts_are_per_owner_and_window(quotas: QuotaRepository) -> None:
    assert [quotas.count_generation("alice", 3600, 3600) for _ in range(3)] == [1, 2, 3]
    assert quotas.count_generation("bob", 3600, 3600) == 1
    assert quotas.count_generation("alice", 7200, 3600) == 1
    assert quotas.count_generation("alice", 3600, 3600) == 4


def test_concurrent_counts_lose_nothing(quotas: QuotaRepository) -> None:
    def count_ten() -> None:
        for _ in range(10):
            quotas.count_generation("busy", 0, 3600)

    threads = [threading.Thread(target=count_ten) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert quotas.count_generation("busy", 0, 3600) == 41


def test_a_generation_taken_back_is_uncounted_never_below_zero(quotas: QuotaRepository) -> None:
    assert quotas.count_generation("alice", 0, 3600) == 1
    quotas.uncount_generation("alice", 0)
    quotas.uncount_generation("alice", 0)
    quotas.uncount_generation("bob", 0)  # nothing counted: nothing happens
    assert quotas.count_generation("alice", 0, 3600) == 1
    assert quotas.count_generation("bob", 0, 3600) == 1
