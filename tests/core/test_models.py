"""The request and response models: what is accepted, normalised and shown."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from pixyproxy.core.models import GenerateRequest, ImageDetail, format_timestamp
from tests.support.records import make_record


def test_prompt_is_trimmed_and_tags_normalised() -> None:
    request = GenerateRequest(prompt="  fox \n", tags=["Fox", "fox", "A-b_1", "a-B_1"])
    assert request.prompt == "fox"
    assert request.tags == ["fox", "a-b_1"]
    assert request.size == "1024x1024" and request.dimensions == (1024, 1024)
    assert not request.private


def test_prompt_may_span_lines() -> None:
    assert GenerateRequest(prompt="line one\nline two\ttabbed").prompt.count("\n") == 1


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": ""},
        {"prompt": " \t\n "},
        {"prompt": "x" * 4001},
        {"prompt": "\u202eevil"},
        {"prompt": "null \x00 byte"},
        {"prompt": "ok", "tags": ["x"] * 17},
        {"prompt": "ok", "tags": ["sp ace"]},
        {"prompt": "ok", "tags": [""]},
        {"prompt": "ok", "size": "1x1"},
        {"prompt": "ok", "extra": True},
    ],
)
def test_invalid_requests(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate(body)


def test_prompt_of_exactly_4000_characters_is_fine() -> None:
    assert len(GenerateRequest(prompt="x" * 4000).prompt) == 4000


def test_timestamps_are_utc_with_z() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(local) == "2026-01-01T10:00:00.000000Z"


def test_detail_never_shows_the_internal_id() -> None:
    record = make_record().model_copy(update={"id": 41})
    shown = ImageDetail.from_record(record).model_dump(mode="json")
    assert "id" not in shown and shown["content_url"] == f"/image/{record.guid}/content"
    assert shown["created_at"].endswith("Z")
