"""The retention CronJob: off by default; when on, it runs `pixyproxy images prune` with
the chart's values, as locked down as the API, beside the pod holding a ReadWriteOnce
volume, and the bundled MySQL lets it in."""

from __future__ import annotations

import pytest

from tests.support.chart import (
    FULLNAME,
    api_container,
    containers,
    find,
    merged_values,
    one,
    pod_template,
    render,
    render_case,
)

pytest.importorskip("helm_python")


def test_there_is_no_prune_unless_enabled() -> None:
    assert find(render_case("default"), "CronJob") == []


def test_the_prune_runs_the_command_with_the_values_and_the_apis_security() -> None:
    docs = render_case("prune-values")
    cron = one(docs, "CronJob", f"{FULLNAME}-prune")
    assert cron["spec"]["schedule"] == "0 4 * * *"
    assert cron["spec"]["timeZone"] == "Europe/Berlin"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_template(cron)["spec"]
    (prune,) = containers(pod)
    command = ["pixyproxy", "images", "prune", "--older-than", "90d", "--batch", "200"]
    assert prune["command"] == command
    api = api_container(docs)
    assert prune["securityContext"] == api["securityContext"]
    assert prune["securityContext"]["readOnlyRootFilesystem"] is True
    assert prune["envFrom"] == api["envFrom"] and prune["env"] == api["env"]
    assert pod["securityContext"] == merged_values("prune-values")["podSecurityContext"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    claim = next(v for v in pod["volumes"] if v["name"] == "images")["persistentVolumeClaim"]
    assert claim["claimName"] == f"{FULLNAME}-images"
    affinity = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert affinity[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    mysql_policy = one(docs, "NetworkPolicy", f"{FULLNAME}-mysql")
    allowed = [p["podSelector"]["matchLabels"] for p in mysql_policy["spec"]["ingress"][0]["from"]]
    assert {"api", "prune"} == {labels["app.kubernetes.io/component"] for labels in allowed}


def test_a_shared_volume_needs_no_affinity() -> None:
    values = {
        "prune": {"enabled": True},
        "persistence": {"accessModes": ["ReadWriteMany"]},
        "replicaCount": 2,
    }
    pod = pod_template(one(render(values), "CronJob"))["spec"]
    assert "affinity" not in pod


@pytest.mark.parametrize("older_than", ["30", "0d", "1w", "-1d", ""])
def test_an_age_the_command_refuses_is_refused_by_the_schema(older_than: str) -> None:
    with pytest.raises(Exception, match="olderThan"):
        render({"prune": {"enabled": True, "olderThan": older_than}})


def test_on_s3_the_prune_reads_the_bucket_as_the_api_does() -> None:
    values = {**merged_values("s3-values"), "prune": {"enabled": True}}
    docs = render(values)
    pod = pod_template(one(docs, "CronJob"))["spec"]
    (prune,) = containers(pod)
    assert "affinity" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    assert [m["name"] for m in prune["volumeMounts"]] == ["tmp"]
    api = api_container(docs)
    assert prune["envFrom"] == api["envFrom"] and prune["env"] == api["env"]
