"""Bearer JWTs, validated with python-jose.

The accepted algorithms come from settings only, never from the token; HMAC and public-key
algorithms are never mixed (settings refuse it), so a token signed with a public key used as
an HMAC secret cannot pass. ``exp``, ``sub`` and ``aud`` are required, ``iss`` when one is
configured. An admin (who may edit and delete any image) is named by a claim the settings
choose (``PIXY_JWT_ADMIN_CLAIM``, ``PIXY_JWT_ADMIN_ROLE``), off unless set. Header fields
that point elsewhere (``jku``, ``x5u``) are never followed: keys come from the configured
secret, PEM or JWKS URL alone. What a token may carry (claim types,
the subject) is checked first, in ``claims.py``, so a token python-jose would misread never
reaches it and no key is fetched for it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.request
from typing import Any

import anyio
from anyio import to_thread
from jose import jwt
from jose.exceptions import JOSEError
from pydantic import SecretStr

from pixyproxy.core.errors import ConfigurationError, InvalidToken
from pixyproxy.core.models import Caller
from pixyproxy.core.settings import Settings
from pixyproxy.web.claims import read_token, subject_problem

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8192
JWKS_TIMEOUT_S = 5.0
DEV_SUBJECT = "dev"


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._algorithms = list(settings.jwt_algorithms)
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_s
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        key = settings.jwt_public_key
        self._public_key = key.get_secret_value() if key else None
        self._jwks = JwksCache(settings.jwt_jwks_url, settings.jwt_jwks_refresh_s)
        admin_claim = settings.jwt_admin_claim
        self._admin_path = tuple(admin_claim.split(".")) if admin_claim else None
        self._admin_role = settings.jwt_admin_role

    async def verify(self, token: str) -> Caller:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken()
        header, claims = read_token(token)
        if header["alg"] not in self._algorithms:
            raise InvalidToken("The token's algorithm is not accepted.")
        key = await self._key_for(header)
        try:
            jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require_exp": True,
                    "require_sub": True,
                    "require_aud": True,
                    "require_iss": self._issuer is not None,
                    "leeway": self._leeway,
                },
            )
        except (JOSEError, ValueError, TypeError):
            raise InvalidToken() from None
        return Caller(subject=claims["sub"], admin=self._is_admin(claims))

    def _is_admin(self, claims: dict[str, Any]) -> bool:
        """Whether the admin claim (``PIXY_JWT_ADMIN_CLAIM``, a dotted path into nested
        objects) is the admin role or a list holding it. A token without the claim is no
        admin's; one whose claim is neither a string nor a list of strings is refused, as
        any claim of the wrong type is (``claims.py``)."""
        if self._admin_path is None:
            return False
        value: Any = claims
        for name in self._admin_path:
            if not isinstance(value, dict) or name not in value:
                return False
            value = value[name]
        if isinstance(value, str):
            return value == self._admin_role
        if isinstance(value, list) and all(isinstance(role, str) for role in value):
            return self._admin_role in value
        raise InvalidToken(f"The token's {'.'.join(self._admin_path)} is not a list of strings.")

    async def _key_for(self, header: dict[str, Any]) -> str | dict[str, Any]:
        if self._secret is not None:
            return self._secret
        if self._public_key is not None:
            return self._public_key
        if self._jwks.url is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise InvalidToken("The token names no key (kid).")
            found = await self._jwks.key(kid)
            if found is None:
                raise InvalidToken("The token's key is not known.")
            return found
        raise InvalidToken("No token key is configured.")


class JwksCache:
    """Keys of a JWKS URL by ``kid``: fetched with a timeout, refetched at most once per
    ``refresh_s`` however many unknown kids arrive."""

    def __init__(self, url: str | None, refresh_s: float) -> None:
        self.url = url
        self._refresh_s = refresh_s
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._lock = anyio.Lock()

    async def key(self, kid: str) -> dict[str, Any] | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and self._may_fetch():
                await self._fetch()
        return self._keys.get(kid)

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._refresh_s

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            document = await to_thread.run_sync(_download_json, self.url)
            keys = {k["kid"]: k for k in document["keys"] if isinstance(k.get("kid"), str)}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("could not fetch the JWKS; keeping %d known keys", len(self._keys))
            return
        self._keys = keys


def _download_json(url: str | None) -> Any:
    if url is None or not url.startswith(("https://", "http://")):
        raise ValueError("PIXY_JWT_JWKS_URL must be an http(s) URL")
    with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_S) as response:  # noqa: S310
        return json.loads(response.read(1 << 20))


def parse_authorization(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None when there is no header.

    Any other scheme, or a Bearer header without a token, is an invalid token: a caller that
    tried to authenticate never silently becomes anonymous.
    """
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("Use 'Authorization: Bearer <token>'.")
    return token


def mint_token(settings: Settings, subject: str, ttl_s: int = 3600) -> str:
    """A token signed with the configured HMAC secret (``pixyproxy token``, dev mode)."""
    if settings.jwt_secret is None:
        raise ConfigurationError("PIXY_JWT_SECRET: minting tokens needs the HMAC secret")
    problem = subject_problem(subject)
    if problem is not None:
        raise ConfigurationError(f"cannot mint a token: {problem}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    algorithm = settings.jwt_algorithms[0]
    return str(jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=algorithm))


class DevTokens:
    """Tokens for the user ``dev``, for the gallery's sign-in button: dev mode with an HMAC
    secret only (``for_settings`` says whether there are any)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @classmethod
    def for_settings(cls, settings: Settings) -> DevTokens | None:
        if settings.is_production or settings.jwt_secret is None:
            return None
        return cls(settings)

    def mint(self, ttl_s: int) -> str:
        return mint_token(self._settings, DEV_SUBJECT, ttl_s=ttl_s)


def with_dev_secret(settings: Settings) -> Settings:
    """In dev mode without any key, a random secret for this run (tokens die with it)."""
    if settings.is_production or settings.has_jwt_key:
        return settings
    return settings.model_copy(update={"jwt_secret": SecretStr(secrets.token_urlsafe(48))})
