"""What a piece of code leaves allocated, as tracemalloc counts it."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retained(make: Callable[[], T]) -> tuple[T, int]:
    """``make()``'s result and the bytes still allocated once it returned (and the garbage
    it made was collected): what keeping the result costs."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = make()
        gc.collect()
        return result, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
