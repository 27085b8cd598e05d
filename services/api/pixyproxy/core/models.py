"""Pydantic models shared by every layer: what callers send, what they get, what is stored."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from functools import cached_property
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    field_validator,
)

from pixyproxy.core.text import FORBIDDEN, VISIBLE, check_characters, is_blank
from pixyproxy.core.words import word_class, words

PROMPT_MAX_CHARS = 4000
TAG_MAX_COUNT = 16
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 50
PNG_CONTENT_TYPE = "image/png"
WEBP_CONTENT_TYPE = "image/webp"

ImageSize = Literal["1024x1024", "1536x1024", "1024x1536"]


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: the one timestamp format of the API."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]


def _check_prompt(value: str) -> str:
    # Characters first: stripping would drop the controls Python counts as whitespace.
    value = check_characters(value, "prompt").strip()
    if is_blank(value):
        raise ValueError("prompt must not be blank: it needs a visible character")
    return value


def _check_search(value: str) -> str:
    # What no prompt can hold never matches: refused, rather than handed to a database
    # that may treat it specially (NUL ends a pattern for some). A q without a word would
    # match nothing or, to a careless index, everything: refused too.
    check_characters(value, "q")
    if not words(value):
        raise ValueError("q must hold a word to search for: a letter or a digit")
    return value


def _check_tag(value: str) -> str:
    if not TAG_PATTERN.fullmatch(value):
        raise ValueError("each tag is 1-50 letters, digits, '-' or '_'")
    return value.lower()


# The JSON Schema states the same rules the validators enforce (core/text.py).
PROMPT_PATTERN = rf"^[^{FORBIDDEN}]*{VISIBLE}[^{FORBIDDEN}]*$"
Prompt = Annotated[
    str,
    Field(
        max_length=PROMPT_MAX_CHARS, json_schema_extra={"minLength": 1, "pattern": PROMPT_PATTERN}
    ),
    AfterValidator(_check_prompt),
]
Tag = Annotated[str, Field(pattern=TAG_PATTERN.pattern), AfterValidator(_check_tag)]


def _search_schema(schema: dict[str, Any]) -> None:
    # A word character between allowed ones; the class is long, so made when asked for.
    schema["pattern"] = rf"^[^{FORBIDDEN}]*[{word_class()}][^{FORBIDDEN}]*$"


SearchText = Annotated[str, Field(json_schema_extra=_search_schema), AfterValidator(_check_search)]


class GenerateRequest(BaseModel):
    """The body of ``POST /image``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Prompt = Field(
        description="What to draw: up to 4000 characters, with a visible one (not only"
        " whitespace or zero-width characters), no control characters; surrounding whitespace"
        " is trimmed."
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=TAG_MAX_COUNT,
        description="Up to 16 tags of letters, digits, '-' and '_'; stored lowercase.",
    )
    private: StrictBool = Field(default=False, description="Visible only to its author.")
    size: ImageSize = "1024x1024"

    @field_validator("tags")
    @classmethod
    def _drop_duplicate_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))

    @property
    def dimensions(self) -> tuple[int, int]:
        width, height = self.size.split("x")
        return int(width), int(height)


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """A PNG as a generator produced it, checked but not yet stored."""

    png: bytes
    width: int
    height: int
    model: str


class ImageFields(BaseModel):
    """What every image has, declared once: the record the data layer stores and the detail
    the API shows both take these fields, and the data layer derives its columns, its
    INSERT and its row conversion from them (``data/records.py``). A new column is one
    field here (or on ``ImageRecord`` when callers must not see it) and one migration."""

    model_config = ConfigDict(frozen=True)

    guid: UUID
    prompt: str
    filename: str
    tags: list[str] = Field(default_factory=list)
    author: str | None = None
    private: bool = False
    created_at: Timestamp
    updated_at: Timestamp
    content_type: str = PNG_CONTENT_TYPE
    size_bytes: int
    width: int
    height: int
    model: str


class ImageRecord(ImageFields):
    """An image as the data layer stores it. ``id`` is internal and never leaves the service."""

    id: int | None = None
    sha256: str


class ImageDetail(ImageFields):
    """An image as the API shows it."""

    # Cached details are shared by every request that shows them. Every field is in every
    # answer, so the response schema lists them all as required.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)

    content_url: str

    @classmethod
    def from_record(cls, record: ImageRecord) -> ImageDetail:
        # A record is valid by construction: no need to validate it a second time.
        shown = {name: getattr(record, name) for name in ImageFields.model_fields}
        return cls.model_construct(**shown, content_url=f"/image/{record.guid}/content")

    @classmethod
    def from_encoded(cls, encoded: bytes, etag: str) -> ImageDetail:
        """The detail whose JSON is ``encoded`` and whose ETag is ``etag``, both kept as its
        own (where ``cached_property`` keeps them) rather than made again."""
        detail = cls.model_validate_json(encoded)
        detail.__dict__.update(encoded=encoded, etag=etag)
        return detail

    @cached_property
    def encoded(self) -> bytes:
        """The JSON of this detail, made once: a cached image is served many times."""
        return self.__pydantic_serializer__.to_json(self)

    @cached_property
    def etag(self) -> str:
        """A strong ETag of this detail's state: its JSON's hash, the same on every worker
        and replica, and a new one whenever the image changes (``updated_at`` moves)."""
        return f'"{hashlib.sha256(self.encoded).hexdigest()[:32]}"'


class ImagePatch(BaseModel):
    """A JSON merge patch (RFC 7396) of an image: the members it names are replaced, the
    others kept. ``tags`` replaces the whole list, ``null`` removing every tag; ``private``
    is a boolean. Other members are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: list[Tag] | None = Field(
        default=None,
        max_length=TAG_MAX_COUNT,
        description="The image's new tags (up to 16, stored lowercase); null removes them all.",
    )
    private: StrictBool = Field(
        default=False, description="Visible only to its author; absent: unchanged."
    )

    @field_validator("tags")
    @classmethod
    def _drop_duplicate_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else list(dict.fromkeys(tags))


class ImageFilter(BaseModel):
    """What ``GET /image`` may narrow the list by; every field is optional and they combine."""

    model_config = ConfigDict(frozen=True)

    tag: Tag | None = Field(default=None, description="Images with this tag.")
    author: str | None = Field(
        default=None, min_length=1, max_length=255, description="Images by this author."
    )
    q: SearchText | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Words the prompt holds: every word of q begins a word of the prompt,"
        " in any order, ignoring case and accents ('Fox' finds 'a red fox', 'ca' finds"
        " 'café'). Words are runs of letters and digits; anything else only separates them"
        " (it is never an operator or a wildcard); each Chinese or Japanese character is a"
        " word. A q without a letter or digit is 422. Very long words are compared on their"
        " first 82 index characters (82 Latin letters, 16 of other scripts).",
    )


class ImageListQuery(ImageFilter):
    """The query of ``GET /image``: the filters, how many images, and where the page starts.
    Other query parameters are ignored."""

    limit: int = Field(default=LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="From the previous page."
    )


class ThumbnailWidth(IntEnum):
    """The widths a thumbnail is made in: few, so each image has few thumbnails to keep."""

    W128 = 128
    W256 = 256
    W512 = 512


class ThumbnailQuery(BaseModel):
    """The query of ``GET /image/{guid}/thumbnail``. Other query parameters are ignored."""

    model_config = ConfigDict(frozen=True)

    w: ThumbnailWidth = Field(
        default=ThumbnailWidth.W256,
        description="Width in pixels; the height keeps the image's aspect ratio.",
    )


@dataclass(frozen=True, slots=True)
class ImagePage:
    """The guids of one page of a list, newest first, and whether more images follow.

    The guids stay in their stored text form (lowercase, with dashes), the cache's keys:
    a page of them is looked up, never parsed.
    """

    guids: list[str]
    more: bool
    # The image the page was to start after is not one the viewer may see (any more).
    after_missing: bool = False

    @property
    def next_after(self) -> str | None:
        """The guid the next page starts after; None on the last page."""
        return self.guids[-1] if self.more and self.guids else None


@dataclass(frozen=True, slots=True)
class IfMatch:
    """An ``If-Match`` precondition: the entity tags it names, or ``*`` (any current state).
    Compared strongly (RFC 9110 §13.1.1): a weak tag never matches."""

    etags: frozenset[str] = frozenset()
    any: bool = False

    @classmethod
    def parse(cls, values: list[str]) -> IfMatch:
        """From the header's values (each may list several tags, comma separated)."""
        tags = {tag.strip() for value in values for tag in value.split(",")} - {""}
        return cls(any=True) if "*" in tags else cls(etags=frozenset(tags))

    def matches(self, etag: str) -> bool:
        return self.any or etag in self.etags


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the ``sub`` of a valid token, and whether the token names an
    admin (``PIXY_JWT_ADMIN_CLAIM``), who may edit and delete any image."""

    subject: str
    admin: bool = False
