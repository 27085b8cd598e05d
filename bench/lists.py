"""Paging through ``GET /image`` by its ``Link`` headers, as a client does: the cursor is
opaque, so the only way to a deep page is through the pages before it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

LIST_LIMIT = 50


class ListError(RuntimeError):
    """A page did not answer 200."""


@dataclass
class Walk:
    pages: int
    next_paths: list[str]  # the "next" link of each page but the last, in order


def walk_list(url: str, *, limit: int, max_pages: int, query: str = "") -> Walk:
    """Page through ``/image?limit=...`` (plus ``query``) up to ``max_pages`` pages."""
    path: str | None = f"/image?limit={limit}{query}"
    next_paths: list[str] = []
    pages = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        while path is not None and pages < max_pages:
            response = client.get(path)
            if response.status_code != 200:
                raise ListError(f"GET {path} answered {response.status_code}: {response.text}")
            pages += 1
            link = response.headers.get("link")
            path = None
            if link and 'rel="next"' in link:
                path = link[link.index("<") + 1 : link.index(">")]
                next_paths.append(path)
    return Walk(pages=pages, next_paths=next_paths)
