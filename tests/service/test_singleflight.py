"""Concurrent misses of one key share one call; only a success is shared."""

from __future__ import annotations

import anyio
import pytest

from pixyproxy.service.singleflight import SingleFlight

pytestmark = pytest.mark.anyio


class Work:
    """Counts its calls; each waits for ``release`` and then answers (or raises ``error``)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.calls = 0
        self.release = anyio.Event()
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        call = self.calls
        await self.release.wait()
        if self.error is not None and call == 1:
            raise self.error
        return f"answer {call}"


async def gather(flights: SingleFlight[str, str], key: str, work: Work, n: int) -> list[object]:
    """``n`` concurrent callers of ``key``: what each got (an answer or an exception)."""
    results: list[object] = [None] * n

    async def call(i: int) -> None:
        try:
            results[i] = await flights.run(key, work)
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as callers:
        for i in range(n):
            callers.start_soon(call, i)
        await anyio.wait_all_tasks_blocked()
        work.release.set()
    return results


async def test_concurrent_callers_of_one_key_share_one_call() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    assert await gather(flights, "page", work, 10) == ["answer 1"] * 10
    assert work.calls == 1 and len(flights) == 0


async def test_a_finished_call_is_not_a_cache() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    work.release.set()
    assert [await flights.run("page", work) for _ in range(3)] == [
        "answer 1",
        "answer 2",
        "answer 3",
    ]


async def test_keys_do_not_share() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    async with anyio.create_task_group() as callers:
        for key in ("a", "b", "c"):
            callers.start_soon(flights.run, key, work)
        await anyio.wait_all_tasks_blocked()
        assert len(flights) == 3
        work.release.set()
    assert work.calls == 3


async def test_a_failure_is_the_first_callers_alone() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    failure = RuntimeError("the database went away")
    work = Work(error=failure)
    results = await gather(flights, "page", work, 4)
    assert results[0] is failure
    assert sorted(map(str, results[1:])) == ["answer 2", "answer 3", "answer 4"]


async def test_a_cancelled_first_caller_cancels_nobody_else() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    first = anyio.CancelScope()
    got: list[str] = []

    async def first_caller() -> None:
        with first:  # its client went away
            got.append(await flights.run("page", work))

    async def waiter() -> None:
        got.append(await flights.run("page", work))

    async with anyio.create_task_group() as callers:
        callers.start_soon(first_caller)
        await anyio.wait_all_tasks_blocked()
        callers.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        first.cancel()
        await anyio.wait_all_tasks_blocked()
        work.release.set()
    assert first.cancelled_caught
    assert got == ["answer 2"] and len(flights) == 0
