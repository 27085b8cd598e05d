"""Editing and deleting images through the use cases, on fakes: who may (author, admin;
404 for what the caller cannot see, 403 for what it can but does not own), the merge
patch's rules, If-Match, files after the row, and the replay of a deleted image."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from pixyproxy.core.errors import (
    ImageDeleted,
    ImageNotFound,
    InvalidRequest,
    NotTheAuthor,
    PreconditionFailed,
    StorageUnavailable,
)
from pixyproxy.core.models import Caller, GenerateRequest, IfMatch, ImageDetail, ImagePatch
from pixyproxy.core.settings import Settings
from pixyproxy.data.store import ORIGINAL, Variant
from pixyproxy.service.images import ImageServices
from pixyproxy.service.private import PrivateImages
from pixyproxy.service.public import PublicImages
from tests.support.services import Fakes

pytestmark = pytest.mark.anyio
ALICE, BOB, ADMIN = Caller("alice"), Caller("bob"), Caller("mod", admin=True)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def services(make_settings: Callable[..., Settings], fakes: Fakes) -> ImageServices:
    return fakes.services(make_settings(anonymous_generation=True, detail_cache_bytes=1 << 20))


async def make(services: ImageServices, *, private: bool = False) -> ImageDetail:
    request = GenerateRequest(prompt="p", tags=["a", "b"], private=private)
    return await PrivateImages(services, ALICE).generate(request)


def counted(name: str, actor: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(f"{name}_total", {"actor": actor, "outcome": outcome})
    return value or 0.0


async def test_only_the_author_or_an_admin_may_change_or_delete(
    services: ImageServices,
) -> None:
    public, private = await make(services), await make(services, private=True)
    for call in (
        lambda guid: PrivateImages(services, BOB).edit(guid, ImagePatch(tags=[])),
        lambda guid: PrivateImages(services, BOB).delete(guid),
    ):
        with pytest.raises(NotTheAuthor):
            await call(public.guid)  # bob sees it: 403
        with pytest.raises(ImageNotFound):
            await call(private.guid)  # bob cannot see it: as if missing
    edited = await PrivateImages(services, ADMIN).edit(private.guid, ImagePatch(tags=["x"]))
    assert edited.tags == ["x"] and edited.private and edited.author == "alice"
    # An admin moderates by guid; it reads like anyone else: not another's private image.
    with pytest.raises(ImageNotFound):
        await PrivateImages(services, ADMIN).get(private.guid)
    await PrivateImages(services, ADMIN).delete(private.guid)
    await PrivateImages(services, ALICE).delete(public.guid)
    for guid in (public.guid, private.guid):
        with pytest.raises(ImageNotFound):
            await PrivateImages(services, ALICE).get(guid)


async def test_a_merge_patch_changes_what_it_names_and_nothing_else(
    services: ImageServices,
) -> None:
    made = await make(services)
    alice = PrivateImages(services, ALICE)
    private = await alice.edit(made.guid, ImagePatch(private=True))
    assert private.private and private.tags == ["a", "b"] and private.updated_at > made.updated_at
    tagged = await alice.edit(made.guid, ImagePatch(tags=["New", "new", "z"]))
    assert tagged.tags == ["new", "z"] and tagged.private
    cleared = await alice.edit(made.guid, ImagePatch.model_validate({"tags": None}))
    assert cleared.tags == []
    same = await alice.edit(made.guid, ImagePatch())  # {}: nothing changes, nothing moves
    assert same == cleared and same.updated_at == cleared.updated_at
    assert same.prompt == made.prompt and same.created_at == made.created_at


async def test_an_image_without_an_author_cannot_become_private(
    services: ImageServices,
) -> None:
    made = await PublicImages(services).generate(GenerateRequest(prompt="anonymous"))
    with pytest.raises(InvalidRequest):
        await PrivateImages(services, ADMIN).edit(made.guid, ImagePatch(private=True))
    edited = await PrivateImages(services, ADMIN).edit(made.guid, ImagePatch(tags=["ok"]))
    assert edited.tags == ["ok"] and not edited.private


async def test_if_match_must_name_the_current_state(services: ImageServices) -> None:
    made = await make(services)
    alice = PrivateImages(services, ALICE)
    read = await alice.get(made.guid)
    assert read.etag == made.etag  # the same state gives the same tag, on any worker
    changed = await alice.edit(
        made.guid, ImagePatch(tags=["c"]), if_match=IfMatch.parse([made.etag])
    )
    assert changed.etag != made.etag
    for stale in ([made.etag], [f"W/{changed.etag}"], ['"nope"']):
        with pytest.raises(PreconditionFailed):
            await alice.edit(made.guid, ImagePatch(tags=["d"]), if_match=IfMatch.parse(stale))
        with pytest.raises(PreconditionFailed):
            await alice.delete(made.guid, if_match=IfMatch.parse(stale))
    assert (await alice.get(made.guid)).tags == ["c"]
    listed = IfMatch.parse(['"other", ' + changed.etag])
    assert (await alice.edit(made.guid, ImagePatch(tags=["e"]), if_match=listed)).tags == ["e"]
    await alice.delete(made.guid, if_match=IfMatch.parse(["*"]))
    with pytest.raises(ImageNotFound):  # a precondition on what is gone: 404 first
        await alice.delete(made.guid, if_match=IfMatch.parse(["*"]))


async def test_a_delete_removes_the_row_then_every_file(
    services: ImageServices, fakes: Fakes
) -> None:
    made = await make(services)
    thumbnail: Variant = "thumbnail-256"
    fakes.store.put(made.guid, thumbnail, b"webp")
    await PrivateImages(services, ALICE).delete(made.guid)
    assert made.guid not in fakes.repository.rows
    assert [key for key in fakes.store.contents if key[0] == made.guid] == []


async def test_a_store_failure_after_the_commit_leaves_only_files_without_a_row(
    services: ImageServices, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await make(services)

    def broken(guid: object, variant: Variant) -> None:
        raise StorageUnavailable()

    monkeypatch.setattr(fakes.store, "delete", broken)
    await PrivateImages(services, ALICE).delete(made.guid)  # done: the row is gone
    assert made.guid not in fakes.repository.rows
    assert (made.guid, ORIGINAL) in fakes.store.contents  # for storage check --fix
    with pytest.raises(ImageNotFound):
        await PublicImages(services).get(made.guid)


async def test_a_replay_of_a_deleted_image_is_gone_not_the_image(
    services: ImageServices, fakes: Fakes
) -> None:
    alice = PrivateImages(services, ALICE)
    request = GenerateRequest(prompt="once")
    made = await alice.generate(request, idempotency_key="k1")
    assert await alice.generate(request, idempotency_key="k1") == made  # a replay
    await alice.delete(made.guid)
    with pytest.raises(ImageDeleted):
        await alice.generate(request, idempotency_key="k1")
    assert len(fakes.generator.calls) == 1  # and no second generation
    again = await alice.generate(request, idempotency_key="k2")
    assert again.guid != made.guid


async def test_edits_and_deletes_are_counted_by_actor_and_outcome(
    services: ImageServices,
) -> None:
    made = await make(services)
    before = {
        key: counted(*key)
        for key in [
            ("pixyproxy_image_edits", "user", "ok"),
            ("pixyproxy_image_edits", "user", "forbidden"),
            ("pixyproxy_image_edits", "admin", "ok"),
            ("pixyproxy_image_deletions", "user", "precondition_failed"),
            ("pixyproxy_image_deletions", "admin", "ok"),
            ("pixyproxy_image_deletions", "user", "not_found"),
        ]
    }
    await PrivateImages(services, ALICE).edit(made.guid, ImagePatch(tags=[]))
    with pytest.raises(NotTheAuthor):
        await PrivateImages(services, BOB).edit(made.guid, ImagePatch(tags=[]))
    await PrivateImages(services, ADMIN).edit(made.guid, ImagePatch(tags=["m"]))
    with pytest.raises(PreconditionFailed):
        await PrivateImages(services, ALICE).delete(made.guid, if_match=IfMatch.parse(['"x"']))
    await PrivateImages(services, ADMIN).delete(made.guid)
    with pytest.raises(ImageNotFound):
        await PrivateImages(services, BOB).delete(made.guid)
    assert {key: counted(*key) - value for key, value in before.items()} == dict.fromkeys(
        before, 1.0
    )
