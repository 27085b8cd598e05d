"""Configuration: environment variables prefixed ``PIXY_`` and files in a secrets directory.

Built once per app (``load_settings``), never at import time, so tests can build many apps
with different settings in one process.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from pixyproxy.core.errors import ConfigurationError

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})

MIN_SECRET_CHARS = 32
MIB = 1024 * 1024

# One path segment or more, each ending in a slash: never "/" itself (every path would be
# internal), never "." or ".." (nginx would resolve them).
_OFFLOAD_PREFIX = re.compile(r"/(?:(?!\.\.?/)[A-Za-z0-9._~-]+/)+")

# Kubernetes mounts Secrets as one file per key; these are read when they exist.
DEFAULT_SECRETS_DIRS = ("/run/secrets", "/run/secrets/pixyproxy")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PIXY_",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    env: Literal["dev", "production"] = "dev"

    # Data
    database_url: SecretStr = SecretStr("sqlite:///./var/pixyproxy.db")
    # Kept apart from the URL so Kubernetes can inject it from a Secret; wins over the URL's.
    database_password: SecretStr | None = None
    db_auto_migrate: bool = True  # the chart runs `pixyproxy db init` instead
    db_pool_size: int = Field(default=16, ge=1, le=512)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=120)
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    db_read_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    db_write_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # Where images are kept: files under PIXY_STORAGE_DIR, or objects in an S3-compatible
    # bucket (data/s3store.py; credentials from the standard AWS chain, not from here).
    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    storage_dir: Path = Path("./var/images")
    s3_bucket: str | None = None
    s3_prefix: str = "images/"
    s3_endpoint_url: str | None = None  # unset: AWS S3 itself
    s3_region: str | None = None  # unset: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1
    # stream: the API sends the bytes; redirect: 307 to a presigned GET URL, valid this long
    # (private images' URLs for less: a URL handed out cannot be taken back).
    s3_content: Literal["stream", "redirect"] = "stream"
    s3_presign_ttl_s: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    s3_private_presign_ttl_s: int = Field(default=60, ge=1, le=7 * 24 * 3600)
    # Each call to the store: connecting, then the whole request (a body being streamed to a
    # client: each read), retried at most this often; bounded by s3_operation_bound_s.
    s3_connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    s3_request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    s3_max_retries: int = Field(default=2, ge=0, le=10)
    # The memory per worker for public images (details and their JSON) and for anonymous
    # list pages, each bounded in bytes whatever callers ask for (0 turns a cache off); and
    # how long at most a page is kept.
    detail_cache_bytes: int = Field(default=32 * MIB, ge=0, le=64 * 1024 * MIB)
    list_cache_bytes: int = Field(default=8 * MIB, ge=0, le=64 * 1024 * MIB)
    list_cache_ttl_s: float = Field(default=5.0, gt=0, le=3600)
    # How often each worker reads the change log (service/coherence.py): another worker's
    # or replica's change stops being served within twice this (1 s with the default).
    change_poll_s: float = Field(default=0.5, ge=0.05, le=30)
    # Where the workers of one server keep their Prometheus values (an emptyDir in
    # Kubernetes); unset: `pixyproxy serve` makes a private one. prometheus_client's own
    # name for it, PROMETHEUS_MULTIPROC_DIR, is read too.
    metrics_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("PIXY_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR")
    )
    max_image_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # Thumbnails made at once per process: each holds an original's decoded pixels.
    thumbnail_concurrency: int = Field(default=2, ge=1, le=64)
    # "x-accel": content and thumbnails are sent by the nginx in front (X-Accel-Redirect to
    # an internal location under the prefix that serves storage_dir); web/content.py.
    content_offload: Literal["", "x-accel"] = ""
    content_offload_prefix: str = "/_protected/"

    # Image generation
    image_provider: Literal["auto", "openai", "placeholder"] = "auto"
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "PIXY_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "PIXY_OPENAI_BASE_URL")
    )
    openai_model: str = Field(default="gpt-image-1", min_length=1)
    openai_timeout_s: float = Field(default=120.0, gt=0, le=900)
    openai_max_retries: int = Field(default=1, ge=0, le=1)
    anonymous_generation: bool = False
    generation_limit: int = Field(default=0, ge=0)  # per caller and window; 0 turns it off
    generation_window_s: int = Field(default=3600, ge=1)
    max_in_flight_generations: int = Field(default=64, ge=1, le=10_000)  # per process

    # Auth (bearer JWTs)
    jwt_secret: SecretStr | None = None
    jwt_public_key: SecretStr | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: list[str] = ["HS256"]
    jwt_audience: str = "pixyproxy"
    jwt_issuer: str | None = None
    jwt_leeway_s: int = Field(default=30, ge=0, le=60)
    jwt_jwks_refresh_s: int = Field(default=60, ge=1)
    # Admins, who may edit and delete any image: tokens whose claim jwt_admin_claim (a
    # name, or a dotted path into nested objects: realm_access.roles) is jwt_admin_role or
    # a list holding it. Off unless both are set.
    jwt_admin_claim: str | None = Field(default=None, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    jwt_admin_role: str | None = Field(default=None, min_length=1)

    # Serving
    workers: int = Field(default=2, ge=1, le=64)
    threads: int = Field(default=40, ge=1, le=1024)
    forwarded_allow_ips: str = "127.0.0.1"
    graceful_timeout_s: int = Field(default=150, ge=1, le=3600)
    # Absolute deadlines for receiving a request's head and then its body (serving/protocol.py).
    request_head_timeout_s: float = Field(default=10.0, gt=0, le=600)
    request_body_timeout_s: float = Field(default=60.0, gt=0, le=3600)

    # Logs
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator(
        "database_password",
        "openai_api_key",
        "openai_base_url",
        "jwt_secret",
        "jwt_public_key",
        "jwt_jwks_url",
        "jwt_issuer",
        "jwt_admin_claim",
        "jwt_admin_role",
        "metrics_dir",
        "s3_bucket",
        "s3_endpoint_url",
        "s3_region",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (``FOO=``) means unset, never an empty secret."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("content_offload_prefix")
    @classmethod
    def _offload_prefix_is_a_path(cls, value: str) -> str:
        if not _OFFLOAD_PREFIX.fullmatch(value):
            raise ValueError(
                "must start and end with '/' and name a location, such as /_protected/"
                " (letters, digits, '.', '_', '~', '-' between the slashes)"
            )
        return value

    @model_validator(mode="after")
    def _provider_has_key(self) -> Settings:
        if self.image_provider == "openai" and self.openai_api_key is None:
            raise ValueError("PIXY_IMAGE_PROVIDER=openai needs OPENAI_API_KEY")
        return self

    @model_validator(mode="after")
    def _s3_is_complete(self) -> Settings:
        if self.storage_backend == "s3" and self.s3_bucket is None:
            raise ValueError("PIXY_STORAGE_BACKEND=s3 needs PIXY_S3_BUCKET")
        if self.s3_prefix.startswith("/") or (self.s3_prefix and not self.s3_prefix.endswith("/")):
            raise ValueError("PIXY_S3_PREFIX: a key prefix like images/ (no leading /, ends in /)")
        if self.storage_backend == "s3" and self.content_offload:
            raise ValueError(
                "PIXY_CONTENT_OFFLOAD: nginx sends files of the image volume, and"
                " PIXY_STORAGE_BACKEND=s3 has none; with S3, PIXY_S3_CONTENT=redirect is the"
                " offload"
            )
        return self

    @model_validator(mode="after")
    def _jwt_is_coherent(self) -> Settings:
        algorithms = self.jwt_algorithms
        if not algorithms or any(alg.lower() == "none" for alg in algorithms):
            raise ValueError("PIXY_JWT_ALGORITHMS: list signing algorithms; 'none' is refused")
        unknown = set(algorithms) - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
        if unknown:
            raise ValueError(f"PIXY_JWT_ALGORITHMS: unsupported {sorted(unknown)}")
        symmetric = set(algorithms) <= HMAC_ALGORITHMS
        if not symmetric and set(algorithms) & HMAC_ALGORITHMS:
            raise ValueError("PIXY_JWT_ALGORITHMS: HS* and RS*/ES* algorithms cannot be mixed")
        if symmetric and (self.jwt_public_key or self.jwt_jwks_url):
            raise ValueError(
                "PIXY_JWT_ALGORITHMS: HS* algorithms verify with PIXY_JWT_SECRET only; "
                "set RS256/ES256 to use PIXY_JWT_PUBLIC_KEY or PIXY_JWT_JWKS_URL"
            )
        if not symmetric and self.jwt_secret:
            raise ValueError(
                "PIXY_JWT_SECRET: RS*/ES* algorithms verify with PIXY_JWT_PUBLIC_KEY or "
                "PIXY_JWT_JWKS_URL, not a secret"
            )
        if self.jwt_secret and len(self.jwt_secret.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"PIXY_JWT_SECRET: use at least {MIN_SECRET_CHARS} random characters")
        if (self.jwt_admin_claim is None) != (self.jwt_admin_role is None):
            raise ValueError(
                "PIXY_JWT_ADMIN_CLAIM and PIXY_JWT_ADMIN_ROLE: set both to name admins, or neither"
            )
        if self.jwt_public_key and self.jwt_jwks_url:
            raise ValueError("PIXY_JWT_PUBLIC_KEY and PIXY_JWT_JWKS_URL: set only one")
        if self.is_production and not self.has_jwt_key:
            raise ValueError(
                "PIXY_ENV=production needs a token key: set PIXY_JWT_SECRET, "
                "PIXY_JWT_PUBLIC_KEY or PIXY_JWT_JWKS_URL"
            )
        return self

    @property
    def has_jwt_key(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key or self.jwt_jwks_url)

    @property
    def use_openai(self) -> bool:
        if self.image_provider == "auto":
            return self.openai_api_key is not None
        return self.image_provider == "openai"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def s3_operation_bound_s(self) -> float:
        """The longest one call to the S3 store takes before it fails: attempts (each within
        ``s3_request_timeout_s``, its connection included) are made until that long has
        passed since the first, and the backoff before one is at most a second."""
        return 2 * self.s3_request_timeout_s + 1.0


def load_settings(secrets_dirs: tuple[str, ...] | None = None, **overrides: Any) -> Settings:
    """Read the settings, turning any validation error into one line that names the variable."""
    dirs = DEFAULT_SECRETS_DIRS if secrets_dirs is None else secrets_dirs
    existing = [d for d in dirs if os.path.isdir(d)]
    try:
        return Settings(_secrets_dir=existing or None, **overrides)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        name = _variable_name(field)
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return "invalid configuration: " + "; ".join(problems)


def _variable_name(field: str) -> str:
    if not field:
        return ""
    if field in ("openai_api_key", "openai_base_url"):
        return field.upper()
    return "PIXY_" + field.upper()
