"""A loopback TCP proxy that a test can cut and restore, to make a real server unreachable
for a while (``close``: listener gone, every connection reset) without touching it, or that
drops one connection at a precise moment of its conversation (``cut_when``), and may stay
closed from that moment on."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from tests.support.ports import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._cut: tuple[bytes, bool, bool] | None = None
        self.cuts = 0

    def cut_when(self, marker: bytes, *, after_forwarding: bool, then_close: bool = False) -> None:
        """Drop the next connection whose client sends ``marker``: before the server sees it,
        or after (the server acts on it, but its answer never reaches the client); with
        ``then_close``, ``close`` at the same moment, until ``open``."""
        self._cut = (marker, after_forwarding, then_close)

    def open(self) -> None:
        """Listen (again) on the same port and forward every connection to the target."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def close(self) -> None:
        """Stop listening (new connections are refused) and reset every open connection."""
        self._stop_listening()
        self._reset_all()

    def _stop_listening(self) -> None:
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # refused from now on; accept wakes up
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout=5)
        listener.close()

    def _reset_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            silenced = threading.Event()  # set: nothing more reaches the client
            pumps = ((client, upstream, True), (upstream, client, False))
            for source, sink, from_client in pumps:
                threading.Thread(
                    target=self._pump,
                    args=(source, sink, from_client, silenced, (client, upstream)),
                    daemon=True,
                ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        from_client: bool,
        silenced: threading.Event,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        try:
            while data := source.recv(65536):
                cut = self._cut
                if from_client and cut is not None and cut[0] in data:
                    self._cut = None
                    self.cuts += 1
                    silenced.set()
                    _, after_forwarding, then_close = cut
                    if then_close:
                        self._stop_listening()
                    if after_forwarding:
                        sink.sendall(data)
                        time.sleep(0.3)  # let the server act on it; its answer is dropped
                    if then_close:
                        self._reset_all()
                    for sock in pair:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                    return
                if not from_client and silenced.is_set():
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if from_client or not silenced.is_set():  # a cut tells the client itself
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    proxy.open()
    try:
        yield proxy
    finally:
        proxy.close()
