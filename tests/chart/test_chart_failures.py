"""Values the chart must refuse, each with a message that says what to change."""

from __future__ import annotations

import pytest

from tests.support.chart import api_deployment, pod_template, render

helm_python = pytest.importorskip("helm_python")

RENDER_ERRORS = (helm_python.HelmRenderError, helm_python.HelmValuesError)

EXTERNAL_DB = {
    "mysql": {"enabled": False},
    "externalDatabase": {"host": "db.example", "existingSecret": "db"},
}
RWX = {"persistence": {"accessModes": ["ReadWriteMany"]}}


def refused(values: dict, *fragments: str) -> None:
    with pytest.raises(RENDER_ERRORS) as info:
        render(values)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


# The five the chart must refuse.


def test_two_replicas_on_read_write_once() -> None:
    refused({"replicaCount": 2}, "ReadWriteOnce", "replicaCount=2", "ReadWriteMany")


def test_autoscaling_on_read_write_once() -> None:
    refused({"autoscaling": {"enabled": True}}, "ReadWriteOnce", "autoscaling.enabled=true")


def test_read_write_once_pod_is_single_node_too() -> None:
    refused(
        {"replicaCount": 3, "persistence": {"accessModes": ["ReadWriteOncePod"]}},
        "ReadWriteOncePod",
    )


def test_production_without_jwt_key_source() -> None:
    refused(
        {"env": "production", "auth": {"jwt": {"generateSecret": False}}},
        "env=production",
        "JWT key",
        "auth.jwt.existingSecret",
    )


def test_misspelled_top_level_value() -> None:
    refused({"replicaCunt": 2}, "replicaCunt", "not allowed")


def test_misspelled_nested_value() -> None:
    refused({"persistence": {"acessModes": ["ReadWriteMany"]}}, "acessModes", "not allowed")


def test_termination_grace_period_too_low() -> None:
    refused(
        {"terminationGracePeriodSeconds": 100},
        "terminationGracePeriodSeconds=100",
        "too low",
        "160",
    )


# ... and their accepted counterparts, so the refusals above are about the rule only.


def test_several_replicas_on_read_write_many() -> None:
    docs = render({"replicaCount": 3, **RWX})
    deployment = api_deployment(docs)
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"


def test_dev_without_key_renders() -> None:
    docs = render({"env": "dev", "auth": {"jwt": {"generateSecret": False}}})
    env = {e["name"] for e in pod_template(api_deployment(docs))["spec"]["containers"][0]["env"]}
    assert "PIXY_JWT_SECRET" not in env


def test_termination_grace_period_just_enough() -> None:
    docs = render({"terminationGracePeriodSeconds": 161})
    assert pod_template(api_deployment(docs))["spec"]["terminationGracePeriodSeconds"] == 161


def test_termination_grace_period_computed() -> None:
    docs = render(
        {"lifecycle": {"preStopSleepSeconds": 20}, "config": {"gracefulTimeoutSeconds": 200}}
    )
    assert pod_template(api_deployment(docs))["spec"]["terminationGracePeriodSeconds"] == 235


# Further rules.


@pytest.mark.parametrize(
    ("values", "fragments"),
    [
        ({"image": {"tag": "latest"}}, ["image.tag", "latest"]),
        ({"mysql": {"image": {"tag": "latest"}}}, ["mysql.image.tag", "latest"]),
        ({"auth": {"jwt": {"algorithms": ["HS256", "RS256"]}}}, ["mixes HS*"]),
        ({"auth": {"jwt": {"secret": "too-short"}}}, ["at least 32"]),
        ({"auth": {"jwt": {"algorithms": ["none"]}}}, ["algorithms"]),
        ({"auth": {"jwt": {"algorithms": ["RS256"], "secret": "x" * 40}}}, ["public key"]),
        ({"auth": {"jwt": {"jwksUrl": "https://idp/jwks"}}}, ["HS*", "public key source"]),
        ({"auth": {"jwt": {"secret": "a" * 40, "existingSecret": "jwt"}}}, ["only one key source"]),
        ({"auth": {"jwt": {"algorithms": ["RS256"]}}}, ["env=production"]),
        ({"externalDatabase": {"host": "db.example"}}, ["mysql.enabled", "externalDatabase.host"]),
        ({"mysql": {"enabled": False}}, ["no database"]),
        ({"mysql": {"enabled": False}, "externalDatabase": {"host": "db"}}, ["needs a password"]),
        ({"persistence": {"enabled": False}, "replicaCount": 2}, ["emptyDir"]),
        ({"storage": {"backend": "s3"}}, ["storage.s3.bucket"]),
        ({"storage": {"backend": "gcs"}}, ["backend"]),
        ({"storage": {"s3": {"content": "proxy"}}}, ["content"]),
        ({"storage": {"s3": {"prefix": "/images"}}}, ["prefix"]),
        ({"openaiMock": {"enabled": True}, "openai": {"apiKey": "sk-real"}}, ["real key"]),
        ({"config": {"imageProvider": "openai"}}, ["imageProvider=openai"]),
        (
            {"config": {"openaiTimeoutSeconds": 200}},
            ["gracefulTimeoutSeconds", "openaiTimeoutSeconds"],
        ),
        ({"httpRoute": {"enabled": True}}, ["parentRefs"]),
        (
            {**RWX, "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
            ["minReplicas"],
        ),
        ({"podDisruptionBudget": {"enabled": True, "minAvailable": 1}}, ["either minAvailable"]),
        (
            {**RWX, "autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None}},
            ["needs a target"],
        ),
        ({"openaiMock": {"enabled": True, "behavior": "explode"}}, ["behavior"]),
        ({"env": "staging"}, ["/env"]),
        (
            {"metrics": {"prometheusRule": {"latencyThresholdSeconds": "2.0"}}},
            ["latencyThresholdSeconds"],
        ),
        ({"securityContext": {"readOnlyRootFilesystem": False}}, ["readOnlyRootFilesystem"]),
    ],
)
def test_refused(values: dict, fragments: list[str]) -> None:
    refused(values, *fragments)


S3 = {"storage": {"backend": "s3", "s3": {"bucket": "images"}}}


def test_s3_allows_several_replicas_and_the_hpa_on_read_write_once() -> None:
    for scale in ({"replicaCount": 3}, {"autoscaling": {"enabled": True}}):
        docs = render({**S3, **scale})
        assert [d for d in docs if d["kind"] == "PersistentVolumeClaim"] == []
        assert api_deployment(docs)["spec"]["strategy"]["type"] == "RollingUpdate"


def test_s3_keys_come_from_the_existing_secret_or_from_the_pod_s_identity() -> None:
    with_keys = {"storage": {**S3["storage"], "s3": {"bucket": "b", "existingSecret": "s3-keys"}}}
    for values, expected in (
        (S3, set()),
        (with_keys, {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}),
    ):
        pod = pod_template(api_deployment(render(values)))["spec"]
        for container in (*pod.get("initContainers", []), *pod["containers"]):
            env = {e["name"]: e for e in container.get("env", []) if e["name"].startswith("AWS_")}
            assert set(env) == expected, container["name"]
            for entry in env.values():
                assert entry["valueFrom"]["secretKeyRef"]["name"] == "s3-keys"


def test_external_database_with_existing_secret_renders() -> None:
    docs = render(EXTERNAL_DB)
    env = {e["name"]: e for e in pod_template(api_deployment(docs))["spec"]["containers"][0]["env"]}
    assert env["PIXY_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "db",
        "key": "database-password",
    }
