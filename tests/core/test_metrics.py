"""PixyProxy's own series: the labelled children the alerts select on exist from the start."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from pixyproxy.core import metrics


def _children(counter: Counter, registry_name: str) -> dict[str, float]:
    (family,) = [f for f in counter.collect() if f.name == registry_name]
    return {
        next(iter(s.labels.values())): s.value for s in family.samples if s.name.endswith("_total")
    }


def test_precreate_children_makes_every_outcome_and_kind() -> None:
    metrics.precreate_children()
    outcomes = _children(metrics.GENERATIONS, "pixyproxy_generations")
    kinds = _children(metrics.UPSTREAM_ERRORS, "pixyproxy_upstream_errors")
    assert set(metrics.GENERATION_OUTCOMES) <= set(outcomes)
    assert set(metrics.UPSTREAM_ERROR_KINDS) <= set(kinds)
    made = _children(metrics.THUMBNAILS_MADE, "pixyproxy_thumbnails_made")
    assert set(metrics.THUMBNAIL_WIDTHS) == {"128", "256", "512"} <= set(made)
    (timings,) = [f for f in metrics.THUMBNAIL_SECONDS.collect()]
    timed = {s.labels["width"] for s in timings.samples if s.name.endswith("_count")}
    assert set(metrics.THUMBNAIL_WIDTHS) <= timed


def test_a_counter_child_only_exists_once_created() -> None:
    """Why pre-creation is needed: prometheus_client shows no series for a label value
    before its child is made, and then it starts at the first increment."""
    registry = CollectorRegistry()
    counter = Counter("demo_failures", "failures", ["kind"], registry=registry)
    assert registry.get_sample_value("demo_failures_total", {"kind": "auth"}) is None
    counter.labels("auth").inc()
    assert registry.get_sample_value("demo_failures_total", {"kind": "auth"}) == 1.0
    counter.labels("timeout")
    assert registry.get_sample_value("demo_failures_total", {"kind": "timeout"}) == 0.0
