"""Holding something (a pooled connection, a write lock) in another thread while a test
checks what everyone else gets meanwhile."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any


@contextlib.contextmanager
def held_elsewhere(hold: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
    """``hold()`` is entered in another thread, and left when the block ends."""
    entered, release = threading.Event(), threading.Event()

    def run() -> None:
        with hold():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert entered.wait(10), "the other thread never got hold of it"
        yield
    finally:
        release.set()
        thread.join(10)
