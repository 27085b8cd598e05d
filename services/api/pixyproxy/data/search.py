"""``q`` on a full-text index, alike on MySQL/MariaDB and SQLite.

The databases' own word parsers disagree (which characters are letters, case and accent
folding, InnoDB's stopwords and its shortest and longest word), so neither gets to parse
a prompt: each image stores its words (``core/words.py``) as index tokens in
``images.prompt_words``, and the index (InnoDB ``FULLTEXT`` on MySQL, an FTS5 table kept
by triggers on SQLite: ``data/schema.py``, migration 5) only splits that column at
spaces. A token is made of ``a``-``z`` and ``0``-``9`` alone, which every parser takes as
one word:

- it starts with ``WORD_MARK``, two letters, so no token is a stopword or shorter than
  InnoDB's ``innodb_ft_min_token_size`` (3);
- each character of the word follows as one code word of a prefix-free code: ``a``-``y``
  and digits as themselves, ``z`` as ``zz``, any other character as ``z`` and four hex
  digits (``zx`` and six beyond U+FFFF). So a word begins with another exactly when its
  token begins with the other's, and a prefix query on the index is a prefix match of
  the words;
- it holds at most ``TOKEN_MAX`` characters (InnoDB's ``innodb_ft_max_token_size``
  default and largest value, 84), cut after a whole code word: longer words are compared
  on their beginning (82 Latin letters, 16 Cyrillic ones), for ``q`` and prompt alike.

``q``'s tokens go to the database as prefix terms that must all match (``+t*`` in
InnoDB's boolean mode, ``"t"* AND ...`` in FTS5). They hold no operator or quote of
either syntax: whatever ``q`` says is text.
"""

from __future__ import annotations

from typing import Any

from pixyproxy.core.words import words
from pixyproxy.data.database import Cursor, Dialect

WORD_MARK = "xw"
TOKEN_MAX = 84
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxy0123456789")
FILL_BATCH = 1000


def _code(char: str) -> str:
    if char in _PLAIN:
        return char
    if char == "z":
        return "zz"
    point = ord(char)
    return f"z{point:04x}" if point <= 0xFFFF else f"zx{point:06x}"


def token(word: str) -> str:
    """The index token of one word (``core/words.py``), at most ``TOKEN_MAX`` long."""
    text = WORD_MARK
    for char in word:
        code = _code(char)
        if len(text) + len(code) > TOKEN_MAX:
            break
        text += code
    return text


def prompt_words(prompt: str) -> str:
    """What ``images.prompt_words`` holds for ``prompt``: its tokens, once each."""
    return " ".join(dict.fromkeys(token(word) for word in words(prompt)))


def query_tokens(q: str) -> list[str]:
    """The tokens every matching prompt must have a token beginning with; never empty
    for a ``q`` the API took (``core/models.py`` refuses a ``q`` without a word)."""
    tokens = list(dict.fromkeys(token(word) for word in words(q)))
    if not tokens:
        raise ValueError("q has no word to search for")
    return tokens


def matches(q: str, prompt: str) -> bool:
    """The rule the indexes apply, in Python: every token of ``q`` begins one of the
    prompt's (the in-memory fake's search, and the tests' oracle)."""
    held = prompt_words(prompt).split()
    return all(any(t.startswith(wanted) for t in held) for wanted in query_tokens(q))


# Where a search reads ``images i`` from, and its condition, per dialect. On SQLite the
# FTS5 table comes first (its rowid is the image's id), held there by CROSS JOIN: left to
# itself the planner walks the images newest first and asks the index about each.
MATCH_FROM = {
    "mysql": "images i",
    "sqlite": "images_fts f CROSS JOIN images i ON i.id = f.rowid",
}
# The key a search set is ordered by: the images' id, as the index gives it. FTS5 walks
# its matches by rowid, so a page stops after ``limit`` of them.
MATCH_KEY = {"mysql": "i.id", "sqlite": "f.rowid"}
MATCH_CONDITION = {
    "mysql": "MATCH (i.prompt_words) AGAINST (%(q)s IN BOOLEAN MODE)",
    "sqlite": "images_fts MATCH %(q)s",
}


def match_params(q: str, dialect: Dialect) -> dict[str, Any]:
    """The parameters of ``MATCH_CONDITION`` (``q``) and of ``holds_words`` (``q_<n>``)."""
    tokens = query_tokens(q)
    like = {f"q_{n}": f"% {t}%" for n, t in enumerate(tokens)}
    if dialect == "mysql":
        return {"q": " ".join(f"+{t}*" for t in tokens), **like}
    return {"q": " AND ".join(f'"{t}"*' for t in tokens), **like}


def holds_words(q: str, dialect: Dialect) -> str:
    """The same match as the index's, as a check of one row's ``prompt_words``: for a few
    rows found another way (the viewer's own images) it costs less than asking the index
    for every match. Its patterns are ``match_params``'s ``q_<n>``: tokens are lowercase
    letters and digits, so nothing in them is a LIKE wildcard, and SQLite's LIKE, which
    folds ASCII case, compares them as MySQL's does."""
    held = "CONCAT(' ', i.prompt_words)" if dialect == "mysql" else "(' ' || i.prompt_words)"
    return " AND ".join(f"{held} LIKE %(q_{n})s" for n in range(len(query_tokens(q))))


def fill_prompt_words(cursor: Cursor) -> None:
    """Give every image made before migration 5 its ``prompt_words``, in batches by id."""
    last = 0
    while True:
        cursor.execute(
            "SELECT id, prompt FROM images WHERE id > %(last)s AND prompt_words IS NULL"
            " ORDER BY id LIMIT %(batch)s",
            {"last": last, "batch": FILL_BATCH},
        )
        rows = cursor.fetchall()
        for row in rows:
            cursor.execute(
                "UPDATE images SET prompt_words = %(words)s WHERE id = %(id)s",
                {"words": prompt_words(row["prompt"]), "id": row["id"]},
            )
        if len(rows) < FILL_BATCH:
            return
        last = rows[-1]["id"]
