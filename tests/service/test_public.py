"""Whose keys and quota an anonymous generation counts against: its client address (an IPv6
client's /64), never a name a token's subject could hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixyproxy.service.public import anonymous_owner
from pixyproxy.web.claims import subject_problem


@pytest.mark.parametrize(
    ("client", "owner"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_an_anonymous_owner_is_its_client_address(client: str | None, owner: str) -> None:
    assert anonymous_owner(client) == f"\x01anonymous {owner}"


@given(st.ip_addresses().map(str) | st.text(max_size=50) | st.none())
def test_no_subject_can_name_an_anonymous_owner(client: str | None) -> None:
    assert subject_problem(anonymous_owner(client)) is not None
