"""The change count the workers of a server share: every bump is seen by every opener,
and none is lost when processes bump at the same time."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from pixyproxy.data.changes import (
    LocalChangeCounter,
    SharedChangeCounter,
    open_change_counter,
)

PROCESSES = 4
BUMPS = 500


def test_openers_of_one_directory_share_the_count(tmp_path: Path) -> None:
    first, second = SharedChangeCounter(tmp_path), SharedChangeCounter(tmp_path)
    try:
        assert first.value() == second.value() == 0
        first.bump()
        assert second.value() == 1
        second.bump()
        second.bump()
        assert first.value() == 3
        assert SharedChangeCounter(tmp_path).value() == 3  # a later opener too
    finally:
        first.close()
        second.close()


def _bump_many(directory: str) -> None:
    counter = SharedChangeCounter(Path(directory))
    for _ in range(BUMPS):
        counter.bump()
    counter.close()


def test_concurrent_bumps_from_several_processes_are_all_counted(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_bump_many, args=(str(tmp_path),)) for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    counter = SharedChangeCounter(tmp_path)
    assert counter.value() == PROCESSES * BUMPS
    counter.close()


def test_without_a_directory_the_count_is_the_process_own(tmp_path: Path) -> None:
    counter = open_change_counter(None)
    assert isinstance(counter, LocalChangeCounter)
    counter.bump()
    assert counter.value() == 1
    assert isinstance(open_change_counter(tmp_path), SharedChangeCounter)
