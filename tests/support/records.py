"""Image records for tests: one made to order, or any valid one (a hypothesis strategy);
the details of a list page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import strategies as st

from pixyproxy.core.models import ImageDetail, ImageRecord
from pixyproxy.service.pages import DetailPage

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def make_record(
    prompt: str = "a lighthouse at dusk",
    *,
    tags: list[str] | None = None,
    author: str | None = None,
    private: bool = False,
    at: datetime = T0,
) -> ImageRecord:
    guid = uuid4()
    return ImageRecord(
        guid=guid,
        prompt=prompt,
        filename=f"{guid}.png",
        tags=tags or [],
        author=author,
        private=private,
        size_bytes=1234,
        width=1024,
        height=1536,
        model="gpt-image-1",
        sha256="ab" * 32,
        created_at=at,
        updated_at=at,
    )


def make_detail(prompt: str = "a lighthouse at dusk", **fields: object) -> ImageDetail:
    return ImageDetail.from_record(make_record(prompt, **fields))  # type: ignore[arg-type]


# Text a prompt, an author or a model may hold: no control characters, no lone surrogates.
_TEXT = st.characters(exclude_categories=["Cc", "Cs"])
_TAG = st.from_regex(r"[a-z0-9_-]{1,50}", fullmatch=True)
_TIMES = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


@st.composite
def any_record(draw: st.DrawFn) -> ImageRecord:
    """Any record the service could store, within the columns' ranges."""
    created = draw(_TIMES)
    author = draw(st.none() | st.text(_TEXT, min_size=1, max_size=255))
    return make_record(
        draw(st.text(_TEXT, min_size=1, max_size=4000).filter(str.strip)),
        tags=draw(st.lists(_TAG, max_size=16, unique=True)),
        author=author,
        private=author is not None and draw(st.booleans()),  # only an author's may be private
        at=created,
    ).model_copy(
        update={
            "updated_at": created + draw(st.timedeltas(timedelta(0), timedelta(days=365))),
            "size_bytes": draw(st.integers(1, 2**32 - 1)),
            "width": draw(st.integers(1, 8192)),
            "height": draw(st.integers(1, 8192)),
            "model": draw(st.text(_TEXT, min_size=1, max_size=100)),
            "sha256": draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
        }
    )


def details(page: DetailPage) -> list[ImageDetail]:
    """The details a list page shows, read back from the JSON it is sent as."""
    return [ImageDetail.model_validate(item) for item in json.loads(page.encoded)]
