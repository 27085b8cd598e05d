"""The long-lived parts of one app, built in its lifespan and reached through dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from pixyproxy.core.settings import Settings
from pixyproxy.data.database import Database
from pixyproxy.service.images import ImageDeps
from pixyproxy.web.auth import TokenVerifier


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    images: ImageDeps
    tokens: TokenVerifier
