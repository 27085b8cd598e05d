"""What a token may carry (web/claims.py): correctly signed tokens whose claims python-jose
would misread are 401 ``invalid_token``, decided before any database or key fetch; every
subject that is accepted comes back exactly as ``author``, on both backends."""

from __future__ import annotations

import concurrent.futures
import json
import math
import select
import socket
from collections.abc import Callable

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jose import jws

from pixyproxy.core.errors import InvalidToken
from pixyproxy.core.settings import load_settings
from pixyproxy.web.auth import TokenVerifier
from pixyproxy.web.claims import MAX_NUMERIC_DATE, MAX_SUBJECT_CHARS, read_token, subject_problem
from tests.support.ports import free_port
from tests.support.servers import ServeApi
from tests.support.tokens import (
    SECRET,
    assert_invalid_token,
    authorization,
    claims,
    hs256,
    hs256_raw,
    with_claim,
)

HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")
DEEP = "[" * 2000 + "]" * 2000  # deeper than Python's JSON parser can recurse
ALICE = '"sub":"alice","aud":"pixyproxy","exp":99999999999'

# name -> a correctly signed token that must be refused
ODD_TOKENS: dict[str, Callable[[], str]] = {
    **{
        f"{claim} {text[:24]}": (lambda c=claim, t=text: with_claim(c, t))
        for claim, texts in {
            "exp": [
                '"99999999999"', '"soon"', "1e400", "-1e400", "NaN", "Infinity", "-Infinity",
                "true", "false", "null", "1" + "0" * 30, "9" * 5000, "[99999999999]",
                '{"at":99999999999}', "-1", str(MAX_NUMERIC_DATE + 1),
            ],
            "nbf": ["true", '"0"', "1e400", "NaN", "[0]", "-5"],
            "iat": ["1e400", "Infinity", '"now"', "false", '{"t":1}', "1" + "0" * 40],
            "sub": [
                '""', r'"\u0000"', r'"a\u0000b"', r'"\ud800"', r'"a\udfffb"', r'"\u202eevil"',
                r'"ali\u200bce"', r'"\ufeffalice"', r'"line\u2028break"', r'"tab\there"',
                r'"new\nline"', r'"\u007f"', r'"\u0085"', r'"\ufffe"', r'"\ufdd0"',
                json.dumps("a" * (MAX_SUBJECT_CHARS + 1)), "42", "null", '["alice"]',
                '{"id":"alice"}', "true",
            ],
            "aud": ["42", '{"aud":"pixyproxy"}', '["pixyproxy",1]', "null", "true"],
            "iss": ["42", '["https://login.example.com"]', "null"],
            "jti": ["42", "{}"],
            "x": [DEEP, "NaN"],
        }.items()
        for text in texts
    },
    "sub twice": lambda: hs256_raw('{"sub":"bob",' + ALICE + "}"),
    "exp twice": lambda: hs256_raw('{"exp":1,' + ALICE + "}"),
    "payload array": lambda: hs256_raw("[" + json.dumps(claims()) + "]"),
    "payload string": lambda: hs256_raw('"alice"'),
    "payload not UTF-8": lambda: hs256_raw(b'{"sub":"\xff",' + ALICE[12:].encode() + b"}"),
    "payload with BOM": lambda: hs256_raw(b"\xef\xbb\xbf{" + ALICE.encode() + b"}"),
    "header crit": lambda: hs256_raw("{" + ALICE + "}", '{"alg":"HS256","crit":["exp"]}'),
    "header alg twice": lambda: hs256_raw("{" + ALICE + "}", '{"alg":"none","alg":"HS256"}'),
    "header deep": lambda: hs256_raw("{" + ALICE + "}", '{"alg":"HS256","x":' + DEEP + "}"),
    "header NaN": lambda: hs256_raw("{" + ALICE + "}", '{"alg":"HS256","x":NaN}'),
    "header alg not a string": lambda: hs256_raw("{" + ALICE + "}", '{"alg":["HS256"]}'),
    "padded segment": lambda: hs256(claims()).replace(".", "=.", 1),
}  # fmt: skip


@pytest.fixture
def offline_api(serve_api: ServeApi) -> httpx.Client:
    """The app with its database unreachable: what it decides from the token alone is
    decided before any database call, or it would answer 503."""
    return serve_api(
        jwt_secret=SECRET,
        database_url=f"mysql://root@127.0.0.1:{free_port()}/nowhere",
        db_auto_migrate=False,
    )


def test_a_good_token_reaches_the_database(offline_api: httpx.Client) -> None:
    response = offline_api.get("/image", headers=authorization(hs256(claims())))
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"


@pytest.mark.parametrize("name", sorted(ODD_TOKENS))
def test_odd_tokens_are_401_before_the_database(offline_api: httpx.Client, name: str) -> None:
    headers = authorization(ODD_TOKENS[name]())
    assert_invalid_token(offline_api.get("/image", headers=headers))
    assert_invalid_token(offline_api.post("/image", json={"prompt": "x"}, headers=headers))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": 99_999_999_999.5, "iat": 1.5},
        {"nbf": 0, "iat": 0},
        {"aud": ["someone", "pixyproxy"]},
        {"sub": "Zoë 山田 🦊 <o'neil> & co"},
        {"sub": " spaced  out "},
        {"sub": "x" * MAX_SUBJECT_CHARS},
        {"jti": "id-1", "iss": "anyone"},
    ],
)
def test_unusual_but_valid_claims_are_accepted(
    serve_api: ServeApi, overrides: dict[str, object]
) -> None:
    api = serve_api(jwt_secret=SECRET)
    assert api.get("/image", headers=authorization(hs256(claims(**overrides)))).status_code == 200


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=4,
)


@given(name=st.sampled_from(["exp", "nbf", "iat"]), value=JSON_VALUES)
def test_a_time_claim_is_accepted_only_as_a_number_of_seconds(name: str, value: object) -> None:
    token = with_claim(name, json.dumps(value))
    is_date = (
        type(value) in (int, float)
        and math.isfinite(value)  # type: ignore[arg-type]
        and 0 <= value <= MAX_NUMERIC_DATE  # type: ignore[operator]
    )
    if is_date:
        assert read_token(token)[1][name] == value
    else:
        with pytest.raises(InvalidToken):
            read_token(token)


@given(
    before=st.text(max_size=8),
    hidden=st.characters(categories=HIDDEN),
    after=st.text(max_size=8),
)
def test_a_subject_with_a_hidden_character_is_refused(before: str, hidden: str, after: str) -> None:
    verifier = TokenVerifier(load_settings(secrets_dirs=(), jwt_secret=SECRET))
    with pytest.raises(InvalidToken):
        anyio.run(verifier.verify, hs256(claims(sub=before + hidden + after)))


SUBJECTS = st.text(
    st.characters(exclude_categories=HIDDEN), min_size=1, max_size=MAX_SUBJECT_CHARS
).filter(lambda subject: subject_problem(subject) is None)  # noncharacters are rare


@pytest.fixture
def subject_api(serve_api: ServeApi, database_url: str) -> httpx.Client:
    """One server per backend for all the examples hypothesis tries."""
    return serve_api(jwt_secret=SECRET, database_url=database_url)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subject=SUBJECTS)
def test_accepted_subjects_round_trip_as_author(subject_api: httpx.Client, subject: str) -> None:
    """Through JSON, the database (MySQL utf8mb4 or SQLite) and back, exactly."""
    headers = authorization(hs256(claims(sub=subject)))
    created = subject_api.post("/image", json={"prompt": "a fox"}, headers=headers)
    assert created.status_code == 200, created.text
    guid = created.json()["guid"]
    assert created.json()["author"] == subject
    assert subject_api.get(f"/image/{guid}", headers=headers).json()["author"] == subject
    listed = subject_api.get("/image", params={"author": subject}, headers=headers)
    assert guid in [image["guid"] for image in listed.json()], listed.text


def _rs256(payload: str, key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return str(jws.sign(payload.encode(), pem.decode(), headers={"kid": "k1"}, algorithm="RS256"))


def test_odd_tokens_fetch_no_key(serve_api: ServeApi) -> None:
    """With a JWKS URL, a token's claims are checked before its key is looked up: an odd
    token never makes the service open a connection to the key server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with socket.create_server(("127.0.0.1", 0)) as jwks:
        url = f"http://127.0.0.1:{jwks.getsockname()[1]}/jwks.json"
        api = serve_api(jwt_algorithms=["RS256"], jwt_jwks_url=url)
        for claim, text in (("exp", "1e400"), ("sub", r'"\u0000"'), ("aud", "42")):
            rest = {k: v for k, v in claims().items() if k != claim}
            payload = json.dumps(rest)[:-1] + f', "{claim}": {text}}}'
            assert_invalid_token(api.get("/image", headers=authorization(_rs256(payload, key))))
        assert select.select([jwks], [], [], 0.5)[0] == [], "an odd token fetched the JWKS"
        # The control: a well-formed token does look its key up.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            good = pool.submit(
                api.get, "/image", headers=authorization(_rs256(json.dumps(claims()), key))
            )
            assert select.select([jwks], [], [], 20)[0] == [jwks]
            jwks.accept()[0].close()  # no keys here: the token is refused
            assert_invalid_token(good.result(timeout=30))
