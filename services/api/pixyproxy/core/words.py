"""What a word of a prompt is, for search (README, "Search").

``q`` finds the prompts in which every word of ``q`` begins a word. Words are compared
caselessly and without accents, the same way on every database, because both the prompt
and ``q`` go through ``words`` here before any database sees them:

- compatibility forms become their plain letters (fullwidth letters are the plain ones, the ligature
  ``ﬃ`` is ``ffi``), case is folded (``Straße`` is ``strasse``), and combining marks go
  (``é``, precomposed or not, is ``e``);
- a word is a run of letters and digits (Unicode categories L and N); everything else
  (spaces, punctuation, symbols, emoji, invisible characters) only separates words, so
  ``don't`` is ``don`` and ``t``, and a text without a letter or digit has no word;
- Chinese and Japanese are written without spaces, so each of their ideographs and kana is
  a word of its own: ``月光`` finds the prompts holding both characters.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Scripts written without spaces between words, by the start of their characters' names.
_SOLO_NAMES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA")


def words(text: str) -> list[str]:
    """The words of ``text``, folded and in order (repeats kept)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    found: list[str] = []
    word: list[str] = []
    for char in folded:
        kind = unicodedata.category(char)[0]
        if kind == "M":  # accents and other marks: dropped, also between letters
            continue
        if kind in "LN":
            if _solo(char):
                if word:
                    found.append("".join(word))
                    word = []
                found.append(char)
            else:
                word.append(char)
        elif word:
            found.append("".join(word))
            word = []
    if word:
        found.append("".join(word))
    return found


@lru_cache(maxsize=4096)
def _solo(char: str) -> bool:
    return char > "\u2e7f" and unicodedata.name(char, "").startswith(_SOLO_NAMES)


@lru_cache(maxsize=1)
def word_class() -> str:
    """The characters that make a word, as the inside of a regular-expression character
    class (literal characters, valid for Python and for ECMA-262 with the u flag): those
    whose folded form holds a letter or digit. A text has a word exactly when it holds
    one of them. Made when first asked for (the OpenAPI schema): it reads every code point."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x110000):
        if 0xD800 <= point <= 0xDFFF or not words(chr(point)):
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return "".join(
        chr(first) if first == last else f"{chr(first)}-{chr(last)}" for first, last in ranges
    )
