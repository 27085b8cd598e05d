"""What operators expect of a chart: the published image by default, registry mirrors and
pull secrets, common annotations, sidecars, extra init containers and objects, NOTES with
the right URL, and versions kept in step with the packages."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from tests.support.chart import (
    CHART,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    ROOT,
    api_deployment,
    containers,
    find,
    one,
    pod_template,
    render,
    render_case,
    render_raw,
    workloads,
)

pytest.importorskip("helm_python")

CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())
APP_VERSION = CHART_META["appVersion"]


def _notes(values: dict) -> str:
    rendered = render_raw(values)
    return next(text for name, text in rendered.items() if name.endswith("NOTES.txt"))


def test_versions_are_in_step() -> None:
    """The chart's appVersion is the version of both distributions (the images' default tag)."""
    for pyproject in (
        ROOT / "pyproject.toml",
        ROOT / "services" / "openai-mock" / "pyproject.toml",
    ):
        assert tomllib.loads(pyproject.read_text())["project"]["version"] == APP_VERSION
    assert CHART_META["version"] == APP_VERSION
    for entry in yaml.safe_load(CHART_META["annotations"]["artifacthub.io/images"]):
        assert entry["image"].endswith(f":{APP_VERSION}")


def test_chart_metadata() -> None:
    assert CHART_META["home"].startswith("https://")
    assert CHART_META["sources"] and all(s.startswith("https://") for s in CHART_META["sources"])
    icon = CHART_META["icon"]
    assert icon.startswith("https://") and icon.endswith("/charts/pixyproxy/icon.svg")
    assert (CHART / "icon.svg").is_file()


def test_default_images_are_the_published_ones() -> None:
    docs = render({"openaiMock": {"enabled": True}})
    api = pod_template(api_deployment(docs))["spec"]
    assert {c["image"] for c in containers(api)} == {f"ghcr.io/pixyproxy/api:{APP_VERSION}"}
    mock = one(docs, "Deployment", f"{FULLNAME}-openai-mock")
    (container,) = pod_template(mock)["spec"]["containers"]
    assert container["image"] == f"ghcr.io/pixyproxy/openai-mock:{APP_VERSION}"


def test_global_image_registry_moves_every_image() -> None:
    docs = render(
        {"global": {"imageRegistry": "mirror.example.com:5000"}, "openaiMock": {"enabled": True}}
    )
    images = {c["image"] for w in workloads(docs) for c in containers(pod_template(w)["spec"])}
    assert images
    assert all(i.startswith("mirror.example.com:5000/") for i in images), images
    assert "mirror.example.com:5000/mysql:8.4.7" in images


def test_empty_registry_keeps_the_repository() -> None:
    docs = render({"image": {"registry": "", "repository": "pixyproxy/api", "tag": "ci"}})
    assert (
        pod_template(api_deployment(docs))["spec"]["containers"][0]["image"] == "pixyproxy/api:ci"
    )


def test_pull_secrets_reach_every_pod() -> None:
    docs = render(
        {
            "global": {"imagePullSecrets": [{"name": "mirror"}]},
            "imagePullSecrets": [{"name": "ghcr"}],
            "openaiMock": {"enabled": True},
        }
    )
    pods = workloads(docs)
    assert len(pods) >= 4  # API, MySQL, mock, test
    for workload in pods:
        secrets = pod_template(workload)["spec"]["imagePullSecrets"]
        assert secrets == [{"name": "mirror"}, {"name": "ghcr"}], workload["metadata"]["name"]


def test_common_annotations_on_every_resource() -> None:
    values = yaml.safe_load((CHART / "ci" / "monitoring-values.yaml").read_text())
    values |= {
        "commonAnnotations": {"team.example.com/owner": "images"},
        "ingress": {"enabled": True},
        "openaiMock": {"enabled": True},
        "service": {"annotations": {"team.example.com/owner": "service-wins"}},
    }
    docs = render(values)
    for doc in docs:
        annotations = doc["metadata"].get("annotations", {})
        expected = (
            "service-wins"
            if doc["kind"] == "Service" and doc["metadata"]["name"] == FULLNAME
            else "images"
        )
        assert annotations.get("team.example.com/owner") == expected, (
            doc["kind"],
            doc["metadata"]["name"],
        )
    # Fixed annotations stay beside them.
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    test_pod = one(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"


def test_no_annotations_block_without_annotations() -> None:
    for doc in render_case("default"):
        if doc["kind"] in ("ConfigMap", "Service", "Deployment", "ServiceAccount"):
            assert "annotations" not in doc["metadata"], doc["kind"]


def test_sidecars_and_init_containers() -> None:
    docs = render(
        {
            "sidecars": [
                {
                    "name": "shipper",
                    "image": "example.com/shipper:1",
                    "args": ["{{ .Release.Name }}"],
                }
            ],
            "initContainers": [{"name": "warm", "image": "example.com/warm:1"}],
        }
    )
    spec = pod_template(api_deployment(docs))["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["migrate", "warm"]
    assert [c["name"] for c in spec["containers"]] == ["api", "shipper"]
    assert spec["containers"][1]["args"] == [RELEASE]
    only_init = render(
        {"migration": {"enabled": False}, "initContainers": [{"name": "warm", "image": "x:1"}]}
    )
    assert [
        c["name"] for c in pod_template(api_deployment(only_init))["spec"]["initContainers"]
    ] == ["warm"]
    none = render({"migration": {"enabled": False}})
    assert "initContainers" not in pod_template(api_deployment(none))["spec"]


def test_extra_objects() -> None:
    docs = render(
        {
            "extraObjects": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "{{ .Release.Name }}-extra", "namespace": NAMESPACE},
                },
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: raw-extra\n  namespace: "
                + NAMESPACE
                + "\n",
            ]
        }
    )
    assert find(docs, "ConfigMap", f"{RELEASE}-extra")
    assert find(docs, "Secret", "raw-extra")


@pytest.mark.parametrize(
    ("values", "url"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"ingress": {"enabled": True}}, "http://pixyproxy.example.com"),
        (
            {
                "ingress": {
                    "enabled": True,
                    "hosts": [
                        {
                            "host": "img.example.com",
                            "paths": [{"path": "/pixy/", "pathType": "Prefix"}],
                        }
                    ],
                    "tls": [{"hosts": ["img.example.com"], "secretName": "tls"}],
                }
            },
            "https://img.example.com/pixy",
        ),
        (
            {
                "httpRoute": {
                    "enabled": True,
                    "parentRefs": [{"name": "public"}],
                    "hostnames": ["images.example.com"],
                }
            },
            "https://images.example.com",
        ),
        (
            {
                "httpRoute": {
                    "enabled": True,
                    "parentRefs": [{"name": "public"}],
                    "pathPrefix": "/api/",
                }
            },
            "http://GATEWAY_ADDRESS/api",
        ),
    ],
    ids=["port-forward", "ingress", "ingress-tls-path", "httproute-host", "httproute-no-host"],
)
def test_notes_show_the_url_callers_use(values: dict, url: str) -> None:
    notes = _notes(values)
    assert f"export PIXY_URL={url}\n" in notes
    assert "$PIXY_URL/image" in notes
    if url.startswith("http://127.0.0.1"):
        assert "port-forward" in notes
    else:
        assert "port-forward" not in notes
