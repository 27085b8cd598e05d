"""Bearer tokens as PixyProxy accepts them (HS256, ``aud`` pixyproxy), for tests, the bench
and the soak test."""

from __future__ import annotations

import time
from typing import Any

from jose import jwt

SECRET = "test-secret-" + "s" * 36  # what the servers the tests start sign with by default


def token(
    subject: str, secret: str = SECRET, *, ttl_s: int = 600, algorithm: str = "HS256", **claims: Any
) -> str:
    now = int(time.time())
    payload = {"sub": subject, "aud": "pixyproxy", "iat": now, "exp": now + ttl_s, **claims}
    return str(jwt.encode(payload, secret, algorithm=algorithm))


def bearer(subject: str, secret: str = SECRET, **options: Any) -> dict[str, str]:
    """The ``Authorization`` header of a token for ``subject``."""
    return {"Authorization": f"Bearer {token(subject, secret, **options)}"}
