"""The registry conformance suite against the SQL store: SQLite, PostgreSQL and MariaDB/MySQL.

Every test gets a fresh, empty registry sharing its database (the same
:class:`~trackyard_sql.database.Database`, so the same engine) with a SQL tracking store, as a
client whose registry URI defaults to its tracking URI does:

- SQLite: a new database file under the test's ``tmp_path``, an in-memory database, and the
  portable statement path (no upserts) that untested dialects such as MSSQL use;
- PostgreSQL / MariaDB: this xdist worker's own database (``tests._services``), emptied before
  each test. These skip with a reason when ``TRACKYARD_TEST_POSTGRES_URI`` /
  ``TRACKYARD_TEST_MYSQL_URI`` is unset.
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
from trackyard.testing import RegistryStoreSuite
from trackyard_sql.registry import SqlRegistryStore
from trackyard_sql.schema import REGISTRY_TABLES, TRACKING_TABLES, WEBHOOK_TABLES
from trackyard_sql.tracking import SqlTrackingStore

_engines: dict[str, Any] = {}


def empty_database(uri: str) -> None:
    """Delete every row of the registry and tracking tables (children first)."""
    import sqlalchemy as sa

    engine = _engines.get(uri)
    if engine is None:
        engine = _engines[uri] = sa.create_engine(uri, pool_size=1)
    with engine.begin() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        for table in (
            *reversed(WEBHOOK_TABLES),
            *reversed(REGISTRY_TABLES),
            *reversed(TRACKING_TABLES),
        ):
            if table in existing:
                conn.exec_driver_sql(f"DELETE FROM {table}")


def _stores(
    uri: str, tmp_path: Path, *, portable: bool = False
) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
    tracking = SqlTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "artifacts"))
    if portable:
        tracking._use_portable_statements()
    registry = SqlRegistryStore(store_uri=uri)
    assert registry.database is tracking.database
    try:
        yield registry, tracking
    finally:
        registry.close()
        tracking.close()


class _SqlSuite(RegistryStoreSuite):
    """Shared fixtures: ``sql_stores`` yields (registry store, tracking store)."""

    covers = "trackyard_sql.registry:SqlRegistryStore"

    @pytest.fixture
    def sql_stores(self, tmp_path: Path) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
        raise NotImplementedError  # each backend below overrides this

    @pytest.fixture
    def registry_store(self, sql_stores: tuple[SqlRegistryStore, SqlTrackingStore]) -> Any:
        return sql_stores[0]

    @pytest.fixture
    def tracking_store(self, sql_stores: tuple[SqlRegistryStore, SqlTrackingStore]) -> Any:
        return sql_stores[1]


class TestSqliteFile(_SqlSuite):
    @pytest.fixture
    def sql_stores(self, tmp_path: Path) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
        yield from _stores(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path)


class TestSqliteMemory(_SqlSuite):
    @pytest.fixture
    def sql_stores(self, tmp_path: Path) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
        yield from _stores("sqlite://", tmp_path)

    def test_concurrent_processes_create_versions(
        self, registry_client: Any, tmp_path: Path
    ) -> None:
        pytest.skip("an in-memory SQLite database lives in one process")


class TestSqlitePortableStatements(_SqlSuite):
    """The statements used on dialects without upsert syntax (e.g. MSSQL), run on SQLite."""

    @pytest.fixture
    def sql_stores(self, tmp_path: Path) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
        yield from _stores(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path, portable=True)


@requires_postgres
class TestPostgres(_SqlSuite):
    @pytest.fixture
    def sql_stores(self, tmp_path: Path) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
        uri = worker_database_uri(postgres_base_uri(), "registry")
        empty_database(uri)
        yield from _stores(uri, tmp_path)


@requires_mysql
class TestMySQL(_SqlSuite):
    @pytest.fixture
    def sql_stores(self, tmp_path: Path) -> Iterator[tuple[SqlRegistryStore, SqlTrackingStore]]:
        uri = worker_database_uri(mysql_base_uri(), "registry")
        empty_database(uri)
        yield from _stores(uri, tmp_path)
