"""PATCH and DELETE /image/{guid} over real HTTP: the merge patch's media types and rules,
who may (401 with its challenge, 403, 404; admins by their token's claim), ETag and
If-Match (412), the files after the row, and a replay of a deleted image (410)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.problems import assert_problem
from tests.support.servers import ServeApi
from tests.support.tokens import SECRET, bearer

ALICE, BOB = bearer("alice", ttl_s=86400), bearer("bob", ttl_s=86400)
ADMIN = bearer("mod", ttl_s=86400, roles=["viewer", "pixyproxy-admin"])
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def api(serve_api: ServeApi, database_url: str, tmp_path: Path) -> httpx.Client:
    return serve_api(
        database_url=database_url,
        jwt_secret=SECRET,
        jwt_admin_claim="roles",
        jwt_admin_role="pixyproxy-admin",
        storage_dir=tmp_path / "images",
        detail_cache_bytes=1 << 20,
        list_cache_bytes=1 << 20,
    )


def make(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/image", json={"prompt": "a fox", "tags": ["a"], **body}, headers=ALICE)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def patch(
    api: httpx.Client, guid: str, body: object, headers: dict[str, str], **more: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("X", "/", json=body).content
    return api.patch(f"/image/{guid}", content=content, headers={**MERGE, **headers, **more})


def test_a_merge_patch_changes_tags_and_privacy_and_moves_updated_at(
    api: httpx.Client,
) -> None:
    made = make(api)
    read = api.get(f"/image/{made['guid']}")
    etag = read.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong
    changed = patch(api, made["guid"], {"tags": ["b", "C"], "private": True}, ALICE)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["tags"] == ["b", "c"] and body["private"] is True
    assert body["updated_at"] > made["updated_at"] and body["created_at"] == made["created_at"]
    assert changed.headers["etag"] != etag
    assert (
        api.get(f"/image/{made['guid']}", headers=ALICE).headers["etag"]
        == (changed.headers["etag"])
    )
    assert_problem(api.get(f"/image/{made['guid']}"), 404)  # private now: gone for others
    plain = api.patch(
        f"/image/{made['guid']}", json={"tags": None, "private": False}, headers=ALICE
    )
    assert plain.status_code == 200 and plain.json()["tags"] == [] and not plain.json()["private"]
    unchanged = patch(api, made["guid"], {}, ALICE)
    assert unchanged.json() == plain.json()  # {} changes nothing, updated_at included


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"prompt": "new"}, "prompt"),
        ({"private": None}, "private"),
        ({"private": "true"}, "private"),
        ({"tags": "a"}, "tags"),
        ({"tags": ["no spaces"]}, "tags"),
        ({"tags": [str(i) for i in range(17)]}, "tags"),
        ([{"op": "replace"}], "body"),
        (b'{"private": true, "private": false}', "body"),
        (b'{"private": NaN}', "body"),
        (b"not json", "body"),
    ],
)
def test_a_patch_that_is_not_a_valid_merge_patch_is_422_and_changes_nothing(
    api: httpx.Client, body: object, where: str
) -> None:
    made = make(api)
    problem = assert_problem(patch(api, made["guid"], body, ALICE), 422, "validation_failed")
    assert any(where in error["loc"] for error in problem["errors"]), problem  # type: ignore[attr-defined]
    assert api.get(f"/image/{made['guid']}").json() == made


@pytest.mark.parametrize("media", ["text/plain", "application/json-patch+json", None])
def test_other_media_types_are_415(api: httpx.Client, media: str | None) -> None:
    made = make(api)
    headers = {**ALICE, **({"Content-Type": media} if media else {})}
    response = api.patch(f"/image/{made['guid']}", content=b'{"tags": []}', headers=headers)
    assert_problem(response, 415, "unsupported_media_type")
    assert "application/merge-patch+json" in response.headers["accept-patch"]


def test_who_may_change_or_delete(api: httpx.Client) -> None:
    public, private = make(api), make(api, private=True)
    for guid in (public["guid"], private["guid"]):
        for response in (
            patch(api, guid, {"tags": []}, {}),
            api.delete(f"/image/{guid}"),
            patch(api, guid, b"garbage", {}, **{"Content-Type": "text/plain"}),  # 401 first
        ):
            assert_problem(response, 401, "authentication_required")
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(patch(api, public["guid"], {"tags": []}, BOB), 403, "not_the_author")
    assert_problem(api.delete(f"/image/{public['guid']}", headers=BOB), 403, "not_the_author")
    assert_problem(patch(api, private["guid"], {"tags": []}, BOB), 404, "image_not_found")
    assert_problem(api.delete(f"/image/{private['guid']}", headers=BOB), 404, "image_not_found")
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(api.delete(f"/image/{missing}", headers=ALICE), 404, "image_not_found")
    assert_problem(api.delete("/image/not-a-guid", headers=ALICE), 422)
    # The admin moderates any image by its guid, but reads like anyone else.
    moderated = patch(api, private["guid"], {"tags": ["flagged"]}, ADMIN)
    assert moderated.status_code == 200 and moderated.json()["author"] == "alice"
    assert_problem(api.get(f"/image/{private['guid']}", headers=ADMIN), 404)
    assert api.delete(f"/image/{private['guid']}", headers=ADMIN).status_code == 204
    assert api.delete(f"/image/{public['guid']}", headers=ALICE).status_code == 204


def test_if_match_with_a_stale_etag_is_412_on_patch_and_delete(api: httpx.Client) -> None:
    made = make(api)
    first = api.get(f"/image/{made['guid']}").headers["etag"]
    ok = patch(api, made["guid"], {"tags": ["x"]}, ALICE, **{"If-Match": first})
    assert ok.status_code == 200, ok.text
    stale = patch(api, made["guid"], {"tags": ["y"]}, ALICE, **{"If-Match": first})
    assert_problem(stale, 412, "precondition_failed")
    gone = api.delete(f"/image/{made['guid']}", headers={**ALICE, "If-Match": first})
    assert_problem(gone, 412, "precondition_failed")
    assert api.get(f"/image/{made['guid']}").json()["tags"] == ["x"]
    current = ok.headers["etag"]
    both = {**ALICE, "If-Match": f'"other", {current}'}
    assert api.delete(f"/image/{made['guid']}", headers=both).status_code == 204


def test_a_delete_removes_row_files_and_every_cached_view(
    api: httpx.Client, tmp_path: Path
) -> None:
    made = make(api)
    guid = made["guid"]
    for path in ("", "/content", "/thumbnail"):
        assert api.get(f"/image/{guid}{path}").status_code == 200
    assert guid in [d["guid"] for d in api.get("/image").json()]  # a cached page shows it
    files = list((tmp_path / "images").rglob(f"{guid}*"))
    assert len(files) == 2  # the PNG and its thumbnail
    response = api.delete(f"/image/{guid}", headers=ALICE)
    assert response.status_code == 204 and response.content == b""
    for path in ("", "/content", "/thumbnail"):
        assert_problem(api.get(f"/image/{guid}{path}"), 404)
    assert guid not in [d["guid"] for d in api.get("/image").json()]
    assert not any(path.exists() for path in files)


def test_a_replay_of_a_deleted_image_is_410(api: httpx.Client) -> None:
    key = {**ALICE, "Idempotency-Key": "once"}
    made = api.post("/image", json={"prompt": "p"}, headers=key).json()
    assert api.post("/image", json={"prompt": "p"}, headers=key).json() == made
    assert api.delete(f"/image/{made['guid']}", headers=ALICE).status_code == 204
    assert_problem(api.post("/image", json={"prompt": "p"}, headers=key), 410, "image_deleted")


@pytest.mark.parametrize(
    ("claim", "role", "claims", "admin"),
    [
        ("roles", "pixyproxy-admin", {"roles": "pixyproxy-admin"}, True),
        ("roles", "pixyproxy-admin", {"roles": ["a", "pixyproxy-admin"]}, True),
        ("roles", "pixyproxy-admin", {"roles": ["pixyproxy-admins"]}, False),
        ("roles", "pixyproxy-admin", {}, False),
        ("realm_access.roles", "mod", {"realm_access": {"roles": ["mod"]}}, True),
        ("realm_access.roles", "mod", {"realm_access": "mod"}, False),
    ],
)
def test_admins_are_named_by_the_configured_claim(
    serve_api: ServeApi,
    database_url: str,
    claim: str,
    role: str,
    claims: dict[str, Any],
    admin: bool,
) -> None:
    api = serve_api(
        database_url=database_url, jwt_secret=SECRET, jwt_admin_claim=claim, jwt_admin_role=role
    )
    made = make(api)
    response = patch(api, made["guid"], {"tags": []}, bearer("carol", **claims))
    assert response.status_code == (200 if admin else 403), response.text


@pytest.mark.parametrize("value", [7, ["admin", 7], {"admin": True}, True])
def test_an_admin_claim_of_the_wrong_type_is_an_invalid_token(
    serve_api: ServeApi, database_url: str, value: object
) -> None:
    api = serve_api(
        database_url=database_url,
        jwt_secret=SECRET,
        jwt_admin_claim="roles",
        jwt_admin_role="admin",
    )
    response = api.get("/image", headers=bearer("carol", roles=value))
    assert_problem(response, 401, "invalid_token")


def test_without_the_admin_settings_no_claim_makes_an_admin(
    serve_api: ServeApi, database_url: str
) -> None:
    api = serve_api(database_url=database_url, jwt_secret=SECRET)
    made = make(api)
    response = patch(api, made["guid"], {"tags": []}, bearer("carol", roles=["admin"]))
    assert_problem(response, 403, "not_the_author")


def test_the_openapi_document_declares_every_answer(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    edit, delete = paths["/image/{guid}"]["patch"], paths["/image/{guid}"]["delete"]
    assert {"200", "401", "403", "404", "412", "415", "422", "503"} <= set(edit["responses"])
    assert {"204", "401", "403", "404", "412", "422", "503"} <= set(delete["responses"])
    assert set(edit["requestBody"]["content"]) == {
        "application/merge-patch+json",
        "application/json",
    }
    assert "ETag" in paths["/image/{guid}"]["get"]["responses"]["200"]["headers"]
    assert "410" in paths["/image"]["post"]["responses"]
