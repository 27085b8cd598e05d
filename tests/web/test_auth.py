"""Bearer JWTs over real HTTP: every bad token is a 401 (never a 500, never anonymous)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import ServeApi, serve_in_thread
from tests.support.tokens import claims

SECRET = "s3cret-" + "x" * 40
ISSUER = "https://login.example.com"


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return str(jwt.encode(payload, secret, algorithm="HS256", headers=headers or None))


def unsigned(payload: dict[str, Any], alg: str) -> str:
    return f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}))}.{b64(json.dumps(payload))}."


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "invalid_token"


@pytest.fixture
def hs_api(serve_api: ServeApi) -> httpx.Client:
    return serve_api(jwt_secret=SECRET, jwt_issuer=ISSUER)


def with_iss(**overrides: Any) -> dict[str, Any]:
    return claims(iss=ISSUER, **overrides)


def test_valid_token_is_accepted_and_becomes_the_author(hs_api: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {hs(with_iss())}"}
    created = hs_api.post("/image", json={"prompt": "mine"}, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["author"] == "alice"
    scheme_case = hs_api.get("/image", headers={"Authorization": f"bearer {hs(with_iss())}"})
    assert scheme_case.status_code == 200


def test_anonymous_post_needs_a_token(hs_api: httpx.Client) -> None:
    response = hs_api.post("/image", json={"prompt": "x"})
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert response.headers["www-authenticate"].startswith("Bearer")


BAD_HS_TOKENS: dict[str, Callable[[], str]] = {
    "alg none": lambda: unsigned(with_iss(), "none"),
    "alg None": lambda: unsigned(with_iss(), "None"),
    "alg NONE": lambda: unsigned(with_iss(), "NONE"),
    "alg none with signature": lambda: unsigned(with_iss(), "none") + "c2ln",
    "expired": lambda: hs(with_iss(exp=int(time.time()) - 3600)),
    "nbf in the future": lambda: hs(with_iss(nbf=int(time.time()) + 3600)),
    "missing exp": lambda: hs(with_iss(exp=None)),
    "wrong aud": lambda: hs(with_iss(aud="someone-else")),
    "missing aud": lambda: hs(with_iss(aud=None)),
    "aud list without us": lambda: hs(with_iss(aud=["a", "b"])),
    "wrong iss": lambda: hs(claims(iss="https://evil.example.com")),
    "iss prefix of ours": lambda: hs(claims(iss=ISSUER[:-4])),
    "iss extends ours": lambda: hs(claims(iss=ISSUER + ".evil")),
    "missing iss": lambda: hs(claims()),
    "missing sub": lambda: hs(with_iss(sub=None)),
    "non-string sub": lambda: hs(with_iss(sub=42)),
    "empty sub": lambda: hs(with_iss(sub="")),
    "wrong secret": lambda: hs(with_iss(), secret="another-secret-" + "y" * 40),
    "tampered payload": lambda: _tamper(hs(with_iss())),
    "truncated signature": lambda: hs(with_iss())[:-6],
    "two segments": lambda: ".".join(hs(with_iss()).split(".")[:2]),
    "four segments": lambda: hs(with_iss()) + ".AAAA",
    "bad base64": lambda: "!!!." + hs(with_iss()).split(".", 1)[1],
    "non-JSON header": lambda: b64("not json") + "." + hs(with_iss()).split(".", 1)[1],
    "JWE compact": lambda: ".".join(
        b64(p) for p in ('{"alg":"dir","enc":"A256GCM"}', "", "iv", "ct", "tag")
    ),
    "HS512 not configured": lambda: str(jwt.encode(with_iss(), SECRET, algorithm="HS512")),
    "garbage": lambda: "garbage",
}


def _tamper(token: str) -> str:
    header, _payload, signature = token.split(".")
    return f"{header}.{b64(json.dumps(with_iss(sub='mallory')))}.{signature}"


@pytest.mark.parametrize("name", sorted(BAD_HS_TOKENS))
def test_bad_token_is_401_on_a_public_route(hs_api: httpx.Client, name: str) -> None:
    token = BAD_HS_TOKENS[name]()
    assert_invalid_token(hs_api.get("/image", headers={"Authorization": f"Bearer {token}"}))
    assert_invalid_token(
        hs_api.post("/image", json={"prompt": "x"}, headers={"Authorization": f"Bearer {token}"})
    )
    assert hs_api.get("/image").json() == []


@pytest.mark.parametrize(
    "header", ["Bearer", "Basic YWxpY2U6cHc=", "Token abc", "Bearer a b", "bearer"]
)
def test_malformed_authorization_header_is_401(hs_api: httpx.Client, header: str) -> None:
    assert_invalid_token(hs_api.get("/image", headers={"Authorization": header}))


def test_huge_token_is_refused_without_a_5xx(hs_api: httpx.Client) -> None:
    token = hs(with_iss(pad="x" * 64 * 1024))
    response = hs_api.get("/image", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 401, 431)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_private(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def pem_public(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_rs256_public_key_accepts_its_tokens_and_refuses_key_confusion(
    serve_api: ServeApi,
) -> None:
    key = rsa_key()
    api = serve_api(jwt_algorithms=["RS256"], jwt_public_key=pem_public(key))
    good = jwt.encode(claims(), pem_private(key), algorithm="RS256")
    assert api.get("/image", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # HS256 signed with the public key as the secret: the classic confusion attack.
    confused = _hs256_raw(claims(), pem_public(key).encode())
    assert_invalid_token(api.get("/image", headers={"Authorization": f"Bearer {confused}"}))
    other = jwt.encode(claims(), pem_private(rsa_key()), algorithm="RS256")
    assert_invalid_token(api.get("/image", headers={"Authorization": f"Bearer {other}"}))


def test_es256_public_key(serve_api: ServeApi) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    api = serve_api(jwt_algorithms=["ES256"], jwt_public_key=pem_public(key))
    good = jwt.encode(claims(), pem_private(key), algorithm="ES256")
    assert api.get("/image", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    confused = _hs256_raw(claims(), pem_public(key).encode())
    assert_invalid_token(api.get("/image", headers={"Authorization": f"Bearer {confused}"}))


def _hs256_raw(payload: dict[str, Any], secret: bytes) -> str:
    """HS256 by hand: python-jose itself refuses PEM keys as HMAC secrets."""
    import hashlib
    import hmac

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(json.dumps(payload))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class KeyServer:
    """A JWKS (and a trap for jku/x5u) on loopback that counts its requests."""

    def __init__(self, keys: dict[str, rsa.RSAPrivateKey]) -> None:
        self.keys = keys
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        async def serve(request: Request) -> JSONResponse:
            with self._lock:
                self.hits[request.url.path] = self.hits.get(request.url.path, 0) + 1
            jwks = [
                {**jwk.construct(pem_public(key), "RS256").to_dict(), "kid": kid, "use": "sig"}
                for kid, key in self.keys.items()
            ]
            return JSONResponse({"keys": jwks})

        return Starlette(routes=[Route("/{path:path}", serve)])


@pytest.fixture
def jwks() -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer({"k1": rsa_key()})
    with serve_in_thread(server.app()) as url:  # type: ignore[arg-type]
        yield server, url


def test_jwks_keys_are_matched_by_kid_and_unknown_kids_refetch_at_most_once(
    serve_api: ServeApi, jwks: tuple[KeyServer, str]
) -> None:
    server, url = jwks
    api = serve_api(
        jwt_algorithms=["RS256"], jwt_jwks_url=f"{url}/jwks.json", jwt_jwks_refresh_s=3600
    )
    signer = pem_private(server.keys["k1"])
    good = jwt.encode(claims(), signer, algorithm="RS256", headers={"kid": "k1"})
    for _ in range(3):
        assert api.get("/image", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    assert server.hits["/jwks.json"] == 1
    for i in range(30):
        flood = jwt.encode(claims(), signer, algorithm="RS256", headers={"kid": f"unknown-{i}"})
        assert_invalid_token(api.get("/image", headers={"Authorization": f"Bearer {flood}"}))
    assert server.hits["/jwks.json"] <= 2  # the first fetch, then at most one refetch


def test_jku_and_x5u_headers_are_never_followed(
    serve_api: ServeApi, jwks: tuple[KeyServer, str]
) -> None:
    server, url = jwks
    api = serve_api(jwt_algorithms=["RS256"], jwt_public_key=pem_public(server.keys["k1"]))
    attacker = rsa_key()
    for header in ({"jku": f"{url}/attacker-jwks"}, {"x5u": f"{url}/attacker-cert"}):
        forged = jwt.encode(claims(), pem_private(attacker), algorithm="RS256", headers=header)
        assert_invalid_token(api.get("/image", headers={"Authorization": f"Bearer {forged}"}))
    assert server.hits == {}


def test_production_refuses_to_start_without_a_key(make_settings: Callable[..., Any]) -> None:
    from pixyproxy.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="PIXY_JWT_SECRET"):
        make_settings(env="production")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_algorithms": ["none"]}, "none"),
        ({"jwt_algorithms": ["HS256", "RS256"], "jwt_public_key": "k"}, "mixed"),
        ({"jwt_algorithms": ["RS256"], "jwt_secret": SECRET}, "not a secret"),
        ({"jwt_secret": "short"}, "at least"),
        ({"jwt_leeway_s": 120}, "PIXY_JWT_LEEWAY_S"),
    ],
)
def test_incoherent_jwt_settings_are_refused(
    make_settings: Callable[..., Any], overrides: dict[str, Any], message: str
) -> None:
    from pixyproxy.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        make_settings(**overrides)
