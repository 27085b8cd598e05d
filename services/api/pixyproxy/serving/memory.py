"""How a worker's C allocator is set up: few malloc arenas.

glibc gives each new thread that allocates an arena of its own, up to eight per core, and
an arena keeps what it once held. A worker's threads (the request threadpool's forty, the
change-log poll's) each read rows and file chunks, so each holds on to its share of
memory long after. Measured with two workers on the bench's 10,000 images (50
connections, 30 s of details, 15 s of lists, 15 s of 1 MB contents): a worker's RSS
after all three was 144 MB with glibc's default and 134 MB with two arenas, the content
traffic adding 8 MB instead of 17 MB; ``make bench`` shows req/s with it.
``tests/serving/test_memory.py`` checks that the limit holds.

Applied once in each worker before it starts its threads. An operator's own
``MALLOC_ARENA_MAX`` (read by glibc at start) wins; on a C library without ``mallopt``
(musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import os

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Whether this process now uses at most ``arenas`` malloc arenas for new threads."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return mallopt is not None and mallopt(_M_ARENA_MAX, arenas) == 1
