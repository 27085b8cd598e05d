"""What the workflows assume about their runners, read off the files as GitHub would run them.

Three defects of the chart job's first real run, each a class checked here:

- ports: kubectl port-forward to a host port that the kind cluster config already
  publishes cannot bind; every forwarded port (workflows, skaffold, docs, NOTES) stays
  clear of the kind config's host ports;
- tools: the test job needed mariadbd, which the runner image does not have; every
  command a job runs, and every tool its make targets need, is installed by the job or is
  on the runner image (tests/github/ubuntu-24.04-tools.txt);
- path filters: a step sourced .github/port-forward.sh, and the image builds read
  .dockerignore, but neither was in the filter; every repository file a filtered workflow
  reads is matched by its path filter.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import CI_TOOLS, CONTAINER_TOOLS

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
RUNNER_TOOLS = frozenset(
    line.split("#")[0].strip()
    for line in Path(__file__).with_name("ubuntu-24.04-tools.txt").read_text().splitlines()
    if line.split("#")[0].strip()
)
# What actions put on PATH.
ACTION_TOOLS = {
    "actions/setup-python": {"python", "python3", "pip"},
    "actions/setup-node": {"node", "npm", "npx"},
    "azure/setup-helm": {"helm"},
    "helm/kind-action": {"kind", "kubectl"},
    "helm/chart-testing-action": {"ct", "yamllint", "yamale"},
    "sigstore/cosign-installer": {"cosign"},
    "docker/setup-buildx-action": {"docker"},
}
# Executables of the Debian packages the jobs install.
PACKAGE_TOOLS: dict[str, set[str]] = {
    "mariadb-server": {"mariadb", "mariadb-admin"},
    "mariadb-client": {"mariadb", "mariadb-admin"},
    "prometheus": {"prometheus"},
}
for _tool, _package in {**CI_TOOLS, **CONTAINER_TOOLS}.items():
    PACKAGE_TOOLS.setdefault(_package, set()).add(_tool)
# What a make target needs beyond its recipe's own commands (the virtualenv's tools come
# with `make install`).
MAKE_NEEDS = {
    "test": set(CI_TOOLS),
    "lint": {"node", "npm"},
    "container-test": set(CI_TOOLS) | set(CONTAINER_TOOLS),
    "images": set(CONTAINER_TOOLS) - {"catatonit", "slirp4netns"},
}
SHELL_WORDS = {
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "in", "function", "echo", "printf", "cd", "export", "source", ".", "set", "shopt", "local",
    "return", "exit", "trap", "true", "false", "read", "test", "[", "[[", "]]", "]", ":",
    "wait", "shift", "eval", "exec", "unset", "declare", "sudo", "env", "time", "!", "{", "}",
}  # fmt: skip


def _workflow(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def _script_lines(script: str) -> Iterator[str]:
    """Lines of a shell script with continuations joined, comments and heredocs dropped."""
    text = re.sub(r"\\\n", " ", script)
    heredoc = None
    for line in text.splitlines():
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        if match := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):
            heredoc = match.group(1)
        line = re.sub(r"(^|\s)#.*$", "", line)
        if line.strip():
            yield line


def defined_functions(script: str) -> set[str]:
    return set(re.findall(r"^\s*(\w+)\s*\(\)\s*\{", script, re.MULTILINE))


def _plain(line: str) -> str:
    """A line without what cannot start a command: single-quoted text, parameter
    expansions, make variables, array assignments and redirections."""
    line = re.sub(r"'[^']*'", "''", line)
    line = re.sub(r"\$\{[^}]*\}", "$V", line)
    line = re.sub(r"\$\([A-Z_]+\)", "$V", line)  # make's $(PYTHON)
    line = re.sub(r"\w+=\([^)]*\)", "", line)
    return re.sub(r"\d*>&\d+|&>|\d*>>?|<", " ", line)


def commands(script: str, defined: frozenset[str] = frozenset()) -> set[str]:
    """The programs a shell script calls (first words of its simple commands)."""
    found = set()
    defined = defined | defined_functions(script)
    for line in map(_plain, _script_lines(script)):
        for part in re.split(r"\|\||&&|[|;&()`]|\$\(|\bthen\b|\bdo\b|\belse\b", line):
            try:
                words = shlex.split(part, posix=True)
            except ValueError:
                words = part.split()
            while words and (re.match(r"^\w+=", words[0]) or words[0] in ("sudo", "env", "!", "{")):
                words.pop(0)
            if not words:
                continue
            word = words[0]
            if word in SHELL_WORDS or word in defined or not re.match(r"^[\w.+-]+$", word):
                continue
            found.add(word)
    return found


def _makefile_recipes() -> dict[str, str]:
    recipes: dict[str, list[str]] = {}
    target = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if match := re.match(r"^([a-z-]+):", line):
            target = match.group(1)
            recipes[target] = []
        elif line.startswith("\t") and target:
            recipes[target].append(line.strip())
    return {name: "\n".join(lines) for name, lines in recipes.items()}


def _make_targets(script: str) -> set[str]:
    return {m for line in _script_lines(script) for m in re.findall(r"\bmake\s+([a-z-]+)", line)}


def _needed_and_provided(job: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    needed: dict[str, str] = {}
    provided = set(RUNNER_TOOLS)
    recipes = _makefile_recipes()
    for step in job.get("steps", []):
        if "uses" in step:
            provided |= ACTION_TOOLS.get(step["uses"].split("@")[0], set())
            continue
        script = step.get("run", "")
        for line in _script_lines(script):
            if "apt-get install" in line:
                for package in shlex.split(line.split("apt-get install", 1)[1]):
                    provided |= PACKAGE_TOOLS.get(package, {package})
            if match := re.search(r"tar\b.*-C\s+\S+\s+([\w-]+)\s*$", line):
                provided.add(match.group(1))  # a release binary unpacked onto PATH
        sourced = [
            (ROOT / s).read_text()
            for s in re.findall(r"(?:source|\.)\s+(\.github/[\w./-]+)", script)
        ]
        functions = frozenset().union(*(defined_functions(s) for s in sourced))
        for name in commands(script, functions):
            needed.setdefault(name, step.get("name", "run"))
        for text in sourced:
            for name in commands(text):
                needed.setdefault(name, "a sourced file")
        for target in _make_targets(script):
            for name in commands(recipes.get(target, "")) | MAKE_NEEDS.get(target, set()):
                needed.setdefault(name, f"make {target}")
    return needed, provided


def _jobs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{name}", job)
        for path in WORKFLOWS
        for name, job in _workflow(path)["jobs"].items()
    ]


@pytest.mark.parametrize(("where", "job"), _jobs(), ids=[w for w, _ in _jobs()])
def test_every_tool_a_job_runs_is_installed_or_on_the_runner(
    where: str, job: dict[str, Any]
) -> None:
    assert job["runs-on"] in ("ubuntu-latest", "ubuntu-24.04"), "tools list is for ubuntu-24.04"
    needed, provided = _needed_and_provided(job)
    missing = {tool: why for tool, why in needed.items() if tool not in provided}
    missing = {t: w for t, w in missing.items() if not (ROOT / t).exists()}  # ./scripts etc.
    assert missing == {}, f"{where} runs, but neither installs nor finds on the runner: {missing}"


def test_the_tool_check_sees_a_missing_tool() -> None:
    """The test job as it was: make test with PIXY_REQUIRE_MYSQL, no MariaDB installed."""
    job = {
        "runs-on": "ubuntu-latest",
        "steps": [{"uses": "actions/setup-python@v5"}, {"run": "make test"}],
    }
    needed, provided = _needed_and_provided(job)
    assert {"mariadbd", "mariadb-install-db", "promtool"} <= set(needed) - provided


def test_ci_run_installs_every_tool_the_suite_needs() -> None:
    """.ci/run on a bare Debian machine installs the same tools (by command or package)."""
    script = (ROOT / ".ci" / "run").read_text()
    for tool, package in {**CI_TOOLS, **CONTAINER_TOOLS}.items():
        assert tool in script or package in script, tool
    assert "make container-test" in script


def test_commands_parser() -> None:
    script = """\
set -euo pipefail
out="$(helm push x.tgz oci://r 2>&1)"   # a comment
digest="$(echo "$out" | awk '/^Digest:/ {print $2}')"
FOO=1 sudo apt-get update && kubectl get pods || true
for f in a b; do kubeconform -strict "$f"; done
python3 - <<'PY'
import this_is_python
PY
my_fn() { curl -s x; }
my_fn
"""
    assert commands(script) == {
        "helm",
        "awk",
        "apt-get",
        "kubectl",
        "kubeconform",
        "python3",
        "curl",
    }


# ---------------------------------------------------------------------------------- ports


def _port_forwards(text: str, env: dict[str, str]) -> set[int]:
    ports = set()
    for match in re.finditer(r"port-forward\s+\S+\s+\"?\$?\{?(\w+)\}?\"?:(\d+|\S+)", text):
        value = env.get(match.group(1), match.group(1))
        if value.isdigit():
            ports.add(int(value))
    for match in re.finditer(r"port_forward\s+\S+\s+\"?\$?\{?(\w+)\}?\"?", text):
        value = env.get(match.group(1), match.group(1))
        if value.isdigit():
            ports.add(int(value))
    return ports


def forwarded_ports() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}

    def add(ports: set[int], where: str) -> None:
        for port in ports:
            found.setdefault(port, []).append(where)

    for path in WORKFLOWS:
        workflow = _workflow(path)
        for name, job in workflow["jobs"].items():
            env = {**workflow.get("env", {}), **job.get("env", {})}
            env = {k: str(v) for k, v in env.items()}
            for step in job.get("steps", []):
                add(_port_forwards(step.get("run", ""), env), f"{path.name}:{name}")
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    add({int(f["localPort"]) for f in skaffold.get("portForward", [])}, "skaffold.yaml")
    docs = [
        ROOT / "README.md",
        ROOT / "k8s" / "README.md",
        ROOT / "charts" / "pixyproxy" / "README.md",
        ROOT / "charts" / "pixyproxy" / "templates" / "NOTES.txt",
    ]
    for doc in docs:
        add(_port_forwards(doc.read_text(), {}), str(doc.relative_to(ROOT)))
    return found


def kind_host_ports() -> set[int]:
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    return {
        int(m["hostPort"]) for node in config["nodes"] for m in node.get("extraPortMappings", [])
    }


def test_forwarded_ports_do_not_collide_with_the_kind_host_ports() -> None:
    forwarded = forwarded_ports()
    assert forwarded, "no port-forward found: the parser is broken"
    assert 8080 in forwarded and any(w.startswith("chart.yml") for w in forwarded[8080])
    clashes = {port: forwarded[port] for port in kind_host_ports() & set(forwarded)}
    assert clashes == {}, f"kind publishes these host ports, which are also forwarded: {clashes}"


def test_port_forward_parser() -> None:
    text = (
        'kubectl -n x port-forward svc/pixyproxy 8080:80 &\nport_forward "svc/$APP" "$LOCAL_PORT"\n'
    )
    assert _port_forwards(text, {"LOCAL_PORT": "9090"}) == {8080, 9090}


# --------------------------------------------------------------------------- path filters


def _filters(workflow: dict[str, Any]) -> list[list[str]]:
    triggers = workflow["on"] if isinstance(workflow["on"], dict) else {}
    return [t["paths"] for t in triggers.values() if isinstance(t, dict) and "paths" in t]


def _matches(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.replace("/**", "/*")) for p in patterns
    )


def _dockerfile_inputs(dockerfile: Path) -> set[str]:
    inputs = {".dockerignore", str(dockerfile.relative_to(ROOT))}
    for line in re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines():
        words = line.split()
        if words and words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            for source in words[1:-1]:
                for path in ROOT.glob(source):
                    inputs.add(str(path.relative_to(ROOT)))
    return inputs


def files_read(workflow: dict[str, Any]) -> set[str]:
    """Repository files the workflow's steps name (and what the images they build copy)."""
    env = {k: str(v) for k, v in workflow.get("env", {}).items()}
    found: set[str] = set()
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            text = (
                step.get("run", "") + " " + " ".join(str(v) for v in step.get("with", {}).values())
            )
            for name, value in env.items():
                text = text.replace(f"${name}", value).replace(f"${{{name}}}", value)
            for token in re.findall(r"[\w.][\w./*-]*", text):
                token = token.removeprefix("./").rstrip("/.")
                if token and ("/" in token or token.startswith(".")) and ".." not in token:
                    for path in ROOT.glob(token):
                        found.add(str(path.relative_to(ROOT)))
            for dockerfile in re.findall(r"-f\s+(services/[\w-]+/Dockerfile)", text):
                found |= _dockerfile_inputs(ROOT / dockerfile)
    return {f for f in found if f and not f.startswith(".git/")}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_file_a_workflow_reads_is_in_its_path_filter(path: Path) -> None:
    workflow = _workflow(path)
    for patterns in _filters(workflow):
        assert _matches(f".github/workflows/{path.name}", patterns)
        outside = sorted(f for f in files_read(workflow) if not _matches(f, patterns))
        assert outside == [], f"{path.name} reads files its path filter misses: {outside}"


def test_the_chart_workflow_is_filtered_and_reads_what_it_sources() -> None:
    workflow = _workflow(ROOT / ".github" / "workflows" / "chart.yml")
    assert _filters(workflow)
    read = files_read(workflow)
    assert {".github/port-forward.sh", ".dockerignore", "requirements/api.txt"} <= read
    assert not _matches(".github/port-forward.sh", ["charts/**", "services/**"])
