"""What a bearer token may carry: checked here, strictly, before python-jose reads it.

python-jose verifies the signature and what ``exp``, ``nbf``, ``aud`` and ``iss`` mean, but
it parses with plain ``json.loads`` and checks types loosely: ``"exp": "99999999999"`` and
``true`` pass, ``1e400`` (infinity) and deeply nested arrays raise errors it does not
catch, a claim given twice counts by its last copy, and any string is a subject. So each
segment is parsed here first, and a token is refused (401 ``invalid_token``) unless:

- each segment is unpadded base64url of one JSON object: UTF-8, no member name twice, no
  ``NaN``/``Infinity``, no nesting deeper than the parser's recursion limit;
- the header names an ``alg`` and, if any, a string ``kid``, and no ``crit`` extension
  (PixyProxy implements none, so RFC 7515 §4.1.11 says refuse);
- ``exp``, ``nbf`` and ``iat`` are NumericDates: JSON numbers (not booleans or strings)
  from 0 to the end of year 9999; ``iss`` and ``jti`` are strings; ``aud`` is a string or
  a list of strings;
- ``sub`` is a subject that every backend stores and every page shows unchanged (see
  ``subject_problem``).

Nothing here looks at the key or the clock: this runs before any key is fetched, and a
refusal costs no more than parsing a few hundred bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from typing import Any, NoReturn

from pixyproxy.core.errors import InvalidToken

MAX_SUBJECT_CHARS = 255  # the author and owner columns are VARCHAR(255)
# 9999-12-31T23:59:59Z: the last second a datetime can hold.
MAX_NUMERIC_DATE = 253_402_300_799
TIME_CLAIMS = ("exp", "nbf", "iat")
STRING_CLAIMS = ("iss", "jti")

# Three unpadded base64url segments (RFC 7515 §7.1); a JWE has five and never matches.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Controls, format characters (zero-width, bidi, BOM), surrogates, line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def read_token(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, parsed and type-checked, not yet verified."""
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken()
    header_segment, payload_segment, _ = token.split(".")
    header = _json_object(header_segment)
    claims = _json_object(payload_segment)
    _check_header(header)
    _check_claims(claims)
    return header, claims


def subject_problem(subject: object) -> str | None:
    """Why ``subject`` cannot be a PixyProxy identity, or None when it can.

    A subject becomes ``author`` and the owner of idempotency keys and quotas: it must come
    back exactly as it went in, through JSON, MySQL utf8mb4 and SQLite, and read the same
    on a page and in a log. So 1-255 characters, none of them a control, format
    (zero-width, bidirectional, BOM), surrogate or line/paragraph separator character, nor
    a noncharacter. Letters of any script, spaces and punctuation are fine.
    """
    if not isinstance(subject, str):
        return "the subject must be a string"
    if not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        return f"the subject must be 1 to {MAX_SUBJECT_CHARS} characters"
    for char in subject:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES or _is_noncharacter(char):
            return f"the subject must not contain U+{ord(char):04X}"
    return None


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _json_object(segment: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_unique_members, parse_constant=_refuse
        )
    except (ValueError, RecursionError, binascii.Error):
        raise InvalidToken() from None
    if not isinstance(value, dict):
        raise InvalidToken()
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("a member name appears twice")
    return members


def _refuse(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def _check_header(header: dict[str, Any]) -> None:
    if not isinstance(header.get("alg"), str):
        raise InvalidToken("The token's algorithm is not accepted.")
    if "kid" in header and not isinstance(header["kid"], str):
        raise InvalidToken("The token's key id (kid) is not a string.")
    if "crit" in header:
        raise InvalidToken("The token needs extensions (crit) this service does not implement.")


def _check_claims(claims: dict[str, Any]) -> None:
    for name in TIME_CLAIMS:
        if name in claims and not _is_numeric_date(claims[name]):
            raise InvalidToken(f"The token's {name} is not a time in seconds since 1970.")
    for name in STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"The token's {name} is not a string.")
    audience = claims.get("aud")
    if "aud" in claims and not (
        isinstance(audience, str)
        or (isinstance(audience, list) and all(isinstance(a, str) for a in audience))
    ):
        raise InvalidToken("The token's aud is not a string or a list of strings.")
    problem = subject_problem(claims.get("sub"))
    if problem is not None:
        raise InvalidToken(f"The token's subject is not valid: {problem}.")


def _is_numeric_date(value: object) -> bool:
    """A JSON number of seconds (RFC 7519 §2). A bool is an int to Python, so it is named;
    NaN and infinity fail the range test, as do integers of any size beyond it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 <= value <= MAX_NUMERIC_DATE
