"""trackyard's own search indexes (SQLite): created on open, used by trackyard's logged-model
search, never usable by a query that does not state their condition (MLflow's), and a
database that refuses them still works."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from trackyard.entities import Metric
from trackyard.testing import make_client
from trackyard_sql.indexes import INDEXES, METRIC_INDEX, SEARCH_INDEX
from trackyard_sql.tracking import SqlTrackingStore


def _index_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {r[0] for r in rows}


def _plan(path: Path, sql: str, params: tuple[object, ...] = ()) -> str:
    with sqlite3.connect(path) as conn:
        return " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def _open(path: Path) -> SqlTrackingStore:
    return SqlTrackingStore(f"sqlite:///{path}", str(path.parent / "artifacts"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    _open(path).close()
    return path


def test_a_new_database_has_the_indexes(db_path: Path) -> None:
    assert {i.name for i in INDEXES} <= _index_names(db_path)


def test_a_database_without_them_gets_them_on_open(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        for index in INDEXES:
            conn.execute(f"DROP INDEX {index.name}")
    assert not {i.name for i in INDEXES} & _index_names(db_path)
    _open(db_path).close()
    assert {i.name for i in INDEXES} <= _index_names(db_path)
    _open(db_path).close()  # idempotent


def test_a_database_refusing_an_index_is_used_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.db"
    _open(path).close()
    with sqlite3.connect(path) as conn:  # a table holding the index's name: CREATE INDEX fails
        conn.execute(f"DROP INDEX {METRIC_INDEX.name}")
        conn.execute(f"CREATE TABLE {METRIC_INDEX.name} (x INTEGER)")
    with caplog.at_level(logging.WARNING, logger="trackyard.sql"):
        store = _open(path)
    try:
        assert f"could not create index {METRIC_INDEX.name}" in caplog.text
        client = make_client(store)
        exp = client.create_experiment("e")
        run = client.create_run(exp).info.run_id
        mid = client.create_logged_model(exp, name="m").model_id
        client.log_batch(run, metrics=[Metric("acc", 0.9, 1, 0, model_id=mid)])
        found = client.search_logged_models([exp], filter_string="metrics.acc > 0.5")
        assert [m.model_id for m in found] == [mid]
    finally:
        store.close()


def test_the_search_reads_its_indexes(db_path: Path) -> None:
    store = _open(db_path)
    statements: list[str] = []
    try:
        client = make_client(store)
        exp = client.create_experiment("e")
        run = client.create_run(exp).info.run_id
        ids = []
        for i in range(20):
            mid = client.create_logged_model(exp, name=f"m{i}").model_id
            client.log_batch(run, metrics=[Metric("acc", i / 20, 1, 0, model_id=mid)])
            ids.append(mid)
        engine = store._db.engine
        engine.dispose()
        sa.event.listen(engine, "connect", lambda c, _: c.set_trace_callback(statements.append))
        found = client.search_logged_models([exp], filter_string="metrics.acc >= 0.5")
        assert {m.model_id for m in found} == set(ids[10:])
    finally:
        store.close()
    (search,) = [s for s in statements if "ORDER BY" in s and "logged_model_metrics x" in s]
    plan = _plan(db_path, search)
    assert f"COVERING INDEX {METRIC_INDEX.name}" in plan
    # the metric term drives this search: its points join the models through the search
    # index's (model_id, experiment_id, lifecycle_stage) prefix; SQLite's plan also reads
    # the model row there, so the index is not reported as covering in this form
    assert f"USING INDEX {SEARCH_INDEX.name} (model_id=? AND experiment_id=?" in plan


@pytest.mark.parametrize(
    "sql",
    [
        # the shapes of MLflow 3.17.2's logged-model search on SQLite
        "SELECT DISTINCT model_id FROM logged_model_metrics "
        "WHERE metric_name = 'acc' AND metric_value > 0.5",
        "SELECT model_id, metric_value, row_number() OVER (PARTITION BY model_id, metric_name "
        "ORDER BY metric_timestamp_ms DESC) FROM logged_model_metrics WHERE metric_name = 'acc'",
        "SELECT * FROM logged_models WHERE lifecycle_stage != 'deleted' "
        "AND experiment_id IN (1) ORDER BY creation_timestamp_ms DESC, model_id LIMIT 101",
        "SELECT * FROM logged_models WHERE model_id = 'm-1' AND experiment_id = 1",
    ],
)
def test_queries_without_the_condition_cannot_use_them(db_path: Path, sql: str) -> None:
    plan = _plan(db_path, sql)
    assert "trackyard_" not in plan, plan
    marked = sql.replace("WHERE ", f"WHERE {METRIC_INDEX.where} AND ", 1)
    if "logged_model_metrics" in sql and "metric_value >" in sql:  # stated: usable
        assert METRIC_INDEX.name in _plan(db_path, marked)


def test_a_read_only_open_creates_none_and_says_so(db_path: Path) -> None:
    from trackyard.stores import read_only_opens

    with sqlite3.connect(db_path) as conn:
        for index in INDEXES:
            conn.execute(f"DROP INDEX {index.name}")
    with read_only_opens() as request:
        _open(db_path).close()
    names = ", ".join(i.name for i in INDEXES)
    assert request.notes == [f"2 trackyard indexes missing ({names}); a normal open creates them"]
    assert not {i.name for i in INDEXES} & _index_names(db_path)
    _open(db_path).close()  # a normal open still creates them
    assert {i.name for i in INDEXES} <= _index_names(db_path)
