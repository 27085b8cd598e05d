"""The images the bench seeds: image ``n`` is the same at every size and in every run.

Everything about an image follows from its id alone (a BLAKE2 digest of it), so a larger
seed is a smaller one plus more rows, and a run at 1M images holds the same first 10,000
images as a run at 10,000. The mix is meant to look like a service people use:

- authors: a quarter of the images are anonymous; the rest are spread over
  ``AUTHOR_COUNT`` authors by a Zipf law, so one author has about an eighth of all images
  and hundreds have only a handful (selective and unselective author filters);
- tags: 0 to 3 tags from ``TAG_COUNT`` tags, again Zipf: the most used tag is on about a
  sixth of the images, the long tail on a few each (selective and unselective tag filters);
- private: about 2 % of the authored images;
- prompts: a subject, a style and a word of their own (``codename``), so a ``q`` search
  can match one image at any size (the word) or a tenth of them (the subject), whether
  ``q`` means a substring, a word or a prefix.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

SUBJECTS = (
    "a lighthouse",
    "a red fox",
    "an old tram",
    "a glass teapot",
    "a mountain village",
    "a paper crane",
    "a robot gardener",
    "a koi pond",
    "a desert observatory",
    "a bicycle in the rain",
)
STYLES = (
    "at dusk, oil painting",
    "in the style of a woodcut",
    "as a pixel-art scene",
    "photographed on 35 mm film",
    "in watercolour, soft light",
    "isometric, pastel colours",
    "under neon signs at night",
)
AUTHOR_COUNT = 2000
TAG_COUNT = 400
ANONYMOUS_SHARE = 0.25
PRIVATE_SHARE = 0.02  # of the authored images
ZIPF_S = 1.1
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
SECONDS_APART = 3  # created_at grows with the id, as it does when rows are inserted
# Consonant-vowel syllables: four of them make a word no English word of the prompts holds.
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_SYLLABLES = tuple(c + v for c, v in itertools.product(_CONSONANTS, _VOWELS))


@dataclass(frozen=True)
class SeedImage:
    """One seeded image, before it gets its file (``source``: which of the PNG sources)."""

    id: int
    guid: str
    prompt: str
    author: str | None
    private: bool
    tags: tuple[str, ...]
    created_at: datetime


def author_name(rank: int) -> str:
    return f"user-{rank:04d}"


def tag_name(rank: int) -> str:
    return f"tag-{rank:03d}"


def codename(image_id: int) -> str:
    """A word of four syllables that only image ``image_id``'s prompt holds."""
    parts = []
    value = image_id
    for _ in range(4):
        value, index = divmod(value, len(_SYLLABLES))
        parts.append(_SYLLABLES[index])
    if value:
        raise ValueError(f"image id {image_id} is too large for a four-syllable codename")
    return "".join(parts)


def _zipf_table(count: int, s: float) -> list[float]:
    """Cumulative probabilities of ranks 1..count under a Zipf law of exponent ``s``."""
    weights = [rank**-s for rank in range(1, count + 1)]
    total = sum(weights)
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight
        cumulative.append(running / total)
    return cumulative


_AUTHOR_CDF = _zipf_table(AUTHOR_COUNT, ZIPF_S)
_TAG_CDF = _zipf_table(TAG_COUNT, ZIPF_S)


def _unit(digest: bytes, offset: int) -> float:
    """A number in [0, 1) from four bytes of the digest."""
    return int.from_bytes(digest[offset : offset + 4], "big") / 2**32


def _rank(cdf: list[float], unit: float) -> int:
    return min(bisect.bisect_right(cdf, unit), len(cdf) - 1)


def seed_image(image_id: int) -> SeedImage:
    digest = hashlib.blake2b(image_id.to_bytes(8, "big"), digest_size=48).digest()
    guid = str(UUID(bytes=digest[:16], version=4))
    author = None
    if _unit(digest, 16) >= ANONYMOUS_SHARE:
        author = author_name(_rank(_AUTHOR_CDF, _unit(digest, 20)))
    private = author is not None and _unit(digest, 24) < PRIVATE_SHARE
    tag_count = digest[28] % 4
    tags: list[str] = []
    for slot in range(tag_count):
        tag = tag_name(_rank(_TAG_CDF, _unit(digest, 32 + 4 * slot)))
        if tag not in tags:
            tags.append(tag)
    subject = SUBJECTS[digest[29] % len(SUBJECTS)]
    style = STYLES[digest[30] % len(STYLES)]
    prompt = f"{subject} {style}, variation {image_id}, codename {codename(image_id)}"
    return SeedImage(
        id=image_id,
        guid=guid,
        prompt=prompt,
        author=author,
        private=private,
        tags=tuple(tags),
        created_at=BASE_TIME + timedelta(seconds=image_id * SECONDS_APART),
    )


def seed_images(first: int, last: int) -> list[SeedImage]:
    """Images ``first`` to ``last``, both included."""
    return [seed_image(image_id) for image_id in range(first, last + 1)]
