"""How long one write transaction can take, from the settings that bound each of its steps:
the floor of ``pixyproxy storage check``'s grace period (``service/maintenance.py``), which
must outlast the time between a new file's rename and its row's commit.

On MySQL (``mysql.py``) a write waits for a free slot and for the checkout gate
(``PIXY_DB_POOL_TIMEOUT_S`` each); may open a connection at checkout and again in
``begin()`` (TCP connect, greeting, authentication and its switch, autocommit, the init
command: ``PIXY_DB_CONNECT_TIMEOUT_S`` each); then pings, begins, inserts the image, its
tags and its change (three statements: ``images.py``) and commits, each sent within
``PIXY_DB_WRITE_TIMEOUT_S`` and answered within ``PIXY_DB_READ_TIMEOUT_S``. On SQLite a
writer waits at most its busy timeout (``PIXY_DB_POOL_TIMEOUT_S``) for the lock; its
statements are local.

Imports nothing that imports prometheus_client: the ``pixyproxy`` command's parser states
the floor (``cli/__init__.py``).
"""

from __future__ import annotations

from pixyproxy.core.settings import Settings

CONNECT_ROUND_TRIPS = 6
# ping, BEGIN, INSERT images, INSERT image_tags, INSERT image_changes, COMMIT
WRITE_ROUND_TRIPS = 6
# The longest write to an image, an edit: ping, BEGIN, SELECT the row and its tags (locked),
# UPDATE images, DELETE and INSERT image_tags, INSERT image_changes, COMMIT. How long a
# change's id may stay uncommitted (data/changes.py).
EDIT_ROUND_TRIPS = 9


def longest_write_s(settings: Settings, round_trips: int = WRITE_ROUND_TRIPS) -> float:
    """How long a write transaction of ``round_trips`` statements can take at most."""
    if settings.database_url.get_secret_value().startswith("sqlite:"):
        return settings.db_pool_timeout_s
    connection = CONNECT_ROUND_TRIPS * settings.db_connect_timeout_s
    round_trip = settings.db_write_timeout_s + settings.db_read_timeout_s
    return 2 * settings.db_pool_timeout_s + 2 * connection + round_trips * round_trip
