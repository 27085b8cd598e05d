"""Bearer tokens for tests, the bench and the soak test: tokens as PixyProxy accepts them
(HS256, ``aud`` pixyproxy) through python-jose, and odd ones signed by hand from the exact
JSON text given (python-jose would re-encode, or refuse, what they say)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
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
    return authorization(token(subject, secret, **options))


def authorization(token: str) -> dict[str, str]:
    """The ``Authorization`` header carrying ``token`` as it is."""
    return {"Authorization": f"Bearer {token}"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for subject ``alice``; an override of None drops that claim."""
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "aud": "pixyproxy", "exp": now + 300, "iat": now}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return str(jwt.encode(payload, secret, algorithm="HS256"))


def hs256_raw(payload: str | bytes, header: str = '{"alg":"HS256","typ":"JWT"}') -> str:
    """A token whose segments are exactly these JSON texts, correctly signed with SECRET."""
    raw = payload.encode() if isinstance(payload, str) else payload
    signing_input = f"{b64url(header.encode())}.{b64url(raw)}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_claim(name: str, json_text: str) -> str:
    """Valid claims for alice with one claim replaced by raw JSON text, signed."""
    rest = {k: v for k, v in claims().items() if k != name}
    members = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in rest.items()]
    return hs256_raw("{" + ",".join([*members, f'"{name}":{json_text}']) + "}")


def assert_invalid_token(response: httpx.Response) -> None:
    """A 401 ``invalid_token`` problem with its Bearer challenge."""
    assert response.status_code == 401, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    body = response.json()
    assert body["code"] == "invalid_token" and body["request_id"], body
