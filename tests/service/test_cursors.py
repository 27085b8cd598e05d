"""The list cursor: any guid round-trips, and only the exact text ``encode_cursor`` made is
a cursor (whatever else the text decodes to)."""

from __future__ import annotations

import base64
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixyproxy.service.cursors import InvalidCursor, decode_cursor, encode_cursor

GUID = UUID("3f6c1d2e-8f0a-4b7e-9c1d-2e8f0a4b7e9c")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@given(st.uuids())
def test_any_guid_round_trips(guid: UUID) -> None:
    cursor = encode_cursor(guid)
    assert decode_cursor(cursor) == guid
    assert str(guid) not in cursor  # opaque to callers


@given(st.text(max_size=200))
def test_a_text_is_a_cursor_only_if_it_is_the_one_made_for_its_guid(text: str) -> None:
    try:
        guid = decode_cursor(text)
    except InvalidCursor:
        return
    assert encode_cursor(guid) == text


@given(st.uuids(), st.text(st.sampled_from("=.!* \n%+/~"), min_size=1, max_size=3), st.data())
def test_a_cursor_with_anything_added_is_refused(
    guid: UUID, extra: str, data: st.DataObject
) -> None:
    cursor = encode_cursor(guid)
    at = data.draw(st.integers(0, len(cursor)))
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor[:at] + extra + cursor[at:])


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor(GUID) + "=",  # padded
        encode_cursor(GUID) + "==",
        b64(f"v1:{str(GUID).upper()}").rstrip("="),  # other spellings of the same guid
        b64(f"v1:{GUID.hex}").rstrip("="),
        b64(f"v1:{{{GUID}}}").rstrip("="),
        b64(f"v1:urn:uuid:{GUID}").rstrip("="),
    ],
)
def test_other_spellings_of_a_valid_cursor_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


@pytest.mark.parametrize("cursor", ["", "garbage", "!!!", "djE6bm9wZQ", "djI6" + "A" * 40])
def test_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
