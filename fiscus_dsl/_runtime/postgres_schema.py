"""The tables of ``PostgresRunStore`` and their migrations, one step at a time.

The schema version is the one row of ``fiscus_schema``. ``prepare`` takes
a database from the version it holds to ``SCHEMA_VERSION``: each step runs
in a transaction under ``pg_advisory_xact_lock`` and reads the version
again, so processes opening a new database at once do not collide; a
newer version is refused. Imports psycopg for its types only; knows no HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from fiscus_dsl._runtime.store import SCHEMA_VERSION
from fiscus_dsl.errors import ResumeError

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

# The key of the advisory lock migrations take ("fiscus" in ASCII).
_SCHEMA_LOCK: Final = 0x666973637573

# The first tables are schema version 2, the layout SQLiteRunStore has at
# that number; each later version adds a step here and one to SQLite's.
_VERSION_2: Final = """
CREATE TABLE fiscus_schema (version integer NOT NULL);
INSERT INTO fiscus_schema (version) VALUES (0);
CREATE TABLE runs (
    run_id text PRIMARY KEY,
    workflow text NOT NULL,
    status text NOT NULL,
    inputs text,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    error_message text,
    source text,
    owner text,
    lease_expires_at timestamptz
);
CREATE TABLE task_batches (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_count integer NOT NULL,
    body json NOT NULL
);
CREATE INDEX task_batches_by_run ON task_batches (run_id, id);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_workflow ON runs (workflow, started_at);
CREATE VIEW tasks AS SELECT run_id, task_id, name, status, value, error_type,
    error_message, attempts, started_at, ended_at, inputs_digest, code_version
FROM (
    SELECT batch.run_id, item ->> 0 AS task_id, item ->> 1 AS name,
        item ->> 2 AS status, item ->> 3 AS value, item ->> 4 AS error_type,
        item ->> 5 AS error_message, (item ->> 6)::integer AS attempts,
        to_timestamp((item ->> 7)::float8) AS started_at,
        to_timestamp((item ->> 8)::float8) AS ended_at,
        item ->> 9 AS inputs_digest, item ->> 10 AS code_version,
        row_number() OVER (PARTITION BY batch.run_id, item ->> 0
            ORDER BY batch.id DESC, position DESC) AS newest
    FROM task_batches AS batch,
        json_array_elements(batch.body) WITH ORDINALITY AS element (item, position)
) AS records WHERE newest = 1;
"""
# Each step: the version it starts from -> (the version it makes, its SQL).
_VERSION_3: Final = """
ALTER TABLE runs ADD COLUMN task_count integer;
"""
# 3 -> 4: the reason a task was skipped or not run, in the view too.
_VERSION_4: Final = """
DROP VIEW tasks;
CREATE VIEW tasks AS SELECT run_id, task_id, name, status, value, error_type,
    error_message, attempts, started_at, ended_at, inputs_digest, code_version,
    reason
FROM (
    SELECT batch.run_id, item ->> 0 AS task_id, item ->> 1 AS name,
        item ->> 2 AS status, item ->> 3 AS value, item ->> 4 AS error_type,
        item ->> 5 AS error_message, (item ->> 6)::integer AS attempts,
        to_timestamp((item ->> 7)::float8) AS started_at,
        to_timestamp((item ->> 8)::float8) AS ended_at,
        item ->> 9 AS inputs_digest, item ->> 10 AS code_version,
        item ->> 11 AS reason,
        row_number() OVER (PARTITION BY batch.run_id, item ->> 0
            ORDER BY batch.id DESC, position DESC) AS newest
    FROM task_batches AS batch,
        json_array_elements(batch.body) WITH ORDINALITY AS element (item, position)
) AS records WHERE newest = 1;
"""
_STEPS: Final = {0: (2, _VERSION_2), 2: (3, _VERSION_3), 3: (4, _VERSION_4)}
assert max(to for to, _ in _STEPS.values()) == SCHEMA_VERSION


def prepare(connection: Connection, store: str) -> None:
    """Migrate the tables one step at a time, or refuse a newer schema."""
    while True:
        version = _schema_version(connection)
        if version > SCHEMA_VERSION:
            msg = (
                f"Run store {store} has schema version {version}, newer than "
                f"the {SCHEMA_VERSION} this fiscus_dsl reads; upgrade "
                "fiscus_dsl, or use another database"
            )
            raise ResumeError(msg, run_id=None)
        if version == SCHEMA_VERSION:
            return
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            # Another process may have taken this step while we waited.
            if _schema_version(connection) == version:
                to, statements = _STEPS[version]
                connection.execute(statements)
                connection.execute("UPDATE fiscus_schema SET version = %s", (to,))


def _schema_version(connection: Connection) -> int:
    """Return the version ``fiscus_schema`` holds: 0 before the first step."""
    # pg_tables is read with the statement's snapshot; to_regclass would read
    # the catalog cache, which may not yet show a table another process made
    # while this one waited for the advisory lock.
    row = connection.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename = 'fiscus_schema'"
    ).fetchone()
    if row is None or not row[0]:
        return 0
    found = connection.execute("SELECT max(version) FROM fiscus_schema").fetchone()
    return 0 if found is None or found[0] is None else int(found[0])
