"""What caller text may hold, and what of it a reader can see.

A prompt (and a search for one) must not hold controls other than tab and line breaks,
bidirectional overrides or isolates (they make text display as something else), or lone
surrogates (no encoder can store one). A prompt must also show something: text made only of
whitespace and of characters that render as nothing is blank. Those are the format
characters (Unicode category Cf: zero-width spaces and joiners, the BOM, bidirectional
marks, tags, ...), the other default-ignorable code points (variation selectors, the Hangul
fillers, the combining grapheme joiner, ...) and the blank Braille pattern. Inside visible
text they are fine: emoji sequences and Persian need the zero-width joiners.

Each rule is stated twice, as a check and as a JSON Schema pattern (``FORBIDDEN``,
``VISIBLE``), so clients and fuzzers can tell valid text from the schema alone;
tests/core/test_text.py keeps the two in step.
"""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ALLOWED_CONTROLS = frozenset("\n\r\t")

# Code points that render as nothing, as ranges: Unicode 15's Cf and Default_Ignorable_Code_Point
# (DerivedCoreProperties.txt), and U+2800 BRAILLE PATTERN BLANK.
INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2),
    (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
_INVISIBLE = frozenset(chr(c) for first, last in INVISIBLE_RANGES for c in range(first, last + 1))

# The same rules as regular-expression character classes (their inside), valid for Python
# and for ECMA-262 with the u flag. The invisible characters go in literally: neither
# dialect's escape reaches beyond U+FFFF in the other.
FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_INVISIBLE_CLASS = "".join(f"{chr(first)}-{chr(last)}" for first, last in INVISIBLE_RANGES)
VISIBLE = rf"[^\s{FORBIDDEN}{_INVISIBLE_CLASS}]"  # one visible, allowed character


def check_characters(value: str, what: str) -> str:
    """``value`` unless it holds a character no prompt may hold (``what`` names it)."""
    for char in value:
        if char in _BIDI_CONTROLS:
            raise ValueError(f"{what} must not contain bidirectional control characters")
        category = unicodedata.category(char)
        if category == "Cc" and char not in _ALLOWED_CONTROLS:
            raise ValueError(f"{what} must not contain control characters")
        if category == "Cs":  # JSON can escape one ("\ud800"); no encoder can store it
            raise ValueError(f"{what} must not contain lone surrogates")
    return value


def is_blank(value: str) -> bool:
    """Whether ``value`` shows nothing: only whitespace and invisible characters."""
    return all(char.isspace() or char in _INVISIBLE for char in value)
