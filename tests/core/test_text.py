"""What a prompt may hold and what counts as blank: the checks and the JSON Schema patterns
say the same, and text that renders as nothing is blank."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pixyproxy.core.models import PROMPT_PATTERN, GenerateRequest, ImageListQuery
from pixyproxy.core.text import INVISIBLE_RANGES, is_blank

INVISIBLE = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f", "\u061c",
    "\u180e", "\u2061", "\u2800", "\u3164", "\u115f", "\uffa0", "\ufe0f", "\U000e0041",
    "\U000e0100", "\U0001d173", "\u200e", "\u2064",
]  # fmt: skip
SPACES = [" ", "\t", "\n", "\r", "\u00a0", "\u2003", "\u3000", "\u2028", "\u205f"]
REFUSED = ["\x00", "\x1b", "\x7f", "\x85", "\u202e", "\u2067"]
VISIBLE = ["a", "É", "字", "٣", ".", "😀", "\u0301", "\ue000"]
ANY = st.lists(st.sampled_from(INVISIBLE + SPACES + REFUSED + VISIBLE), max_size=8).map("".join)
SEARCH_PATTERN = ImageListQuery.model_json_schema()["properties"]["q"]["anyOf"][0]["pattern"]


def accepted(make: type, **fields: str) -> bool:
    try:
        make(**fields)
    except ValidationError:
        return False
    return True


def test_every_format_character_renders_as_nothing() -> None:
    """The table is Unicode 15's; a Python with a newer Unicode may add some."""
    invisible = {c for first, last in INVISIBLE_RANGES for c in range(first, last + 1)}
    format_chars = {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    assert format_chars <= invisible, sorted(hex(c) for c in format_chars - invisible)


@pytest.mark.parametrize("prompt", [*INVISIBLE, "".join(INVISIBLE), " \u200b\t\ufeff\u2800 "])
def test_a_prompt_of_invisible_characters_is_blank(prompt: str) -> None:
    assert is_blank(prompt)
    with pytest.raises(ValidationError, match="blank"):
        GenerateRequest(prompt=prompt)
    assert not re.fullmatch(PROMPT_PATTERN, prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "a\u200db",
        "👩\u200d💻",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "fox\ufe0f",
        "\u2800x",
    ],
)
def test_invisible_characters_inside_visible_text_are_kept(prompt: str) -> None:
    assert GenerateRequest(prompt=prompt).prompt == prompt


@given(ANY)
def test_the_prompt_pattern_accepts_what_the_check_accepts(text: str) -> None:
    assert accepted(GenerateRequest, prompt=text) == bool(re.fullmatch(PROMPT_PATTERN, text))


@given(ANY.filter(bool))
def test_the_search_pattern_accepts_what_the_check_accepts(text: str) -> None:
    assert accepted(ImageListQuery, q=text) == bool(re.fullmatch(SEARCH_PATTERN, text))
