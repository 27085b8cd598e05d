"""The list cursor: any guid round-trips, and anything that is not a cursor we made is
refused (whatever the text)."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixyproxy.service.cursors import InvalidCursor, decode_cursor, encode_cursor


@given(st.uuids())
def test_any_guid_round_trips(guid: UUID) -> None:
    cursor = encode_cursor(guid)
    assert decode_cursor(cursor) == guid
    assert str(guid) not in cursor  # opaque to callers


@given(st.text(max_size=200))
def test_any_other_text_is_refused_or_names_a_guid(text: str) -> None:
    try:
        guid = decode_cursor(text)
    except InvalidCursor:
        return
    assert isinstance(guid, UUID)  # base64 of "v1:<guid>", however it was spelled


@pytest.mark.parametrize("cursor", ["", "garbage", "!!!", "djE6bm9wZQ", "djI6" + "A" * 40])
def test_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
