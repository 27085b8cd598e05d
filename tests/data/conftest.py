"""The contract suites of the data layer run against each implementation of a protocol:
the SQL one on SQLite and on MariaDB/MySQL, and the in-memory fake the service tests use,
so the fake keeps the contract it stands in for."""

from __future__ import annotations

import pytest

from pixyproxy.data.database import Database


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql), "fake"])
def implementation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sql_database(implementation: str, request: pytest.FixtureRequest) -> Database | None:
    """The migrated, empty database of the implementation; None for the fake."""
    if implementation == "fake":
        return None
    database: Database = request.getfixturevalue(f"{implementation}_database")
    return database
