"""The ``q`` read plans a repository remembers: for a while, bounded, and never a cause of
another page (on MariaDB, where the choice is made)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from uuid import UUID

import pytest

from pixyproxy.core.models import ImageFilter
from pixyproxy.data.database import Database
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.wordplans import WordPlans
from tests.support.records import make_record


class Decisions:
    """A ``decide`` that answers ``scan`` and counts its calls."""

    def __init__(self, scan: bool = True) -> None:
        self.scan = scan
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.scan


def test_a_plan_is_remembered_for_its_page_until_it_expires() -> None:
    now = [100.0]
    plans = WordPlans(ttl_s=60, monotonic=lambda: now[0])
    decide = Decisions()
    assert plans.scan_words(("fox", 1), decide) and plans.scan_words(("fox", 1), decide)
    assert decide.calls == 1
    assert plans.scan_words(("fox", 2), decide) and decide.calls == 2  # another page
    now[0] += 59.9
    plans.scan_words(("fox", 1), decide)
    assert decide.calls == 2
    now[0] += 0.2
    decide.scan = False
    assert plans.scan_words(("fox", 1), decide) is False and decide.calls == 3


def test_the_least_recently_used_plans_go_past_the_bound() -> None:
    plans = WordPlans(max_pages=3)
    decide = Decisions()
    for page in ("a", "b", "c"):
        plans.scan_words(page, decide)
    plans.scan_words("a", decide)  # a is the most recent now
    plans.scan_words("d", decide)
    assert len(plans) == 3 and decide.calls == 4
    plans.scan_words("a", decide)
    assert decide.calls == 4
    plans.scan_words("b", decide)  # b went
    assert decide.calls == 5


class Forced(WordPlans):
    """Every page read one way, whatever its words: a plan gone stale at its worst."""

    def __init__(self, scan: bool) -> None:
        super().__init__()
        self.scan = scan
        self.pages: list[Hashable] = []

    def scan_words(self, page: Hashable, decide: Callable[[], bool]) -> bool:
        self.pages.append(page)
        return self.scan


@pytest.mark.mysql
def test_either_plan_reads_the_same_pages(mysql_database: Database) -> None:
    writer = SqlImageRepository(mysql_database)
    for n in range(30):
        writer.insert(make_record(f"a {'fox' if n % 4 == 0 else 'owl'} number {n}"))
    forced = {scan: Forced(scan) for scan in (True, False)}
    by_plan = {
        scan: SqlImageRepository(mysql_database, word_plans=plans) for scan, plans in forced.items()
    }
    for q in ("fox", "owl", "number", "fox number", "owl fox", "zebra"):
        pages: dict[bool, list[list[str]]] = {}
        for scan, repo in by_plan.items():
            pages[scan], after = [], None
            while True:
                page = repo.list(viewer=None, filter=ImageFilter(q=q), limit=4, after=after)
                pages[scan].append(page.guids)
                if not page.more:
                    break
                after = UUID(page.guids[-1])
        assert pages[True] == pages[False], q
    assert all(plans.pages for plans in forced.values())  # each was asked


@pytest.mark.mysql
def test_a_repeated_page_is_planned_once(mysql_database: Database) -> None:
    plans = WordPlans()
    repo = SqlImageRepository(mysql_database, word_plans=plans)
    repo.insert(make_record("a fox"))
    for _ in range(3):
        repo.list(viewer=None, filter=ImageFilter(q="fox"), limit=10, after=None)
    repo.list(viewer=None, filter=ImageFilter(q="fox", tag="art"), limit=10, after=None)
    assert len(plans) == 2
