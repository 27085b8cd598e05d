"""An S3-compatible server of the tests' own: moto's server mode (``moto.server``) as a
real subprocess on a free loopback port, with buckets made and emptied over the S3 API.

with run_s3_server() as s3:
    bucket = s3.new_bucket()
    settings = s3.settings(bucket)   # PIXY_STORAGE_BACKEND=s3 and the rest, by field name

A process of its own (not moto's in-process ``ThreadedMotoServer``): the fault tests stop
it (``pause``: SIGSTOP, answering nothing; ``kill``) and the client bench measures the
client's CPU apart from the server's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import IO, Any

import httpx

from tests.support.ports import free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # moto accepts any keys; these only have to be present
_START_TIMEOUT_S = 30.0


class S3Server:
    """A running moto server and the calls the tests make on it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process = process
        self.port = port
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._log = log

    def client(self) -> Any:
        """A boto3 S3 client for this server (the tests' own view of the bucket)."""
        import boto3  # moto's own dependency, in the dev extra only

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket: each test its own, so tests never see each other's keys."""
        name = f"pixy-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` in ``bucket``, paged as any client has to."""
        paginator = self.client().get_paginator("list_objects_v2")
        found: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            found += [item["Key"] for item in page.get("Contents", [])]
        return found

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=body)

    def settings(self, bucket: str, **overrides: object) -> dict[str, object]:
        """PixyProxy's settings (by field name) for ``bucket`` on this server."""
        return {
            "storage_backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": REGION,
            **overrides,
        }

    def environment(self, bucket: str, **overrides: str) -> dict[str, str]:
        """The same as environment variables, with the keys a server process reads."""
        return {
            "PIXY_STORAGE_BACKEND": "s3",
            "PIXY_S3_BUCKET": bucket,
            "PIXY_S3_ENDPOINT_URL": self.endpoint_url,
            "PIXY_S3_REGION": REGION,
            **credentials(),
            **overrides,
        }

    def pause(self) -> None:
        """Stop the server process where it is: connections open, nothing answered."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def log_text(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


def credentials() -> dict[str, str]:
    """The standard AWS variables every client's default chain reads first."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }


@contextlib.contextmanager
def aws_credentials() -> Iterator[None]:
    """The keys in this process's environment while the block runs (for an in-process
    store; server processes get them from ``S3Server.environment``)."""
    saved = {name: os.environ.get(name) for name in credentials()}
    os.environ.update(credentials())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def run_s3_server() -> Iterator[S3Server]:
    """A moto server on a free loopback port while the block runs."""
    last: Exception | None = None
    for _ in range(3):  # another process may take the port between choosing and binding
        port = free_port()
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the server stops
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **credentials()},
        )
        server = S3Server(process, port, log)
        try:
            _wait_until_up(server)
        except RuntimeError as exc:
            last = exc
            _stop(process)
            log.close()
            continue
        try:
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                server.resume()
            _stop(process)
            log.close()
        return
    raise RuntimeError(f"the moto server did not start: {last}")


def _wait_until_up(server: S3Server) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(server.log_text()[-2000:])
        with contextlib.suppress(httpx.HTTPError):
            # moto's own dashboard route: answers once the server serves requests
            httpx.get(f"{server.endpoint_url}/moto-api/", timeout=1.0)
            return
        time.sleep(0.1)
    raise RuntimeError("no answer within the start timeout")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
