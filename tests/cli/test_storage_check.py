"""``pixyproxy storage check [--fix]`` on a store with thumbnails, as an operator runs it: a
real subprocess on a real filesystem and database, after a server made the thumbnails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

from pixyproxy.data.database import Database
from pixyproxy.data.images import SqlImageRepository
from tests.support.s3 import S3Server
from tests.support.servers import ServeApi


def storage_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixyproxy", "storage", "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_an_orphaned_thumbnail_is_found_and_fixed_and_live_ones_are_left_alone(
    serve_api: ServeApi, database_url: str, database: Database, tmp_path: Path
) -> None:
    api = serve_api(database_url=database_url, anonymous_generation=True)
    kept, gone = (api.post("/image", json={"prompt": p}).json()["guid"] for p in ("a", "b"))
    for guid in (kept, gone):
        for width in (128, 512):
            assert api.get(f"/image/{guid}/thumbnail", params={"w": width}).status_code == 200
    images = tmp_path / "images"
    # An image deleted the way DESIGN §6 orders it (the row, then its files) by a process
    # that died after removing the original: its thumbnails are left without a row.
    assert SqlImageRepository(database).delete(UUID(gone))
    (images / gone[:2] / f"{gone}.png").unlink()
    orphans = {str(images / gone[:2] / f"{gone}.w{w}.webp") for w in (128, 512)}
    an_hour_ago = time.time() - 3600  # older than any grace: files that no row can claim
    for path in images.rglob("*.webp"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    env = {"PIXY_DATABASE_URL": database_url, "PIXY_STORAGE_DIR": str(images)}

    found = storage_check(env)
    assert found.returncode == 1, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "1 images in the database, 2 thumbnails stored"
    assert {line.split(": ", 1)[1] for line in lines if "without row" in line} == orphans
    assert not [line for line in lines if "not ours" in line or kept in line], lines
    assert lines[-1] == "problems found"

    fixed = storage_check(env, "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert not any(Path(orphan).exists() for orphan in orphans)
    assert sorted(p.name for p in (images / kept[:2]).iterdir()) == sorted(
        [f"{kept}.png", f"{kept}.w128.webp", f"{kept}.w512.webp"]
    )
    assert storage_check(env).stdout.splitlines()[-1] == "clean"
    assert api.get(f"/image/{kept}/thumbnail", params={"w": 512}).status_code == 200


def test_on_s3_the_listing_is_merged_with_the_rows(
    serve_api: ServeApi, database_url: str, database: Database, s3_server: S3Server
) -> None:
    """The same command on a bucket. moto dates an object from its PUT, so every object
    here is younger than the grace floor: an object without a row is reported as recent
    and left alone, while a row without its object is judged at once."""
    bucket = s3_server.new_bucket()
    api = serve_api(
        database_url=database_url, anonymous_generation=True, **s3_server.settings(bucket)
    )
    lost, kept, gone = (api.post("/image", json={"prompt": p}).json()["guid"] for p in "abc")
    for guid in (lost, kept, gone):
        assert api.get(f"/image/{guid}/thumbnail", params={"w": 128}).status_code == 200
    s3_server.client().delete_object(Bucket=bucket, Key=f"images/{lost[:2]}/{lost}.png")
    assert SqlImageRepository(database).delete(UUID(gone))
    s3_server.put_object(bucket, "images/README", b"not an image")
    env = {"PIXY_DATABASE_URL": database_url, **s3_server.environment(bucket)}

    found = storage_check(env)
    assert found.returncode == 1, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "2 images in the database, 1 thumbnails stored"
    assert f"row without file (found): {lost}" in lines
    assert f"thumbnail of a row without file (found): images/{lost[:2]}/{lost}.w128.webp" in lines
    assert {line for line in lines if line.startswith("recent")} == {
        f"recent, left alone: images/{gone[:2]}/{gone}.png",
        f"recent, left alone: images/{gone[:2]}/{gone}.w128.webp",
    }
    assert "not ours, left alone: images/README" in lines

    fixed = storage_check(env, "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [guid for guid, _ in SqlImageRepository(database).iter_files()] == [UUID(kept)]
    assert sorted(s3_server.keys(bucket)) == sorted(
        [
            "images/README",
            f"images/{kept[:2]}/{kept}.png",
            f"images/{kept[:2]}/{kept}.w128.webp",
            f"images/{gone[:2]}/{gone}.png",
            f"images/{gone[:2]}/{gone}.w128.webp",
        ]
    )
    assert api.get(f"/image/{kept}/content").status_code == 200
