"""A PixyProxy for the gallery's browser tests: ``pixyproxy serve`` on a MariaDB database of
its own, generating through the OpenAI mock, and an API client that prepares images and
tells what the API lists, to compare the page with."""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pymysql
from jose import jwt

from tests.support.mock_server import MockServer
from tests.support.servers import run_pixyproxy, server_env

SECRET = "g" * 40

Image = dict[str, Any]


def token_for(subject: str, *, ttl_s: int = 3600) -> str:
    claims = {"sub": subject, "aud": "pixyproxy", "exp": int(time.time()) + ttl_s}
    return str(jwt.encode(claims, SECRET, algorithm="HS256"))


@dataclass(frozen=True)
class Gallery:
    url: str

    def api(self, subject: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token_for(subject)}"} if subject else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def create(
        self,
        subject: str,
        prompt: str,
        *,
        tags: Sequence[str] = (),
        private: bool = False,
        size: str = "1024x1024",
    ) -> Image:
        body = {"prompt": prompt, "tags": list(tags), "private": private, "size": size}
        with self.api(subject) as api:
            response = api.post("/image", json=body)
        assert response.status_code == 200, response.text
        image: Image = response.json()
        return image

    def create_many(self, subject: str, prompts: Sequence[str], **fields: Any) -> list[Image]:
        """One image per prompt, in this order of creation (so the list shows them reversed)."""
        images = []
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            # In chunks, so that creation order (and so list order) is the prompts' order
            # between chunks; within a chunk the API's order is read back by the tests.
            for start in range(0, len(prompts), 4):
                chunk = prompts[start : start + 4]
                images += pool.map(lambda p: self.create(subject, p, **fields), chunk)
        return images

    def listing(self, subject: str | None = None, **filters: str) -> list[Image]:
        """Every image the API lists for these filters, following its Link header."""
        found: list[Image] = []
        with self.api(subject) as api:
            response = api.get("/image", params={**filters, "limit": 100})
            while True:
                assert response.status_code == 200, response.text
                found += response.json()
                if "next" not in response.links:
                    return found
                response = api.get(response.links["next"]["url"])


@contextlib.contextmanager
def scratch_database(mysql_url: str, suffix: str) -> Iterator[str]:
    """A database beside ``mysql_url``'s (same server, name + suffix), dropped afterwards."""
    parts = urlsplit(mysql_url)
    name = f"{parts.path.lstrip('/')}_{suffix}"
    admin = pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        autocommit=True,
        connect_timeout=5,
    )
    with admin:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield urlunsplit(parts._replace(path=f"/{name}"))
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def serve_gallery(
    database_url: str, storage_dir: Path, mock: MockServer, **settings: str
) -> Iterator[Gallery]:
    """``pixyproxy serve`` (two workers, dev mode) on that database, through the mock."""
    env = server_env(
        database_url=database_url,
        storage_dir=storage_dir,
        mock=mock,
        jwt_secret=SECRET,
        env="dev",
        **settings,
    )
    with run_pixyproxy(env, workers=2) as process:
        yield Gallery(process.url)


@contextlib.contextmanager
def gallery_of_its_own(
    mysql_url: str, name: str, storage_dir: Path, mock: MockServer, **settings: str
) -> Iterator[Gallery]:
    """``serve_gallery`` on a scratch database named after ``name``, dropped afterwards."""
    with (
        scratch_database(mysql_url, name) as database_url,
        serve_gallery(database_url, storage_dir, mock, **settings) as server,
    ):
        yield server
