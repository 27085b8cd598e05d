"""The README's performance figures are what ``make bench-report`` makes from the
committed results, never typed by hand."""

from __future__ import annotations

import pytest

from bench import readme


def test_the_readme_performance_section_is_generated_from_the_committed_results() -> None:
    bench, scale = readme._load(readme.RESULTS), readme._load(readme.SCALE_RESULTS)
    if bench is None and scale is None:
        pytest.skip("no bench/results*.json committed yet")
    current = readme.README.read_text()
    assert readme.replaced(current, readme.section(bench, scale)) == current, (
        "run `make bench-report`"
    )
