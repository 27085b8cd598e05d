"""Container HEALTHCHECK: ``GET PATH`` on the address the container's server listens on.

    python healthcheck.py /healthz [--pid PID]

The address is not written anywhere: it is read from the server process itself (PID 1 of
the container by default), from its listening TCP sockets in /proc. So ``--host``,
``--port`` and any setting that moves the server move the check with it. A wildcard
address (0.0.0.0, ::) is asked on loopback. Exits 0 when one of the addresses answers
2xx within the timeout, 1 otherwise; standard library only.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp*
_TIMEOUT_S = 4.0


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    """/proc/net/tcp* spells addresses in hex, in 32-bit words of host byte order."""
    raw = bytes.fromhex(hex_address)
    words = [
        raw[i : i + 4][::-1] if sys.byteorder == "little" else raw[i : i + 4]
        for i in range(0, len(raw), 4)
    ]
    return str(ipaddress.ip_address(b"".join(words)))


def listening(pid: int) -> list[tuple[str, int]]:
    """(host, port) of every TCP socket the process holds in LISTEN state."""
    inodes = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != _LISTEN or inode not in inodes:
                continue
            hex_host, hex_port = local.split(":")
            found.append((_address(hex_host), int(hex_port, 16)))
    return found


def url(host: str, port: int, path: str) -> str:
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}{path}"


def healthy(pid: int, path: str) -> bool:
    for host, port in listening(pid):
        try:
            with urllib.request.urlopen(url(host, port, path), timeout=_TIMEOUT_S) as response:  # noqa: S310 - http to our own socket
                if 200 <= response.status < 300:
                    return True
        except (urllib.error.URLError, OSError):
            continue
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="the path to GET, e.g. /healthz")
    parser.add_argument("--pid", type=int, default=1, help="the server process (default 1)")
    args = parser.parse_args(argv)
    if healthy(args.pid, args.path):
        return 0
    print(
        f"healthcheck: no listening address of process {args.pid} answered {args.path}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
