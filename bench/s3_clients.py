"""Which S3 client costs PixyProxy least: PUT and GET of 1 MB objects against a local moto
server, the way the image store would call each client from the app's event loop.

- ``boto3``: the synchronous SDK, each call in anyio's threadpool (as the store's calls are);
- ``aiobotocore``: botocore on aiohttp, awaited on the loop;
- ``obstore``: the Rust ``object_store`` crate's Python binding, its async calls awaited.

For each client and operation: the CPU seconds of this process (every thread) and the wall
time per 100 operations, 4 at once, the median of 3 runs. moto runs in a process of its
own (tests/support/s3.py), so its CPU is not counted.

    .venv/bin/python -m bench.s3_clients             # all three, 100 ops a run
    .venv/bin/python -m bench.s3_clients --ops 200 --clients obstore,boto3

boto3 and obstore are installed with the dev extra; aiobotocore is measured when it is
installed (``.venv/bin/pip install aiobotocore``) and reported as not installed otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from anyio import to_thread

from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server, run_s3_server

OBJECT_BYTES = 1024 * 1024
CONCURRENCY = 4
RUNS = 3
CLIENTS = ("boto3", "aiobotocore", "obstore")


@dataclass(frozen=True)
class Figures:
    client: str
    operation: str
    cpu_s: float  # per 100 operations, median of the runs
    wall_s: float


# A client, opened for one bucket: its put(key, data) and get(key) -> bytes.
Put = Callable[[str, bytes], Awaitable[None]]
Get = Callable[[str], Awaitable[bytes]]


@contextlib.asynccontextmanager
async def open_client(name: str, server: S3Server, bucket: str) -> AsyncIterator[tuple[Put, Get]]:
    keys = {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "region_name": REGION,
        "endpoint_url": server.endpoint_url,
    }
    if name == "boto3":
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", config=Config(max_pool_connections=CONCURRENCY), **keys)

        async def put(key: str, data: bytes) -> None:
            await to_thread.run_sync(lambda: client.put_object(Bucket=bucket, Key=key, Body=data))

        async def get(key: str) -> bytes:
            def read() -> bytes:
                body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                return body

            return await to_thread.run_sync(read)

        yield put, get
    elif name == "aiobotocore":
        from aiobotocore.session import get_session

        async with get_session().create_client("s3", **keys) as aclient:

            async def aput(key: str, data: bytes) -> None:
                await aclient.put_object(Bucket=bucket, Key=key, Body=data)

            async def aget(key: str) -> bytes:
                response = await aclient.get_object(Bucket=bucket, Key=key)
                async with response["Body"] as body:
                    data: bytes = await body.read()
                    return data

            yield aput, aget
    elif name == "obstore":
        import obstore
        from obstore.store import S3Store

        store = S3Store(
            bucket,
            endpoint=server.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            client_options={"allow_http": True},
        )

        async def oput(key: str, data: bytes) -> None:
            await obstore.put_async(store, key, data)

        async def oget(key: str) -> bytes:
            result = await obstore.get_async(store, key)
            return bytes(await result.bytes_async())

        yield oput, oget
    else:
        raise ValueError(f"unknown client {name}")


async def _timed(count: int, operation: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    """CPU and wall seconds of ``count`` operations, ``CONCURRENCY`` at once."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> None:
        async with limit:
            await operation(index)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return time.process_time() - cpu, time.perf_counter() - wall


async def measure(name: str, server: S3Server, ops: int) -> list[Figures]:
    bucket = server.new_bucket()
    data = os.urandom(OBJECT_BYTES)
    samples: dict[str, list[tuple[float, float]]] = {"PUT": [], "GET": []}
    async with open_client(name, server, bucket) as (put, get):
        await put("warm-up", data)  # connections, credentials, imports: not measured
        await get("warm-up")
        for run in range(RUNS):
            keys = [f"{run}/{index}" for index in range(ops)]

            async def put_one(index: int, keys: list[str] = keys) -> None:
                await put(keys[index], data)

            async def get_one(index: int, keys: list[str] = keys) -> None:
                await get(keys[index])

            samples["PUT"].append(await _timed(ops, put_one))
            samples["GET"].append(await _timed(ops, get_one))
    scale = 100 / ops
    return [
        Figures(
            name,
            operation,
            statistics.median(cpu for cpu, _ in runs) * scale,
            statistics.median(wall for _, wall in runs) * scale,
        )
        for operation, runs in samples.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100, help="operations per run (default 100)")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args(argv)
    rows: list[Figures] = []
    missing: list[str] = []
    with run_s3_server() as server:
        for name in args.clients.split(","):
            try:
                rows += asyncio.run(measure(name, server, args.ops))
            except ImportError:
                missing.append(name)
    print(f"1 MB objects, {CONCURRENCY} at once, per 100 operations, median of {RUNS} runs")
    print(f"{'client':<12} {'op':<4} {'CPU s':>7} {'wall s':>7}")
    for row in rows:
        print(f"{row.client:<12} {row.operation:<4} {row.cpu_s:7.3f} {row.wall_s:7.3f}")
    for name in missing:
        print(f"{name:<12} not installed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
