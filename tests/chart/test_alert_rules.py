"""The chart's alerts really fire: promtool checks the rendered PrometheusRule and runs its
unit tests (tests/chart/prometheusrule_test.yaml), one case where each alert fires and one
where it stays quiet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import one, render_case
from tests.support.tools import executable

pytest.importorskip("helm_python")

UNIT_TESTS = Path(__file__).with_name("prometheusrule_test.yaml")


def _rules() -> dict[str, Any]:
    """The rule groups of the PrometheusRule, as a Prometheus rules file."""
    return {"groups": one(render_case("monitoring-values"), "PrometheusRule")["spec"]["groups"]}


def _alerts(rules: dict[str, Any]) -> set[str]:
    return {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    promtool = executable("promtool", package="prometheus")
    return subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(_rules()))
    result = _promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts(_rules()))} rules found" in result.stdout


def test_promtool_test_rules(tmp_path: Path) -> None:
    """The unit tests pass against the rendered rules. Annotations are left out of the
    copy under test: promtool compares them word for word, and what is tested here is
    when an alert fires, not its prose (check_rules above parses their templates)."""
    rules = _rules()
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = _promtool("test", "rules", tmp_path / UNIT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_and_stays_quiet_in_a_case() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = _alerts(_rules())
    assert alerts - fires == set(), "alerts without a case where they fire"
    assert alerts - quiet == set(), "alerts without a case where they stay quiet"
    assert (fires | quiet) - alerts == set(), "cases for alerts the chart does not have"


def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    """A rule that never fires fails its unit test: the run above is a real check."""
    rules = _rules()
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
            if rule.get("alert") == "PixyProxyUpstreamAuthFailing":
                rule["expr"] = rule["expr"].replace("> 0", "> 1")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = _promtool("test", "rules", tmp_path / UNIT_TESTS.name)
    assert result.returncode != 0
    assert "PixyProxyUpstreamAuthFailing" in result.stdout + result.stderr
