"""The tracking conformance suite against the SQL store: SQLite, PostgreSQL and MariaDB/MySQL.

Every test gets a fresh, empty store (only the Default experiment):

- SQLite: a new database file under the test's ``tmp_path`` (also an in-memory database, and
  the portable statement path that untested dialects such as MSSQL use);
- PostgreSQL / MariaDB: this xdist worker's own database (``tests._services``), emptied before
  each test; the store then recreates the Default experiment, as MLflow's does. These skip with
  a reason when ``TRACKYARD_TEST_POSTGRES_URI`` / ``TRACKYARD_TEST_MYSQL_URI`` is unset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import (
    mysql_base_uri,
    postgres_base_uri,
    requires_mysql,
    requires_postgres,
    worker_database_uri,
)
from trackyard.testing import TraceStoreSuite, TrackingStoreSuite
from trackyard_sql.schema import TRACE_TABLES, TRACKING_TABLES
from trackyard_sql.tracking import SqlTrackingStore

_engines: dict[str, Any] = {}
# children first: they reference runs and experiments
LOGGED_MODEL_TABLES = (
    "logged_model_metrics",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
)
# children first: spans and assessments reference traces, traces reference experiments
TRACE_CHILD_TABLES = ("span_metrics", "trace_metrics", *reversed(TRACE_TABLES))


def empty_database(uri: str) -> None:
    """Delete every row of the tracking tables (children first); keep the tables."""
    import sqlalchemy as sa

    engine = _engines.get(uri)
    if engine is None:  # one pooled engine per database: connecting to MariaDB takes ~50 ms
        engine = _engines[uri] = sa.create_engine(uri, pool_size=1)
    with engine.begin() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        for table in (*TRACE_CHILD_TABLES, *LOGGED_MODEL_TABLES, *reversed(TRACKING_TABLES)):
            if table in existing:
                conn.exec_driver_sql(f"DELETE FROM {table}")


def _store(uri: str, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "artifacts"))
    try:
        yield store
    finally:
        store.close()


class TestSqliteFile(TrackingStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        yield from _store(f"sqlite:///{tmp_path / 'tracking.db'}", tmp_path)


class TestSqliteMemory(TrackingStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        yield from _store("sqlite://", tmp_path)

    def test_concurrent_processes_log_to_one_store(self, client: Any, tmp_path: Path) -> None:
        pytest.skip("an in-memory SQLite database lives in one process")


class TestSqlitePortableStatements(TrackingStoreSuite):
    """The statements used on dialects without upsert syntax (e.g. MSSQL), run on SQLite."""

    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        for store in _store(f"sqlite:///{tmp_path / 'tracking.db'}", tmp_path):
            store._use_portable_statements()
            yield store


@requires_postgres
class TestPostgres(TrackingStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        uri = worker_database_uri(postgres_base_uri(), "conformance")
        empty_database(uri)
        yield from _store(uri, tmp_path)


@requires_mysql
class TestMySQL(TrackingStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        uri = worker_database_uri(mysql_base_uri(), "conformance")
        empty_database(uri)
        yield from _store(uri, tmp_path)


class TestSqliteTraces(TraceStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        yield from _store(f"sqlite:///{tmp_path / 'traces.db'}", tmp_path)


class TestSqlitePortableTraces(TraceStoreSuite):
    """Traces through the portable statements of untested dialects, on SQLite."""

    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        for store in _store(f"sqlite:///{tmp_path / 'traces.db'}", tmp_path):
            store._use_portable_statements()
            yield store


@requires_postgres
class TestPostgresTraces(TraceStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        uri = worker_database_uri(postgres_base_uri(), "conformance")
        empty_database(uri)
        yield from _store(uri, tmp_path)


@requires_mysql
class TestMySQLTraces(TraceStoreSuite):
    covers = "trackyard_sql.tracking:SqlTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[SqlTrackingStore]:
        uri = worker_database_uri(mysql_base_uri(), "conformance")
        empty_database(uri)
        yield from _store(uri, tmp_path)
