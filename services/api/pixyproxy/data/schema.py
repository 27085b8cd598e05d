"""The schema, as numbered migrations. Applied in order by ``init.migrate``.

Each migration holds its statements for both dialects side by side, so one cannot gain a
migration the other lacks; ``tests/data/test_schema.py`` checks that the two resulting
schemas have the same tables, columns, keys and indexes, and that every field of a record
(``core/models.py``) is a column. What only one dialect has (a MySQL collation, a FULLTEXT
index, a SQLite FTS5 table) is written in that dialect's statements, and the index or the
tables are named in that test's MYSQL_ONLY_INDEXES / SQLITE_ONLY_TABLES.

A step is a statement or, where SQL cannot compute what a column holds (an image's
search words: ``data/search.py``), a function given the migration's cursor.

A migration is never edited once released; changes come as a new number. ``images`` keeps
the column names of the brief (id, guid, filename, prompt, created_at, updated_at).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pixyproxy.data.database import Cursor, Dialect
from pixyproxy.data.search import fill_prompt_words

Step = str | Callable[[Cursor], None]


@dataclass(frozen=True)
class Statements:
    """The same change, as MySQL (and MariaDB) and as SQLite spell it."""

    mysql: tuple[Step, ...]
    sqlite: tuple[Step, ...]

    def for_dialect(self, dialect: Dialect) -> tuple[Step, ...]:
        return self.mysql if dialect == "mysql" else self.sqlite


MIGRATIONS: dict[int, Statements] = {
    1: Statements(
        mysql=(
            """
            CREATE TABLE IF NOT EXISTS images (
                id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
                guid CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                filename VARCHAR(255) NOT NULL,
                prompt TEXT NOT NULL,
                author VARCHAR(255) NULL,
                private TINYINT(1) NOT NULL DEFAULT 0,
                content_type VARCHAR(64) CHARACTER SET ascii NOT NULL DEFAULT 'image/png',
                size_bytes INT UNSIGNED NOT NULL,
                width SMALLINT UNSIGNED NOT NULL,
                height SMALLINT UNSIGNED NOT NULL,
                model VARCHAR(100) NOT NULL,
                sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
                created_at DATETIME(6) NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                PRIMARY KEY (id),
                UNIQUE KEY uq_images_guid (guid),
                KEY ix_images_author (author, id),
                KEY ix_images_private (private, id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
            """
            CREATE TABLE IF NOT EXISTS image_tags (
                image_id BIGINT UNSIGNED NOT NULL,
                tag VARCHAR(50) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                position SMALLINT UNSIGNED NOT NULL,
                PRIMARY KEY (image_id, tag),
                KEY ix_image_tags_tag (tag, image_id),
                CONSTRAINT fk_image_tags_image FOREIGN KEY (image_id)
                    REFERENCES images (id) ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
            """,
        ),
        sqlite=(
            """
            CREATE TABLE IF NOT EXISTS images (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                guid TEXT NOT NULL UNIQUE,
                filename TEXT NOT NULL,
                prompt TEXT NOT NULL,
                author TEXT NULL,
                private INTEGER NOT NULL DEFAULT 0,
                content_type TEXT NOT NULL DEFAULT 'image/png',
                size_bytes INTEGER NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                model TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_images_author ON images (author, id)",
            "CREATE INDEX IF NOT EXISTS ix_images_private ON images (private, id)",
            """
            CREATE TABLE IF NOT EXISTS image_tags (
                image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                position INTEGER NOT NULL,
                PRIMARY KEY (image_id, tag)
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_image_tags_tag ON image_tags (tag, image_id)",
        ),
    ),
    2: Statements(
        mysql=(
            """
            CREATE TABLE IF NOT EXISTS idempotency_keys (
                owner VARCHAR(255) NOT NULL,
                idem_key VARCHAR(255) NOT NULL,
                request_hash CHAR(64) CHARACTER SET ascii NOT NULL,
                state VARCHAR(16) CHARACTER SET ascii NOT NULL,
                response MEDIUMTEXT NULL,
                created_at DATETIME(6) NOT NULL,
                expires_at DATETIME(6) NOT NULL,
                PRIMARY KEY (owner, idem_key),
                KEY ix_idempotency_keys_expires (expires_at)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
            """,
            """
            CREATE TABLE IF NOT EXISTS generation_counts (
                owner VARCHAR(255) NOT NULL,
                window_start BIGINT NOT NULL,
                generations INT UNSIGNED NOT NULL,
                PRIMARY KEY (owner, window_start)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
            """,
        ),
        sqlite=(
            """
            CREATE TABLE IF NOT EXISTS idempotency_keys (
                owner TEXT NOT NULL,
                idem_key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                state TEXT NOT NULL,
                response TEXT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                PRIMARY KEY (owner, idem_key)
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_idempotency_keys_expires"
            " ON idempotency_keys (expires_at)",
            """
            CREATE TABLE IF NOT EXISTS generation_counts (
                owner TEXT NOT NULL,
                window_start INTEGER NOT NULL,
                generations INTEGER NOT NULL,
                PRIMARY KEY (owner, window_start)
            )
            """,
        ),
    ),
    # Identities compare byte for byte. MySQL's text collations fold case, accents,
    # trailing spaces and ignorable code points (utf8mb4_bin is PAD SPACE: "a " = "a"), so
    # the author and the owners become VARBINARY, which compares every byte on MySQL and
    # MariaDB alike; SQLite's TEXT compares bytes already. Each holds up to 255 characters
    # of UTF-8. And an idempotency key names the image its request stores, so a retry finds
    # an image that was committed when recording the answer failed.
    3: Statements(
        mysql=(
            "ALTER TABLE images MODIFY author VARBINARY(1020) NULL",
            "ALTER TABLE generation_counts MODIFY owner VARBINARY(1020) NOT NULL",
            """
            ALTER TABLE idempotency_keys
                MODIFY owner VARBINARY(1020) NOT NULL,
                MODIFY idem_key VARBINARY(255) NOT NULL,
                ADD COLUMN image_guid CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL
            """,
        ),
        sqlite=("ALTER TABLE idempotency_keys ADD COLUMN image_guid TEXT NULL",),
    ),
    # Images change (PATCH) and go (DELETE, prune): every write to an image adds a row to
    # image_changes in its own transaction, which every worker of every replica reads to
    # drop what its caches hold of it (service/coherence.py). Deleting an image marks the
    # idempotency keys that name it, found through their image_guid.
    4: Statements(
        mysql=(
            """
            CREATE TABLE IF NOT EXISTS image_changes (
                id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
                guid CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
                changed_at DATETIME(6) NOT NULL,
                PRIMARY KEY (id),
                KEY ix_image_changes_changed (changed_at)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
            """,
            "ALTER TABLE idempotency_keys ADD KEY ix_idempotency_keys_image (image_guid)",
        ),
        sqlite=(
            """
            CREATE TABLE IF NOT EXISTS image_changes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                guid TEXT NOT NULL,
                kind TEXT NOT NULL,
                changed_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS ix_image_changes_changed ON image_changes (changed_at)",
            "CREATE INDEX IF NOT EXISTS ix_idempotency_keys_image ON idempotency_keys (image_guid)",
        ),
    ),
    # ``q`` on a full-text index (README, "Search"; data/search.py): each image's words as
    # index tokens, filled in for the images already there, then indexed. On MySQL an
    # InnoDB FULLTEXT index (its first on the table: InnoDB rebuilds the table once to add
    # its document id); on SQLite an FTS5 table over the column, external content, kept in
    # step by triggers in the writing transaction itself. And the author index holds
    # ``private`` before the id, so a viewer's own private images are a range of their own
    # (data/images.py, list_query), however many public ones they have.
    5: Statements(
        mysql=(
            "ALTER TABLE images ADD COLUMN prompt_words TEXT CHARACTER SET ascii NULL,"
            " DROP INDEX ix_images_author, ADD INDEX ix_images_author (author, private, id)",
            fill_prompt_words,
            "ALTER TABLE images ADD FULLTEXT INDEX ft_images_prompt_words (prompt_words)",
        ),
        sqlite=(
            "ALTER TABLE images ADD COLUMN prompt_words TEXT NULL",
            "DROP INDEX ix_images_author",
            "CREATE INDEX ix_images_author ON images (author, private, id)",
            fill_prompt_words,
            "CREATE VIRTUAL TABLE images_fts USING fts5("
            "prompt_words, content='images', content_rowid='id', tokenize='ascii', detail=none)",
            "INSERT INTO images_fts (images_fts) VALUES ('rebuild')",
            """
            CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
                INSERT INTO images_fts (rowid, prompt_words) VALUES (new.id, new.prompt_words);
            END
            """,
            """
            CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
                INSERT INTO images_fts (images_fts, rowid, prompt_words)
                    VALUES ('delete', old.id, old.prompt_words);
            END
            """,
            """
            CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt_words ON images BEGIN
                INSERT INTO images_fts (images_fts, rowid, prompt_words)
                    VALUES ('delete', old.id, old.prompt_words);
                INSERT INTO images_fts (rowid, prompt_words) VALUES (new.id, new.prompt_words);
            END
            """,
        ),
    ),
}

VERSION_TABLE = Statements(
    mysql=(
        """
        CREATE TABLE IF NOT EXISTS schema_version (
            version INT NOT NULL PRIMARY KEY,
            applied_at DATETIME(6) NOT NULL
        ) ENGINE=InnoDB
        """,
    ),
    sqlite=(
        """
        CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER NOT NULL PRIMARY KEY,
            applied_at TEXT NOT NULL
        )
        """,
    ),
)

LATEST_VERSION = max(MIGRATIONS)
