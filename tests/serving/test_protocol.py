"""Slow and oversized clients against a real ``pixyproxy serve`` (gunicorn, one PixyProxy
uvicorn worker), over raw sockets: deadlines for the head and the body of a request, a bound
on the head's size, and what must not change (long responses, keep-alive, pipelining).

The deadlines are small here (head 1 s, body 2 s); nothing is timed but the deadlines.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.mock_server import MockServer
from tests.support.servers import ServerProcess, run_pixyproxy, server_env
from tests.support.tokens import SECRET, authorization, claims, hs256

pytestmark = pytest.mark.e2e

HEAD_S = 1.0
BODY_S = 2.0
KEEPALIVE_S = 5  # serving/gunicorn_conf.py
LIMIT_S = 30.0  # a cut that has not come by then never will
EARLY_S = 0.1  # libuv's timers run on a cached clock: one may fire a few ms early
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(
    mock_server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("serving")
    env = server_env(
        database_url=f"sqlite:///{root / 'pixyproxy.db'}",
        storage_dir=root / "images",
        mock=mock_server,
        jwt_secret=SECRET,
        request_head_timeout_s=HEAD_S,
        request_body_timeout_s=BODY_S,
    )
    with run_pixyproxy(env, workers=1) as process:
        yield process


@pytest.fixture(autouse=True)
def _answering_mock(openai_mock: MockServer) -> None:
    """The worker's mock is shared with other tests: each test here starts with it
    answering ``ok`` at once, whatever the test before left it doing."""


@contextlib.contextmanager
def connect(server: ServerProcess) -> Iterator[socket.socket]:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=LIMIT_S) as sock:
        yield sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset ends it too)."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def trickle(sock: socket.socket, data: bytes, every_s: float = 0.05) -> tuple[float, bytes]:
    """Send ``data`` a byte at a time until the server answers or closes.

    Returns the seconds until then and all the server sent.
    """
    started = time.monotonic()
    for index in range(len(data)):
        readable, _, _ = select.select([sock], [], [], every_s)
        if readable or time.monotonic() - started > LIMIT_S:
            break
        try:
            sock.send(data[index : index + 1])
        except OSError:
            break
    elapsed = time.monotonic() - started
    return elapsed, read_to_close(sock)


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, leaving the connection open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def head_of(response: bytes) -> str:
    return response.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def assert_refused(response: bytes, status: int) -> None:
    head = head_of(response).lower()
    assert head.startswith(f"http/1.1 {status} "), response[:300]
    assert f"content-type: {PROBLEM}" in head and "connection: close" in head
    assert f'"status": {status}'.encode() in response


def still_serving(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=LIMIT_S) as client:
        assert client.get("/healthz").status_code == 200


def test_a_trickled_head_is_cut_at_its_deadline(server: ServerProcess) -> None:
    endless = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 10_000
    with connect(server) as sock:
        elapsed, response = trickle(sock, endless)
    assert HEAD_S - EARLY_S <= elapsed < LIMIT_S, elapsed
    assert_refused(response, 408)
    still_serving(server)


def test_a_connection_that_sends_nothing_is_closed_at_the_head_deadline(
    server: ServerProcess,
) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert read_to_close(sock) == b""
    assert HEAD_S - EARLY_S <= time.monotonic() - started < LIMIT_S


def test_a_trickled_body_is_cut_at_its_deadline(server: ServerProcess) -> None:
    head = (
        "POST /image HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {hs256(claims())}\r\nContent-Length: 10000\r\n\r\n"
    )
    with connect(server) as sock:
        sock.sendall(head.encode())
        elapsed, response = trickle(sock, b'{"prompt": "' + b"a" * 9_000)
    assert BODY_S - EARLY_S <= elapsed < LIMIT_S, elapsed
    assert_refused(response, 408)
    with httpx.Client(base_url=server.url, timeout=LIMIT_S) as client:
        assert client.get("/image").json() == [], "a cut request stored an image"


def test_a_slow_body_within_its_deadline_is_served(server: ServerProcess) -> None:
    body = b'{"prompt": "slow but in time"}'
    head = (
        "POST /image HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {hs256(claims())}\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with connect(server) as sock:
        sock.sendall(head.encode())
        for byte in body:  # 30 bytes over about 0.6 s of a 2 s deadline
            sock.send(bytes([byte]))
            time.sleep(0.02)
        response = read_to_close(sock)
    assert head_of(response).startswith("HTTP/1.1 200 "), response[:300]


def worker_pid(server: ServerProcess) -> int:
    master = server.process.pid  # `pixyproxy serve` execs gunicorn's master
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


HUGE = 64 << 20


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * HUGE, id="one-header"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * (HUGE // 8), id="many"
        ),
        pytest.param(b"GET /healthz?q=" + b"a" * HUGE, id="target"),
    ],
)
def test_a_huge_head_is_refused_with_bounded_memory(server: ServerProcess, head: bytes) -> None:
    """uvicorn alone buffers such a head whole (131 MB of worker RSS for 64 MB)."""
    pid = worker_pid(server)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak from the current RSS
    before = peak_rss_kib(pid)
    with connect(server) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(head + b"\r\n\r\n")
        response = read_to_close(sock)
    growth_mib = (peak_rss_kib(pid) - before) / 1024
    assert growth_mib < 8, f"the worker's peak RSS grew by {growth_mib:.1f} MiB"
    if response:  # a refused head is answered, unless the client's own send was reset
        assert_refused(response, 431)
    still_serving(server)


def test_a_long_response_is_not_cut(server: ServerProcess, mock_server: MockServer) -> None:
    """A generation that takes longer than both deadlines together still answers."""
    mock_server.set_behavior("ok", delay_s=HEAD_S + BODY_S + 1)
    try:
        with httpx.Client(base_url=server.url, timeout=LIMIT_S) as client:
            started = time.monotonic()
            created = client.post(
                "/image", json={"prompt": "take your time"}, headers=authorization(hs256(claims()))
            )
            assert time.monotonic() - started >= HEAD_S + BODY_S
        assert created.status_code == 200, created.text
    finally:
        mock_server.reset()


def test_an_idle_keep_alive_connection_follows_the_keep_alive_timeout(
    server: ServerProcess,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(HEAD_S + 1)  # idle for longer than the head deadline, within keep-alive
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert read_to_close(sock) == b""  # then keep-alive closes it, with nothing sent
    assert KEEPALIVE_S - 1 <= time.monotonic() - started < LIMIT_S  # from the response on


def test_pipelined_requests_are_all_answered(server: ServerProcess) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(request * 2 + b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        response = read_to_close(sock)
    assert response.count(b"HTTP/1.1 200 ") == 3, response


def test_an_upgrade_request_is_answered_as_plain_http(server: ServerProcess) -> None:
    """PixyProxy serves no WebSockets: the worker turns them off, so no connection leaves
    the protocol that keeps the deadlines, and the log does not ask for a library."""
    upgrade = (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with connect(server) as sock:
        sock.sendall(upgrade)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
    assert "WebSocket library" not in server.output()
