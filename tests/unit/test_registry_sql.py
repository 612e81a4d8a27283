"""The SQL registry store's own promises, checked in the database (SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trackyard.entities.model_registry import ModelVersionTag, RegisteredModelTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch
from trackyard.testing import make_client
from trackyard_sql.registry import SqlRegistryStore
from trackyard_sql.schema import HEAD_REVISION, REGISTRY_TABLES, TRACKING_TABLES, build_metadata
from trackyard_sql.tracking import SqlTrackingStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
def store(db: Path, tmp_path: Path) -> Iterator[SqlRegistryStore]:
    tracking = SqlTrackingStore(f"sqlite:///{db}", str(tmp_path / "artifacts"))
    registry = SqlRegistryStore(f"sqlite:///{db}")
    yield registry
    registry.close()
    tracking.close()


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_tables_are_mlflows(store: SqlRegistryStore, db: Path) -> None:
    pks = {
        t: [r[1] for r in sorted(rows(db, f'PRAGMA table_info("{t}")'), key=lambda r: r[5]) if r[5]]
        for t in REGISTRY_TABLES
    }
    assert pks == {
        "registered_models": ["workspace", "name"],
        "registered_model_tags": ["workspace", "key", "name"],
        "model_versions": ["workspace", "name", "version"],
        "model_version_tags": ["workspace", "key", "name", "version"],
        "registered_model_aliases": ["workspace", "name", "alias"],
    }
    assert rows(db, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'trackyard_schema'") == [(0,)]


def test_soft_delete_redacts_like_mlflow(store: SqlRegistryStore, db: Path) -> None:
    store.create_registered_model("m")
    store.create_model_version(
        "m",
        "s3://b/1",
        run_id="r1",
        run_link="http://x",
        description="d",
        tags=[ModelVersionTag("k", "v")],
    )
    store.set_registered_model_alias("m", "champ", "1")
    store.delete_model_version("m", "1")
    (row,) = rows(
        db,
        "SELECT current_stage, source, run_id, run_link, description, user_id, status_message, "
        "storage_location FROM model_versions WHERE name = 'm' AND version = 1",
    )
    assert row == (
        "Deleted_Internal",
        "REDACTED-SOURCE-PATH",
        "REDACTED-RUN-ID",
        "REDACTED-RUN-LINK",
        None,
        None,
        None,
        "s3://b/1",  # MLflow keeps the storage location
    )
    assert rows(db, "SELECT * FROM registered_model_aliases") == []
    assert rows(db, 'SELECT "key" FROM model_version_tags') == [("k",)]  # kept, as MLflow


def test_rename_leaves_no_row_behind(store: SqlRegistryStore, db: Path) -> None:
    store.create_registered_model("old", tags=[RegisteredModelTag("t", "1")])
    for i in range(3):
        store.create_model_version("old", f"s{i}", tags=[ModelVersionTag("i", str(i))])
    store.set_registered_model_alias("old", "a", "2")
    store.rename_registered_model("old", "new")
    for table in REGISTRY_TABLES:
        assert rows(db, f"SELECT count(*) FROM {table} WHERE name = 'old'") == [(0,)], table
    assert rows(db, "SELECT count(*) FROM model_version_tags WHERE name = 'new'") == [(3,)]
    assert rows(db, "SELECT alias, version FROM registered_model_aliases") == [("a", 2)]


def test_rename_with_foreign_keys_enforced(store: SqlRegistryStore, db: Path) -> None:
    store.create_registered_model("old")
    store.create_model_version("old", "s", tags=[ModelVersionTag("k", "v")])
    store.set_registered_model_alias("old", "a", "1")
    with sqlite3.connect(db) as conn:  # as MLflow's schema, but with SQLite enforcing it
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    store.rename_registered_model("old", "new")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_registered_model("n" * 257),
        lambda s: s.create_registered_model("x", description="d" * 5001),
        lambda s: s.set_registered_model_tag("m", RegisteredModelTag("k", "v" * 5001)),
        lambda s: s.create_model_version("m", "s" * 501),
        lambda s: s.create_model_version("m", "s", run_id="r" * 33),
        lambda s: s.create_model_version("m", "s", run_link="l" * 501),
        lambda s: s.update_model_version("m", "1", "d" * 5001),
        lambda s: s.set_registered_model_alias("m", "a" * 257, "1"),
        lambda s: s.rename_registered_model("m", "n" * 257),
    ],
)
def test_values_wider_than_their_column(store: SqlRegistryStore, db: Path, call: Any) -> None:
    store.create_registered_model("m")
    store.create_model_version("m", "s")
    before = {t: rows(db, f"SELECT * FROM {t}") for t in REGISTRY_TABLES}
    with pytest.raises(TrackyardError) as excinfo:
        call(store)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "holds at most" in excinfo.value.message
    assert {t: rows(db, f"SELECT * FROM {t}") for t in REGISTRY_TABLES} == before


def _statements(store: SqlRegistryStore) -> list[str]:
    """Trace the SQL statements sent on the store's next connection checkouts."""
    seen: list[str] = []
    import sqlalchemy as sa

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    store.database.engine.dispose()  # new connections get the trace
    sa.event.listen(store.database.engine, "connect", trace)
    return seen


def test_a_search_page_is_one_query(store: SqlRegistryStore) -> None:
    for m in range(3):
        store.create_registered_model(f"m{m}", tags=[RegisteredModelTag("t", "x")])
        for _ in range(4):
            store.create_model_version(f"m{m}", "s", tags=[ModelVersionTag("a", "b")])
        store.set_registered_model_alias(f"m{m}", "champ", "2")
    seen = _statements(store)
    page = store.search_model_versions(ModelVersionSearch.parse("name LIKE 'm%'", 5))
    assert len(page) == 5 and page.token
    assert all(v.tags == {"a": "b"} for v in page)
    queries = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 1, seen
    seen.clear()
    models = store.search_registered_models(RegisteredModelSearch.parse(max_results=2))
    assert [m.aliases for m in models] == [{"champ": "2"}, {"champ": "2"}]
    assert [len(m.latest_versions) for m in models] == [1, 1]
    queries = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 1, seen


def test_registry_shares_the_tracking_database(tmp_path: Path) -> None:
    from trackyard.backends import clear_store_cache, get_registry_store, get_tracking_store

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    try:
        registry = get_registry_store(uri, uri)
        assert isinstance(registry, SqlRegistryStore)
        tracking = get_tracking_store(uri)
        assert isinstance(tracking, SqlTrackingStore)
        assert registry.database is tracking.database
        assert registry.database.engine is tracking.database.engine
    finally:
        clear_store_cache()


def test_opening_a_registry_database_twice(
    store: SqlRegistryStore, db: Path, tmp_path: Path
) -> None:
    store.create_registered_model("m")
    again = SqlRegistryStore(f"sqlite:///{db}")
    try:
        assert again.get_registered_model("m").name == "m"
    finally:
        again.close()


def test_an_old_mlflow_schema_is_reported(tmp_path: Path) -> None:
    import sqlalchemy as sa

    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    build_metadata("sqlite").create_all(engine)
    engine.dispose()
    with sqlite3.connect(db) as conn:  # MLflow-made registry tables from before workspaces
        conn.execute("INSERT INTO alembic_version VALUES ('0584bdc529eb')")
        conn.execute("DROP TABLE registered_models")
        conn.execute("CREATE TABLE registered_models (name VARCHAR(256) PRIMARY KEY)")
    with pytest.raises(TrackyardError, match="mlflow db upgrade") as excinfo:
        SqlRegistryStore(f"sqlite:///{db}")
    assert excinfo.value.error_code == ErrorCode.INVALID_STATE
    assert "registered_models.creation_time" in excinfo.value.message


def test_client_over_the_sql_store(store: SqlRegistryStore) -> None:
    client = make_client(registry_store=store)
    client.create_registered_model("m")
    assert client.create_model_version("m", "s").version == "1"


def test_a_newer_trackyard_schema_is_refused(tmp_path: Path) -> None:
    """A database an older trackyard made is upgraded, unless a newer one made it."""
    db = tmp_path / "legacy.db"
    SqlTrackingStore(f"sqlite:///{db}", str(tmp_path / "a")).close()
    keep = {*TRACKING_TABLES, *REGISTRY_TABLES}
    with sqlite3.connect(db) as conn:  # what trackyard created before MLflow's head schema
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (table,) in tables:
            if table not in keep:
                conn.execute(f'DROP TABLE "{table}"')
        conn.execute("CREATE TABLE trackyard_schema (name VARCHAR(64) PRIMARY KEY, version INT)")
        conn.execute("INSERT INTO trackyard_schema VALUES ('tracking', 1), ('registry', 99)")
    with pytest.raises(TrackyardError, match="newer trackyard") as excinfo:
        SqlRegistryStore(f"sqlite:///{db}")
    assert excinfo.value.error_code == ErrorCode.INVALID_STATE
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'") == [(0,)]


def test_requests_built_without_order_keys(store: SqlRegistryStore) -> None:
    for name in ("b", "a"):
        store.create_registered_model(name)
        store.create_model_version(name, "s")
    assert [
        m.name for m in store.search_registered_models(RegisteredModelSearch(max_results=5))
    ] == [
        "a",
        "b",
    ]
    versions = store.search_model_versions(ModelVersionSearch(max_results=1))
    assert [v.name for v in versions] == ["a"] and versions.token
