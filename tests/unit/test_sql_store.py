"""Behaviour specific to the SQL tracking store (the shared behaviour is in the conformance kit).

Tests parametrized over ``dialect`` run on SQLite, on SQLite through the portable statements
(what untested dialects such as MSSQL use), and on PostgreSQL and MariaDB/MySQL when
``TRACKYARD_TEST_POSTGRES_URI`` / ``TRACKYARD_TEST_MYSQL_URI`` are set (they skip otherwise).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from trackyard import search
from trackyard.entities import Experiment, Metric, PagedList, Param, Run, RunTag, ViewType
from trackyard.errors import ErrorCode, PluginLoadError, TrackyardError
from trackyard.search.request import ExperimentSearch, RunSearch
from trackyard.testing import make_client
from trackyard_sql.schema import HEAD_REVISION, HEAD_TABLES, build_metadata
from trackyard_sql.tracking import SqlTrackingStore
from trackyard_sql.writes import RunWriter

T0 = 1_700_000_000_000
DBL_MAX = 1.7976931348623157e308

StoreFactory = Callable[[], SqlTrackingStore]


# ---------------------------------------------------------------------------------------------
# Fixtures


def _drop_tables(uri: str) -> None:
    """Drop every table so the next store creates the schema afresh."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            md = sa.MetaData()
            md.reflect(conn)
            md.drop_all(conn)
    finally:
        engine.dispose()


def _runs(
    store: SqlTrackingStore,
    experiment_ids: list[str],
    filter_string: str = "",
    view_type: int = ViewType.ALL,
    order_by: list[str] | None = None,
) -> PagedList[Run]:
    return store.search_runs(
        RunSearch.parse(experiment_ids, filter_string, view_type, 50000, order_by)
    )


def _experiments(
    store: SqlTrackingStore,
    view_type: int = ViewType.ACTIVE_ONLY,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> PagedList[Experiment]:
    return store.search_experiments(
        ExperimentSearch.parse(view_type, 1000, filter_string, order_by)
    )


@pytest.fixture(params=["sqlite", "sqlite-portable", "postgresql", "mysql"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_uri(dialect: str, tmp_path: Path) -> str:
    """An empty database of ``dialect`` (no tables)."""
    if dialect.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'unit.db'}"
    base = postgres_base_uri() if dialect == "postgresql" else mysql_base_uri()
    uri = worker_database_uri(base, "sqlunit")
    _drop_tables(uri)
    return uri


@pytest.fixture
def store_factory(dialect: str, db_uri: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """Make stores on one fresh database of ``dialect`` (the first call creates the tables)."""
    made: list[SqlTrackingStore] = []

    def make() -> SqlTrackingStore:
        store = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "artifacts"))
        if dialect == "sqlite-portable":
            store._use_portable_statements()
        made.append(store)
        return store

    make.made = made  # type: ignore[attr-defined]
    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> SqlTrackingStore:
    return store_factory()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 't.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


def _code(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    return excinfo.value


def _new_run(store: SqlTrackingStore, exp: str = "0") -> str:
    return store.create_run(exp, "tester", T0, [], "r").info.run_id


# ---------------------------------------------------------------------------------------------
# Plugin wiring


def test_hook_module_imports_no_sqlalchemy() -> None:
    code = (
        "import sys, json, trackyard_sql.hooks as h\n"
        "specs = h.trackyard_tracking_stores()\n"
        "print(json.dumps({'mods': sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg', 'pymysql')), 'specs': [[list(s.schemes), s.target, "
        "s.install_hint] for s in specs]}))"
    )
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "core"), str(root / "plugins")])
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["mods"] == []
    by_scheme = {schemes[0]: (target, hint) for schemes, target, hint in result["specs"]}
    assert set(by_scheme) == {"sqlite", "postgresql", "mysql", "mssql"}
    assert {t for t, _ in by_scheme.values()} == {"trackyard_sql.tracking:SqlTrackingStore"}
    assert by_scheme["postgresql"][1] == 'pip install "trackyard[postgres]"'
    assert by_scheme["mysql"][1] == 'pip install "trackyard[mysql]"'


def test_missing_driver_is_a_plugin_load_error_with_hint() -> None:
    with pytest.raises(PluginLoadError) as excinfo:
        SqlTrackingStore("postgresql+psycopg2://u:secret@127.0.0.1:1/db", "/tmp/a")
    assert 'pip install "trackyard[postgres]"' in str(excinfo.value)
    assert "secret" not in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, ImportError)


def test_relative_sqlite_path_and_artifact_root_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", "rel-artifacts")
    store = SqlTrackingStore("sqlite:///sub.db")
    try:
        assert (tmp_path / "sub.db").exists()
        assert store.artifact_uri == str(tmp_path / "rel-artifacts")
        assert store.get_experiment("0").artifact_location == str(tmp_path / "rel-artifacts" / "0")
        exp = store.create_experiment("e", "elsewhere")
        assert store.get_experiment(exp).artifact_location == str(tmp_path / "elsewhere")
        uri_exp = store.create_experiment("s3", "s3://bucket/prefix")
        assert store.get_experiment(uri_exp).artifact_location == "s3://bucket/prefix"
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# Schema


def _tables(uri: str) -> set[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _rows(uri: str, sql: str) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def test_fresh_database_is_mlflows_head_schema(store_factory: StoreFactory, tmp_path: Path) -> None:
    store = store_factory()
    uri = str(store.store_uri)
    assert _tables(uri) == set(HEAD_TABLES)
    assert _rows(uri, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert _rows(uri, "SELECT name FROM workspaces") == [("default",)]
    row = _rows(
        uri,
        "SELECT experiment_id, name, artifact_location, lifecycle_stage, workspace "
        "FROM experiments",
    )
    assert row == [(0, "Default", str(tmp_path / "artifacts" / "0"), "active", "default")]


def test_fresh_sqlite_database_is_in_wal_mode(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_connection_settings(sqlite_store: SqlTrackingStore) -> None:
    raw = sqlite_store.database.engine.raw_connection()
    try:
        cur = raw.cursor()
        assert cur.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert cur.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert cur.execute("SELECT trackyard_lower('ÄB')").fetchone()[0] == "äb"
    finally:
        raw.close()


def _mlflow_like_sqlite(path: Path, *, workspace: bool = True, alembic: str | None = "x") -> None:
    """MLflow's head tables with a given alembic revision, maybe without workspaces."""
    import sqlalchemy as sa

    md = build_metadata("sqlite")
    if not workspace:
        exp = md.tables["experiments"]
        md.remove(exp)
        sa.Table(
            "experiments",
            md,
            *[
                sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in exp.columns
                if c.name != "workspace"
            ],
        )
    engine = sa.create_engine(f"sqlite:///{path}")
    md.create_all(engine)
    with engine.begin() as conn:
        if alembic:
            conn.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{alembic}')")
        else:
            conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()


def _make_legacy(uri: str, version: int = 1) -> None:
    """Turn a database into what trackyard created before it created MLflow's head schema.

    That was the tracking and registry tables (MLflow's layout) plus ``trackyard_schema``,
    with no ``alembic_version``: MLflow could not open it.
    """
    import sqlalchemy as sa

    from trackyard_sql.schema import REGISTRY_TABLES, TRACKING_TABLES

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            md = sa.MetaData()
            md.reflect(conn)
            keep = {*TRACKING_TABLES, *REGISTRY_TABLES}
            md.drop_all(conn, tables=[t for t in md.sorted_tables if t.name not in keep])
            conn.exec_driver_sql(
                "CREATE TABLE trackyard_schema (name VARCHAR(64) NOT NULL, "
                "version INTEGER NOT NULL, CONSTRAINT trackyard_schema_pk PRIMARY KEY (name))"
            )
            insert = sa.text("INSERT INTO trackyard_schema (name, version) VALUES (:n, :v)")
            conn.execute(insert, [{"n": "tracking", "v": version}, {"n": "registry", "v": 1}])
    finally:
        engine.dispose()


def test_legacy_trackyard_database_is_brought_to_the_head_schema(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    exp = store.create_experiment("kept")
    run = _new_run(store, exp)
    store.log_batch(run, [Metric("m", 2.0, T0, 1)], [Param("p", "v")], [RunTag("t", "x")])
    uri = str(store.store_uri)
    store.close()  # the last user: the next store opens (and bootstraps) the database again
    _make_legacy(uri)
    assert "alembic_version" not in _tables(uri)

    again = store_factory()
    assert _tables(uri) == set(HEAD_TABLES)  # trackyard_schema is gone
    assert _rows(uri, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert _rows(uri, "SELECT name FROM workspaces") == [("default",)]
    data = again.get_run(run).data
    assert (data.metrics, data.params, data.tags["t"]) == ({"m": 2.0}, {"p": "v"}, "x")
    assert again.get_experiment_by_name("kept").experiment_id == exp


def test_an_interrupted_creation_is_completed(store_factory: StoreFactory) -> None:
    """MySQL cannot roll DDL back: a creation cut short leaves some head tables, no revision."""
    import sqlalchemy as sa

    uri = str(store_factory().store_uri)
    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        late = [t for t in md.sorted_tables if t.name.startswith(("mcp_", "sql_", "alembic"))]
        md.drop_all(conn, tables=late)
    engine.dispose()
    for made in store_factory.made:  # type: ignore[attr-defined]
        made.close()
    store_factory()
    assert _tables(uri) == set(HEAD_TABLES)
    assert _rows(uri, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_tables_of_other_applications_are_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE other_app (x INTEGER)")
        conn.execute("INSERT INTO other_app VALUES (7)")
    store = SqlTrackingStore(f"sqlite:///{db}", str(tmp_path / "a"))
    store.close()
    uri = f"sqlite:///{db}"
    assert _tables(uri) == {*HEAD_TABLES, "other_app"}
    assert _rows(uri, "SELECT x FROM other_app") == [(7,)]


def test_mlflow_database_is_used_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    _mlflow_like_sqlite(db, alembic=HEAD_REVISION)
    store = SqlTrackingStore(f"sqlite:///{db}", str(tmp_path / "a"))
    try:
        run = _new_run(store)
        store.log_batch(run, [Metric("m", 1.0, T0, 0)], [Param("p", "v")], [])
        assert store.get_run(run).data.metrics == {"m": 1.0}
    finally:
        store.close()
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(HEAD_TABLES)
    assert conn.execute("SELECT * FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
    assert conn.execute("SELECT count(*) FROM workspaces").fetchall() == [(0,)]  # not added
    conn.close()


def test_database_without_workspace_column(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _mlflow_like_sqlite(db, workspace=False)
    store = SqlTrackingStore(f"sqlite:///{db}", str(tmp_path / "a"))
    try:
        assert store._workspace is None
        exp = store.create_experiment("no-ws")
        assert store.get_experiment_by_name("no-ws").experiment_id == exp
        assert [e.name for e in _experiments(store, order_by=["name"])] == [
            "Default",
            "no-ws",
        ]
        assert _code(store.create_experiment, "no-ws").error_code == (
            ErrorCode.RESOURCE_ALREADY_EXISTS
        )
    finally:
        store.close()


def test_too_old_mlflow_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ancient.db"
    _mlflow_like_sqlite(db, alembic="451aebb31d03")
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE runs DROP COLUMN deleted_time")
    conn.commit()
    conn.close()
    err = _code(SqlTrackingStore, f"sqlite:///{db}", str(tmp_path / "a"))
    assert err.error_code == ErrorCode.INVALID_STATE
    assert "runs.deleted_time" in err.message and "mlflow db upgrade" in err.message
    assert _tables(f"sqlite:///{db}") == set(HEAD_TABLES)  # nothing was changed


def test_newer_trackyard_schema_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 't.db'}"
    SqlTrackingStore(uri, str(tmp_path / "a")).close()
    _make_legacy(uri, version=99)
    err = _code(SqlTrackingStore, uri, str(tmp_path / "a"))
    assert err.error_code == ErrorCode.INVALID_STATE and "newer trackyard" in err.message
    assert "alembic_version" not in _tables(uri)  # left as it was


def test_default_experiment_is_recreated_when_missing(store_factory: StoreFactory) -> None:
    store = store_factory()
    with store.database.cursor(write=True) as cur:
        cur.execute("DELETE FROM experiments")
    again = store_factory()
    assert again.get_experiment("0").name == "Default"
    assert again.create_experiment("after") != "0"


def test_stores_of_one_database_share_it(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    assert first.database is second.database
    first.close()
    assert second.get_experiment("0").name == "Default"  # still open for the other store


def test_concurrent_first_opens_create_the_schema_once(db_uri: str) -> None:
    """Separate engines (as separate processes have) bootstrap one fresh database at once."""
    from trackyard_sql.bootstrap import prepare
    from trackyard_sql.database import Database

    errors: list[BaseException] = []

    def open_database() -> None:
        db = Database(db_uri)
        try:
            prepare(db)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.engine.dispose()

    threads = [threading.Thread(target=open_database) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert _tables(db_uri) == set(HEAD_TABLES)
    assert _rows(db_uri, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert _rows(db_uri, "SELECT name FROM workspaces") == [("default",)]


# ---------------------------------------------------------------------------------------------
# Stored values


def test_nan_and_inf_are_stored_as_mlflow_stores_them(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    run = _new_run(sqlite_store)
    sqlite_store.log_batch(
        run,
        [
            Metric("nan", math.nan, T0, 0),
            Metric("pinf", math.inf, T0, 0),
            Metric("ninf", -math.inf, T0, 0),
        ],
        [],
        [],
    )
    conn = sqlite3.connect(tmp_path / "t.db")
    for table in ("metrics", "latest_metrics"):
        rows = dict(
            (k, (v, n)) for k, v, n in conn.execute(f'SELECT "key", value, is_nan FROM {table}')
        )
        assert rows == {"nan": (0.0, 1), "pinf": (DBL_MAX, 0), "ninf": (-DBL_MAX, 0)}
    conn.close()
    metrics = sqlite_store.get_run(run).data.metrics
    assert math.isnan(metrics["nan"]) and metrics["pinf"] == math.inf
    assert metrics["ninf"] == -math.inf
    assert [m.value for m in sqlite_store.get_metric_history(run, "ninf")] == [-math.inf]


def test_values_round_trip_exactly(store: SqlTrackingStore) -> None:
    run = _new_run(store)
    values = [0.1, 1 / 3, -2.5e-310, 5e-324, 1e308, 123456789.123456789, -0.0, 2.0**53 + 1]
    store.log_batch(run, [Metric("v", v, T0 + i, i) for i, v in enumerate(values)], [], [])
    assert [m.value for m in store.get_metric_history(run, "v")] == values
    big = 2**62
    store.log_batch(run, [Metric("big", 1.0, big, -big)], [], [])
    (point,) = store.get_metric_history(run, "big")
    assert (point.timestamp, point.step) == (big, -big)


@pytest.mark.parametrize("seed", range(3))
def test_latest_metric_rule_against_a_reference(store: SqlTrackingStore, seed: int) -> None:
    """Random batches: latest_metrics equals the max by (step, timestamp, value), NaN as 0.

    On MySQL this checks the ordering of the ON DUPLICATE KEY UPDATE assignments.
    """
    rng = random.Random(seed)
    run = _new_run(store)
    best: dict[str, tuple[tuple[int, int, float], float]] = {}
    for _ in range(30):
        batch = []
        for _ in range(rng.randint(1, 8)):
            key = rng.choice("abc")
            value = rng.choice([math.nan, 0.0, -1.0, 1.0, 2.0, math.inf, -math.inf])
            point = Metric(key, value, T0 + rng.randint(0, 3), rng.randint(0, 3))
            batch.append(point)
            rank_value = 0.0 if math.isnan(value) else max(-DBL_MAX, min(DBL_MAX, value))
            rank = (point.step, point.timestamp, rank_value)
            if key not in best or rank > best[key][0]:
                best[key] = (rank, value)
        store.log_batch(run, batch, [], [])
        latest = {m.key: m for m in store.get_run(run).data.metric_objects}
        assert set(latest) == set(best)
        for key, (rank, value) in best.items():
            got = latest[key]
            assert (got.step, got.timestamp) == rank[:2]
            assert got.value == value or (math.isnan(got.value) and math.isnan(value)), key


# ---------------------------------------------------------------------------------------------
# Column widths: the same clear error on every dialect


def test_values_wider_than_their_columns_are_refused(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    def invalid(fn: Callable[..., Any], *args: Any) -> str:
        err = _code(fn, *args)
        assert err.error_code == ErrorCode.INVALID_PARAMETER_VALUE, err
        return err.message

    assert "experiments.name" in invalid(store.create_experiment, "n" * 257)
    store.create_experiment("n" * 256)
    assert "artifact_location" in invalid(store.create_experiment, "loc", "/" + "x" * 300)
    exp = store.create_experiment("ok")
    assert "experiments.name" in invalid(store.rename_experiment, exp, "r" * 257)
    assert "runs.name" in invalid(store.create_run, exp, "u", T0, [], "r" * 251)
    run = _new_run(store, exp)
    assert "runs.name" in invalid(
        store.log_batch, run, [], [], [RunTag("mlflow.runName", "r" * 251)]
    )
    assert "mlflow.runName" not in store.get_run(run).data.tags or (
        store.get_run(run).data.tags["mlflow.runName"] == "r"
    )
    long_root = SqlTrackingStore(store.store_uri, str(tmp_path / ("d" * 150)))
    try:
        deep = long_root.create_experiment("deep")
        assert "runs.artifact_uri" in invalid(long_root.create_run, deep, "u", T0, [], "r")
    finally:
        long_root.close()
    assert _runs(store, [exp], "").__len__() == 1


# ---------------------------------------------------------------------------------------------
# Strings: exact on every dialect


def test_keys_and_values_are_case_and_space_sensitive(store: SqlTrackingStore) -> None:
    run = _new_run(store)
    store.log_batch(
        run,
        [Metric("m", 1.0, T0, 0), Metric("M", 2.0, T0, 0), Metric("m ", 3.0, T0, 0)],
        [Param("p", "a"), Param("P", "b"), Param("p ", "c")],
        [RunTag("t", "x"), RunTag("T", "y")],
    )
    data = store.get_run(run).data
    assert data.metrics == {"m": 1.0, "M": 2.0, "m ": 3.0}
    assert data.params == {"p": "a", "P": "b", "p ": "c"}
    assert {k: data.tags[k] for k in ("t", "T")} == {"t": "x", "T": "y"}
    assert [p.value for p in store.get_metric_history(run, "M")] == [2.0]
    store.delete_tag(run, "T")
    assert "t" in store.get_run(run).data.tags


@pytest.mark.parametrize(
    "value, pattern",
    [
        ("a\\b", "a\\b"),
        ("a\\b", "a\\%"),
        ("x!y", "x!y"),
        ("x!y", "x!_"),
        ("star*q?[br]", "star*q?[br]"),
        ("star*q?[br]", "star*%"),
        ("Ünïcödé", "ün%"),
        ("Ünïcödé", "%CÖDÉ"),
        ("ß", "SS"),
        ("50%", "50!%"),
        ("a_b", "a_b"),
        ("ab", "a_b"),
        ("naïve", "na_ve"),
    ],
)
def test_like_and_ilike_match_the_reference_evaluator(
    store: SqlTrackingStore, value: str, pattern: str
) -> None:
    exp = store.create_experiment(f"like-{uuid.uuid4().hex[:6]}")
    run = _new_run(store, exp)
    store.log_batch(run, [], [Param("p", value)], [])
    for op, case_sensitive in (("LIKE", True), ("ILIKE", False)):
        quoted = pattern.replace("'", "\\'")
        got = _runs(store, [exp], f"params.p {op} '{quoted}'")
        want = search.like_matches(value, pattern, case_sensitive=case_sensitive)
        assert (len(got) == 1) == want, (op, value, pattern)


def test_equality_is_exact(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("eq")
    run = _new_run(store, exp)
    store.log_batch(run, [], [Param("p", "Value")], [RunTag("t", "x ")])
    assert len(_runs(store, [exp], "params.p = 'Value'")) == 1
    assert len(_runs(store, [exp], "params.p = 'value'")) == 0
    assert len(_runs(store, [exp], "params.p != 'value'")) == 1
    assert len(_runs(store, [exp], "tags.t = 'x'")) == 0
    assert len(_runs(store, [exp], "tags.t = 'x '")) == 1
    assert len(_runs(store, [exp], "tags.T IS NULL")) == 1
    upper = run.upper()
    assert len(_runs(store, [exp], f"run_id IN ('{upper}')")) == 0
    assert len(_runs(store, [exp], f"run_id NOT IN ('{upper}')")) == 1
    assert store.get_experiment_by_name("EQ") is None


def test_string_order_is_by_code_point(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("order")
    values = ["b", "B", "a", "Z", "é", "e", "a ", "", "10", "9"]
    for v in values:
        run = _new_run(store, exp)
        store.log_batch(run, [], [Param("p", v)], [])
    for asc in (True, False):
        order = [f"params.p {'ASC' if asc else 'DESC'}"]
        got = _runs(store, [exp], order_by=order)
        assert [r.data.params["p"] for r in got] == sorted(values, reverse=not asc)


def test_experiment_ids_order_as_strings_like_the_evaluator(store: SqlTrackingStore) -> None:
    for i in range(12):
        store.create_experiment(f"x{i}")
    everything = list(_experiments(store, ViewType.ALL))
    for order in (["experiment_id ASC"], ["experiment_id DESC"], None, ["name DESC"]):
        want = search.search_experiments_in_memory(
            everything, ExperimentSearch.parse(ViewType.ALL, 1000, None, order)
        )
        got = _experiments(store, ViewType.ALL, None, order)
        assert [e.experiment_id for e in got] == [e.experiment_id for e in want]
    got = _experiments(store, ViewType.ALL, "experiment_id LIKE '1%'")
    assert sorted(e.experiment_id for e in got) == ["1", "10", "11", "12"]


# ---------------------------------------------------------------------------------------------
# Lifecycle


def test_restoring_an_experiment_keeps_runs_deleted_before_it(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("life")
    kept, gone = _new_run(store, exp), _new_run(store, exp)
    store.delete_run(gone)
    with store.database.cursor(write=True) as cur:  # make the earlier deletion clearly earlier
        cur.execute(
            store.database.dialect.sql("UPDATE runs SET deleted_time = 1 WHERE run_uuid = ?"),
            (gone,),
        )
    store.delete_experiment(exp)
    assert store.get_run(kept).info.lifecycle_stage == "deleted"
    store.restore_experiment(exp)
    assert store.get_run(kept).info.lifecycle_stage == "active"
    assert store.get_run(gone).info.lifecycle_stage == "deleted"


def test_run_name_column_follows_the_tag(store: SqlTrackingStore) -> None:
    run = _new_run(store)
    store.log_batch(run, [], [], [RunTag("mlflow.runName", "via-batch")])
    assert store.get_run(run).info.run_name == "via-batch"
    info = store.update_run_info(run, 3, T0 + 5, "via-update")
    assert (info.run_name, info.status, info.end_time) == ("via-update", "FINISHED", T0 + 5)
    assert store.get_run(run).data.tags["mlflow.runName"] == "via-update"
    assert len(_runs(store, ["0"], "attributes.run_name = 'via-update'")) == 1


def test_metric_history_paging(store: SqlTrackingStore) -> None:
    run = _new_run(store)
    store.log_batch(run, [Metric("h", float(i), T0 + i // 2, i % 3) for i in range(25)], [], [])
    full = store.get_metric_history(run, "h")
    assert [(m.timestamp, m.step, m.value) for m in full] == sorted(
        (m.timestamp, m.step, m.value) for m in full
    )
    pages, token = [], None
    while True:
        page = store.get_metric_history(run, "h", max_results=7, page_token=token)
        pages.extend(page)
        token = page.token
        if token is None:
            break
    assert pages == list(full)
    assert _code(store.get_metric_history, run, "h", 0).error_code == "INVALID_PARAMETER_VALUE"
    assert _code(store.get_metric_history, run, "h", None, "bogus").error_code == (
        "INVALID_PARAMETER_VALUE"
    )


# ---------------------------------------------------------------------------------------------
# Atomicity


def test_a_batch_failing_half_way_in_the_database_writes_nothing(
    store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _new_run(store)
    calls = {"n": 0}
    real = RunWriter.update_latest

    def failing(self: RunWriter, cur: Any, rows: list[Any]) -> None:
        calls["n"] += 1
        cur.execute("SELECT * FROM no_such_table")  # fails after metrics, params, tags

    monkeypatch.setattr(RunWriter, "update_latest", failing)
    metrics = [Metric("atom", float(i), T0 + i, i) for i in range(5000)]
    err = _code(store.log_batch, run, metrics, [Param("p", "1")], [RunTag("t", "1")])
    assert err.error_code == ErrorCode.INTERNAL_ERROR and calls["n"] == 1
    monkeypatch.setattr(RunWriter, "update_latest", real)
    assert store.get_metric_history(run, "atom") == []
    data = store.get_run(run).data
    assert data.params == {} and "t" not in data.tags and data.metrics == {}


def test_param_conflict_at_the_end_of_a_big_batch_writes_nothing(store: SqlTrackingStore) -> None:
    run = _new_run(store)
    store.log_batch(run, [], [Param("zz", "old")], [])
    metrics = [Metric("big", float(i), T0 + i, i) for i in range(5000)]
    params = [Param(f"p{i:02d}", "v") for i in range(99)] + [Param("zz", "new")]
    err = _code(store.log_batch, run, metrics, params, [RunTag("t", "x")])
    assert err.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "Changing param values is not allowed" in err.message
    assert store.get_metric_history(run, "big") == []
    assert store.get_run(run).data.params == {"zz": "old"}


def test_client_rejects_a_bad_item_at_the_end_before_the_store(
    sqlite_store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(sqlite_store)
    run = _new_run(sqlite_store)
    seen: list[int] = []
    real = SqlTrackingStore.log_batch

    def spy(self: SqlTrackingStore, *args: Any, **kwargs: Any) -> None:
        seen.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(SqlTrackingStore, "log_batch", spy)
    metrics = [Metric("good", float(i), T0 + i, i) for i in range(4999)]
    metrics.append(Metric("bad//key", 1.0, T0, 0))
    assert _code(client.log_batch, run, metrics=metrics).error_code == "INVALID_PARAMETER_VALUE"
    assert seen == []
    assert sqlite_store.get_metric_history(run, "good") == []


# ---------------------------------------------------------------------------------------------
# Concurrency


def _log_from_process(uri: str, root: str, run_id: str, worker: int, out: Any) -> None:
    try:
        store = SqlTrackingStore(uri, root)
        for b in range(20):
            store.log_batch(
                run_id,
                [Metric(f"k{j}", float(worker), T0 + b, worker * 1000 + b) for j in range(50)],
                [Param(f"w{worker}-{b}", "x")],
                [RunTag(f"w{worker}", str(b))],
            )
            store.log_metric(run_id, Metric("single", float(b), T0 + b, worker * 1000 + b))
        store.close()
        out.put(None)
    except BaseException as exc:  # reported to the parent
        out.put(repr(exc))


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_processes_log_to_one_sqlite_file(tmp_path: Path, start_method: str) -> None:
    if start_method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start_method} start method here")
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    parent = SqlTrackingStore(uri, str(tmp_path / "a"))
    run = _new_run(parent)
    parent.get_run(run)  # the parent holds pooled connections when it forks
    ctx = multiprocessing.get_context(start_method)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_log_from_process, args=(uri, str(tmp_path / "a"), run, w, out))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [None] * 4
    data = parent.get_run(run).data
    assert len(data.params) == 80 and {f"w{w}" for w in range(4)} <= set(data.tags)
    for j in (0, 49):
        assert len(parent.get_metric_history(run, f"k{j}")) == 80
    assert len(parent.get_metric_history(run, "single")) == 80
    assert data.metrics["k0"] == 3.0  # the highest step wins: worker 3
    parent.close()


def test_engine_is_recreated_after_fork(sqlite_store: SqlTrackingStore) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    run = _new_run(sqlite_store)
    engine_before = id(sqlite_store.database.engine.pool)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        ok = 1
        try:
            sqlite_store.log_batch(run, [Metric("child", 1.0, T0, 0)], [], [])
            ok = 0 if sqlite_store.database._pid == os.getpid() else 1
        finally:
            os.write(write, bytes([ok]))
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"\x00"
    assert id(sqlite_store.database.engine.pool) == engine_before
    assert sqlite_store.get_run(run).data.metrics == {"child": 1.0}


@pytest.mark.parametrize("server", ["postgresql", "mysql"])
def test_threads_writing_the_same_keys_in_different_orders_do_not_deadlock(
    server: str, tmp_path: Path
) -> None:
    base = postgres_base_uri() if server == "postgresql" else mysql_base_uri()
    uri = worker_database_uri(base, "sqlunit")
    _drop_tables(uri)
    store = SqlTrackingStore(uri, str(tmp_path / "a"))
    try:
        runs = [_new_run(store), _new_run(store)]
        keys = [f"key{j:02d}" for j in range(30)]
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            order = keys if worker % 2 == 0 else list(reversed(keys))
            try:
                for b in range(25):
                    for run in runs if worker % 2 == 0 else list(reversed(runs)):
                        store.log_batch(
                            run,
                            [Metric(k, float(b), T0 + b, worker * 100 + b) for k in order],
                            [],
                            [RunTag(k, str(b)) for k in order[:10]],
                        )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for run in runs:
            assert len(store.get_metric_history(run, "key00")) == 50
            assert store.get_run(run).data.metrics["key29"] == 24.0
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# Datasets (written by MLflow's log_inputs; trackyard reads and filters on them)


def _add_input(
    store: SqlTrackingStore, exp: str, run: str, name: str, digest: str, context: str | None
) -> None:
    d = store.database.dialect
    dataset_uuid, input_uuid = uuid.uuid4().hex, uuid.uuid4().hex
    with store.database.cursor(write=True) as cur:
        cur.execute(
            d.sql(
                "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, "
                "dataset_source_type, dataset_source, dataset_schema, dataset_profile) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (dataset_uuid, int(exp), name, digest, "local", f"/data/{name}", None, None),
        )
        cur.execute(
            d.sql(
                "INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, "
                "destination_id, step) VALUES (?, ?, ?, ?, ?, ?)"
            ),
            (input_uuid, "DATASET", dataset_uuid, "RUN", run, 0),
        )
        if context is not None:
            cur.execute(
                d.sql("INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?)"),
                (input_uuid, "mlflow.data.context", context),
            )


def test_dataset_filters_match_the_evaluator(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("datasets")
    runs = [_new_run(store, exp) for _ in range(4)]
    _add_input(store, exp, runs[0], "train", "d1", "training")
    _add_input(store, exp, runs[0], "eval", "d2", "evaluation")
    _add_input(store, exp, runs[1], "train-v2", "d3", None)
    _add_input(store, exp, runs[2], "Eval", "d4", "Training")
    got_run = store.get_run(runs[0])
    inputs = sorted(
        (i.dataset.name, i.dataset.digest, i.tags) for i in got_run.inputs.dataset_inputs
    )
    assert inputs[0][:2] == ("eval", "d2") and inputs[1][:2] == ("train", "d1")
    assert inputs[1][2][0].key == "mlflow.data.context" and inputs[1][2][0].value == "training"
    everything = [store.get_run(r) for r in runs]
    for flt in (
        "datasets.name = 'train'",
        "datasets.name != 'train'",
        "datasets.name LIKE 'train%'",
        "datasets.name ILIKE 'EVAL'",
        "datasets.digest IN ('d1', 'd3')",
        "datasets.digest NOT IN ('d1')",
        "datasets.context = 'training'",
        "datasets.context ILIKE 'TRAIN%'",
        "datasets.context != 'training'",
        "datasets.name = 'eval' AND datasets.context = 'evaluation'",
        "datasets.name = 'train-v2' OR datasets.context = 'Training'",
    ):
        want = [r.info.run_id for r in search.search_runs_in_memory(everything, RunSearch.parse([exp], flt, max_results=1000))]
        got = [r.info.run_id for r in _runs(store, [exp], flt)]
        assert got == want, flt


# -- search snapshots (SQLite): paging reuses work only while nothing was written ------------


def _page_through(client: Any, exp: str, per_page: int) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs([exp], max_results=per_page, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _seed_runs(client: Any, n: int) -> str:
    exp = client.create_experiment(f"snap-{uuid.uuid4().hex[:6]}")
    for i in range(n):
        rid = client.create_run(exp, start_time=1_000 + i).info.run_id
        client.log_batch(rid, metrics=[Metric("m", float(i), 1, 0)], params=[Param("p", str(i))])
    return exp


def test_snapshot_serves_pages_and_returns_independent_copies(
    sqlite_store: SqlTrackingStore,
) -> None:
    client = make_client(sqlite_store)
    exp = _seed_runs(client, 25)
    first = _page_through(client, exp, 7)
    second = _page_through(client, exp, 7)
    assert [r.info.run_id for r in first] == [r.info.run_id for r in second]
    assert len(first) == 25
    first[0].data.tags["mutated"] = "yes"
    first[0].data.metrics["m"] = -1.0
    again = client.search_runs([exp], max_results=1)[0]
    assert "mutated" not in again.data.tags and again.data.metrics["m"] != -1.0
    assert [m.key for m in again.data.metric_objects] == ["m"]


def test_snapshot_sees_writes_of_this_store(sqlite_store: SqlTrackingStore) -> None:
    client = make_client(sqlite_store)
    exp = _seed_runs(client, 12)
    _page_through(client, exp, 5)
    newest = client.create_run(exp, start_time=10_000).info.run_id
    client.set_tag(newest, "fresh", "1")
    runs = _page_through(client, exp, 5)
    assert runs[0].info.run_id == newest and runs[0].data.tags["fresh"] == "1"
    client.log_metric(runs[3].info.run_id, "m", 99.0, timestamp=2, step=1)
    assert _page_through(client, exp, 5)[3].data.metrics["m"] == 99.0


def test_snapshot_sees_writes_of_other_connections_and_processes(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'snap.db'}"
    reader = SqlTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "a"))
    try:
        client = make_client(reader)
        exp = _seed_runs(client, 9)
        before = _page_through(client, exp, 4)
        target = before[5].info.run_id
        with sqlite3.connect(tmp_path / "snap.db") as other:  # another connection, same process
            other.execute(
                "INSERT INTO tags (key, value, run_uuid) VALUES ('other', 'connection', ?)",
                (target,),
            )
        assert _page_through(client, exp, 4)[5].data.tags["other"] == "connection"
        script = (
            "import sys\n"
            "from trackyard_sql.tracking import SqlTrackingStore\n"
            "from trackyard.testing import make_client\n"
            "s = SqlTrackingStore(store_uri=sys.argv[1], artifact_uri=sys.argv[2])\n"
            "make_client(s).set_tag(sys.argv[3], 'other', 'process')\n"
        )
        subprocess.run([sys.executable, "-c", script, uri, str(tmp_path / "a"), target], check=True)
        assert _page_through(client, exp, 4)[5].data.tags["other"] == "process"
    finally:
        reader.close()


# -- setup problems in plain words ---------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sqlite_file_in_a_missing_folder_is_a_clear_setup_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "runs.db"
    err = _code(SqlTrackingStore, f"sqlite:///{target}", str(tmp_path / "a"))
    assert err.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert err.message == (
        f"SQLite could not open the database file {str(target)!r}: the folder "
        f"{str(target.parent)!r} does not exist: create it first (SQLite creates the database "
        "file, not its folders)."
    )
    assert not (tmp_path / "no").exists()
    assert SqlTrackingStore.explain_error(err, f"sqlite:///{target}") == err.message


def test_sqlite_file_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    err = _code(SqlTrackingStore, f"sqlite:///{blocker}/runs.db", str(tmp_path / "a"))
    assert err.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert f"{str(blocker)!r} is a file, not a directory" in err.message


def test_the_cli_shows_setup_errors_not_internal_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trackyard.cli import cli

    uri = f"sqlite:///{tmp_path / 'missing' / 'runs.db'}"
    result = CliRunner().invoke(cli, ["experiments", "list", "--tracking-uri", uri])
    assert result.exit_code != 0
    assert "INTERNAL_ERROR" not in result.output
    assert "INVALID_PARAMETER_VALUE: SQLite could not open the database file" in result.output
    assert "does not exist: create it first" in result.output


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_refused_connection_says_so_with_the_uri_masked(scheme: str) -> None:
    pytest.importorskip("psycopg" if scheme.startswith("postgresql") else "pymysql")
    port = _closed_port()
    uri = f"{scheme}://ml:hunter2@127.0.0.1:{port}/ml"
    err = _code(SqlTrackingStore, uri, "/tmp/a")
    assert err.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE
    assert err.message.startswith(f"could not connect to 127.0.0.1:{port}: the connection was")
    assert f"'{scheme}://ml:***@127.0.0.1:{port}/ml'" in err.message
    assert "hunter2" not in err.message and "hunter2" not in str(err)


def test_wrong_password_says_so(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = sa.engine.make_url(mysql_base_uri())  # root without a password: any password is wrong
    uri = url.set(password="not-the-password").render_as_string(hide_password=False)
    err = _code(SqlTrackingStore, uri, str(tmp_path / "a"))
    assert err.error_code == ErrorCode.UNAUTHENTICATED
    assert "refused the user name or password" in err.message
    assert "not-the-password" not in err.message


def test_missing_server_database_says_so(tmp_path: Path) -> None:
    import sqlalchemy as sa

    uri = (
        sa.engine.make_url(postgres_base_uri())
        .set(database=f"nope_{uuid.uuid4().hex[:8]}")
        .render_as_string(hide_password=False)
    )
    err = _code(SqlTrackingStore, uri, str(tmp_path / "a"))
    assert err.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert "does not exist" in err.message and "create it first" in err.message


@pytest.mark.parametrize(
    "message, says",
    [
        ('could not translate host name "db.nowhere" to address', "could not be found"),
        ("connection timeout expired", "timed out"),
        ("attempt to write a readonly database", "read-only"),
        ("no such table: nothing", None),
    ],
)
def test_explain_error_words_driver_messages(message: str, says: str | None) -> None:
    err = TrackyardError(f"Database error: {message}")
    text = SqlTrackingStore.explain_error(err, "postgresql://ml:secret@db.example/ml")
    if says is None:
        assert text is None
    else:
        assert text is not None and says in text and "secret" not in text


def test_requests_built_without_order_keys_still_page(store: SqlTrackingStore) -> None:
    """``parse`` always appends tie-breakers; a request built by hand may have none."""
    for _ in range(3):
        _new_run(store)
    first = store.search_runs(RunSearch(experiment_ids=("0",), max_results=2))
    rest = store.search_runs(RunSearch(experiment_ids=("0",), max_results=2, offset=2))
    assert len(first) == 2 and first.token and len(rest) == 1 and rest.token is None
    assert len({r.info.run_id for r in [*first, *rest]}) == 3
    assert [e.name for e in store.search_experiments(ExperimentSearch(max_results=5))] == [
        "Default"
    ]
