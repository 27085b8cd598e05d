"""Storage settings that cannot work together stop the start with one line naming them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pixyproxy.core.errors import ConfigurationError


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"storage_backend": "s3"}, "PIXY_S3_BUCKET"),
        ({"storage_backend": "s3", "s3_bucket": "b", "s3_prefix": "/images/"}, "PIXY_S3_PREFIX"),
        ({"storage_backend": "s3", "s3_bucket": "b", "s3_prefix": "images"}, "PIXY_S3_PREFIX"),
        (
            {"storage_backend": "s3", "s3_bucket": "b", "content_offload": "x-accel"},
            "PIXY_CONTENT_OFFLOAD",
        ),
        ({"content_offload_prefix": "_protected/"}, "PIXY_CONTENT_OFFLOAD_PREFIX"),
        ({"content_offload_prefix": "/_protected/../"}, "PIXY_CONTENT_OFFLOAD_PREFIX"),
    ],
)
def test_incoherent_storage_settings_are_refused(
    make_settings: Callable[..., Any], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_settings(**overrides)


def test_offload_and_s3_each_start_on_their_own(make_settings: Callable[..., Any]) -> None:
    assert make_settings(content_offload="x-accel").content_offload == "x-accel"
    assert make_settings(storage_backend="s3", s3_bucket="b").s3_bucket == "b"
