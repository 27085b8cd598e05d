"""Every package the code imports is declared, and the lock files pin what is declared.

Two distributions: ``pixyproxy`` (pyproject.toml, services/api) and
``pixyproxy-openai-mock`` (services/openai-mock/pyproject.toml). requirements/*.txt are
their locks (``make lock``): exact versions with hashes, resolved for every platform.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
# (pyproject, source tree, its lock)
DISTRIBUTIONS = {
    "pixyproxy": (ROOT / "pyproject.toml", ROOT / "services" / "api", REQUIREMENTS / "api.txt"),
    "pixyproxy-openai-mock": (
        ROOT / "services" / "openai-mock" / "pyproject.toml",
        ROOT / "services" / "openai-mock",
        REQUIREMENTS / "openai-mock.txt",
    ),
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _project(pyproject: Path) -> dict:
    return tomllib.loads(pyproject.read_text())["project"]


def _declared(pyproject: Path) -> dict[str, Requirement]:
    requirements = (Requirement(r) for r in _project(pyproject)["dependencies"])
    return {canonicalize_name(r.name): r for r in requirements}


def _imported_top_level(tree: Path) -> set[str]:
    names = set()
    for path in tree.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def _pins(lock: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in _PIN.findall(lock.read_text())}


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_every_import_is_declared(dist: str) -> None:
    """A module the code imports comes from a distribution its pyproject names (httpx2 was
    imported by data/http_limits.py and only arrived through openai)."""
    pyproject, tree, _ = DISTRIBUTIONS[dist]
    own = {p.name for p in tree.iterdir() if (p / "__init__.py").exists()}
    providers = importlib.metadata.packages_distributions()
    declared = set(_declared(pyproject))
    missing = {}
    for module in sorted(_imported_top_level(tree) - own):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        if not dists & declared:
            missing[module] = sorted(dists)
    assert missing == {}, f"imported by {dist} but not in its dependencies: {missing}"


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_the_lock_pins_every_declared_dependency_within_its_range(dist: str) -> None:
    pyproject, _, lock = DISTRIBUTIONS[dist]
    pins = _pins(lock)
    for name, requirement in _declared(pyproject).items():
        assert name in pins, f"{lock.name} does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name} pins {name}=={pins[name]}, outside {requirement}"
        )


def test_the_mock_lock_holds_none_of_the_api() -> None:
    mock = _pins(REQUIREMENTS / "openai-mock.txt")
    for api_only in ("openai", "gunicorn", "pymysql", "dbutils", "python-jose", "structlog"):
        assert api_only not in mock


def test_the_image_locks_agree_with_the_dev_lock() -> None:
    """CI tests with dev.txt; the images install api.txt and openai-mock.txt, the kind job
    smoke.txt: the same versions."""
    dev = _pins(REQUIREMENTS / "dev.txt")
    for lock in ("api.txt", "openai-mock.txt", "smoke.txt", "build.txt"):
        pins = _pins(REQUIREMENTS / lock)
        different = {n: (v, dev.get(n)) for n, v in pins.items() if dev.get(n) != v}
        assert different == {}, f"{lock} and dev.txt disagree: {different}"


@pytest.mark.parametrize(
    "lock", ["api.txt", "openai-mock.txt", "dev.txt", "build.txt", "smoke.txt"]
)
def test_locks_are_universal_and_hashed(lock: str) -> None:
    """Resolved for every platform (the release builds amd64 and arm64 images from them),
    and every pin carries its hashes so pip --require-hashes accepts the file."""
    text = (REQUIREMENTS / lock).read_text()
    header = text.splitlines()[1]
    assert "uv pip compile" in header and "--universal" in header and "--generate-hashes" in header
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2].strip())
    # One entry per pin; a universal lock may pin a package once per Python version
    # (networkx, through moto's cfn-lint: one for 3.11, one for 3.12+).
    assert len(entries) == len(_PIN.findall(text)) > 0
    for entry in entries:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]
