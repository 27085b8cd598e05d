"""The malloc arena limit of a worker (``serving/memory.py``), in a fresh interpreter: a
process has one set of arenas, and glibc reads ``MALLOC_ARENA_MAX`` only at start."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's",
)

# Eight threads allocate at once, then glibc's malloc_info is asked how many arenas
# ("heaps") the process has.
_ARENAS_AFTER_THREADS = textwrap.dedent(
    """
    import ctypes, os, sys, tempfile, threading
    from pixyproxy.serving.memory import limit_malloc_arenas

    print(limit_malloc_arenas() if sys.argv[1] == "limit" else "-")
    barrier = threading.Barrier(8)
    kept = []

    def allocate():
        barrier.wait()
        kept.append([bytearray(1000) for _ in range(100)])

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(None)
    libc.fdopen.restype = ctypes.c_void_p
    with tempfile.TemporaryFile() as out:
        stream = ctypes.c_void_p(libc.fdopen(os.dup(out.fileno()), b"w"))
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        out.seek(0)
        print(out.read().decode().count("<heap nr="))
    """
)


def arenas(mode: str, **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS_AFTER_THREADS, mode],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        timeout=60,
    )
    applied, count = done.stdout.split()
    return applied, int(count)


def test_a_limited_process_keeps_to_two_arenas_however_many_threads_allocate() -> None:
    assert arenas("limit") == ("True", 2)


def test_without_the_limit_each_thread_gets_an_arena() -> None:
    """The control: what the limit prevents does happen here."""
    _, count = arenas("plain")
    assert count > 2


def test_an_operators_malloc_arena_max_is_left_to_glibc() -> None:
    assert arenas("limit", MALLOC_ARENA_MAX="3") == ("False", 3)
