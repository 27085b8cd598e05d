"""External programs a test needs: skipped where missing, a failure in CI.

``.ci/run`` (and each GitHub job) installs every program the suite asks for here, so in CI
(``CI`` set, as GitHub and ``.ci/run`` runs have it) a missing one is a broken install, not a
reason to skip.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0", "false")


def executable(name: str, *, package: str) -> str:
    """The path of ``name``; skip the test without it (fail in CI). ``package`` says where
    it comes from, for the message."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Debian package {package})"
        if in_ci():
            pytest.fail(f"{reason}; CI must install it")
        pytest.skip(reason)
    return path
