"""Start-up configuration and the per-app mutable state (kept on ``app.state``)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

from openai_mock.behaviors import BEHAVIORS, MAX_DELAY_S, MAX_SIZE_MB
from openai_mock.png import PngCache

DEFAULT_HANG_S = 3600.0
DEFAULT_OVERSIZED_MB = 50.0


def check_behavior(name: str) -> str:
    """Return the normalised behaviour name, or raise ``ValueError`` naming the valid ones."""
    normalised = name.strip().lower()
    if normalised not in BEHAVIORS:
        raise ValueError(f"unknown mock behavior {name!r}; expected one of: {', '.join(BEHAVIORS)}")
    return normalised


def check_delay(value: float, what: str = "delay_s") -> float:
    """Return ``value`` if it is a usable delay in seconds, else raise ``ValueError``."""
    if isinstance(value, bool) or not math.isfinite(value) or value < 0 or value > MAX_DELAY_S:
        raise ValueError(f"{what} must be a number of seconds between 0 and {MAX_DELAY_S:g}")
    return float(value)


@dataclass(frozen=True)
class MockConfig:
    """What the mock does when a request does not say otherwise.

    ``behavior`` and ``delay_s`` are the start-up defaults (``--behavior``/``--delay``);
    ``hang_s`` is how long ``hang`` waits before answering; ``oversized_mb`` is the decoded
    payload size of ``oversized`` when the request does not set ``X-Mock-Size-MB``.
    """

    behavior: str = "ok"
    delay_s: float = 0.0
    hang_s: float = DEFAULT_HANG_S
    oversized_mb: float = DEFAULT_OVERSIZED_MB

    def __post_init__(self) -> None:
        object.__setattr__(self, "behavior", check_behavior(self.behavior))
        object.__setattr__(self, "delay_s", check_delay(self.delay_s))
        object.__setattr__(self, "hang_s", check_delay(self.hang_s, "hang_s"))
        if not math.isfinite(self.oversized_mb) or not 0 < self.oversized_mb <= MAX_SIZE_MB:
            raise ValueError(f"oversized_mb must be above 0 and at most {MAX_SIZE_MB:g}")

    def with_runtime(self, behavior: str | None, delay_s: float | None) -> MockConfig:
        return replace(
            self,
            behavior=self.behavior if behavior is None else behavior,
            delay_s=self.delay_s if delay_s is None else delay_s,
        )


@dataclass
class MockState:
    """Everything that changes while the app runs; one per app, reached via ``app.state``."""

    startup: MockConfig
    current: MockConfig
    generations: int = 0
    by_behavior: Counter[str] = field(default_factory=Counter)
    images: PngCache = field(default_factory=PngCache)

    @classmethod
    def from_config(cls, config: MockConfig) -> MockState:
        return cls(startup=config, current=config)

    def reset(self) -> None:
        self.current = self.startup
        self.generations = 0
        self.by_behavior.clear()

    def stats(self) -> dict[str, object]:
        return {"generations": self.generations, "by_behavior": dict(self.by_behavior)}
