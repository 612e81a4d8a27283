"""Logged models in the DuckDB store: what only DuckDB does (the kit's LoggedModelChecks and
ImportChecks in tests/conformance/test_duckdb.py have the rest)."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from trackyard import gc
from trackyard.entities import Metric
from trackyard.errors import TrackyardError
from trackyard.testing import make_client
from trackyard_duckdb.schema import FAMILIES, SCHEMA_TABLE, tracking
from trackyard_duckdb.tracking import DuckDBTrackingStore

_MODEL_TABLES = (
    "logged_models",
    "logged_model_tags",
    "logged_model_params",
    "logged_model_metrics",
)


def _store(path: Path, tmp_path: Path) -> DuckDBTrackingStore:
    return DuckDBTrackingStore(f"duckdb:///{path}", str(tmp_path / "artifacts"))


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def test_a_tracking_v1_database_is_migrated_and_gains_the_logged_model_tables(
    tmp_path: Path,
) -> None:
    assert tracking.VERSION == 2
    path = tmp_path / "v1.duckdb"
    # a database exactly as the previous trackyard made it: tracking v1, the rest current
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE {SCHEMA_TABLE} (family VARCHAR NOT NULL, version INTEGER NOT NULL)")
    for family in FAMILIES:
        version = 1 if family is tracking else family.VERSION
        for v in range(1, version + 1):
            for statement in family.MIGRATIONS[v]:
                con.execute(statement)
        con.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (?, ?)", [family.NAME, version])
    con.execute(
        "INSERT INTO experiments VALUES (0, 'Default', ?, 'active', 1, 1), "
        "(7, 'old', ?, 'active', 2, 2)",
        [str(tmp_path / "a" / "0"), str(tmp_path / "a" / "7")],
    )
    assert not _tables(con) & set(_MODEL_TABLES)
    con.close()

    store = _store(path, tmp_path)
    try:
        client = make_client(store)
        assert client.get_experiment("7").name == "old"
        run_id = client.create_run("7").info.run_id
        model = client.create_logged_model("7", "clf", source_run_id=run_id)
        client.log_metric(run_id, "acc", 0.5, timestamp=5, step=1, model_id=model.model_id)
        (found,) = client.search_logged_models(["7"])
        assert found.model_id == model.model_id
        assert [(m.key, m.value, m.run_id) for m in found.metrics or ()] == [("acc", 0.5, run_id)]
    finally:
        store.close()
    con = duckdb.connect(str(path))
    try:
        assert set(_MODEL_TABLES) <= _tables(con)
        assert con.execute(
            f"SELECT version FROM {SCHEMA_TABLE} WHERE family = 'tracking'"
        ).fetchall() == [(2,)]
    finally:
        con.close()


def test_hard_deleting_an_experiment_removes_its_logged_models(tmp_path: Path) -> None:
    path = tmp_path / "gc.duckdb"
    store = _store(path, tmp_path)
    try:
        client = make_client(store)
        kept, doomed = client.create_experiment("kept"), client.create_experiment("doomed")
        ids = {}
        for exp in (kept, doomed):
            run_id = client.create_run(exp).info.run_id
            model = client.create_logged_model(exp, tags={"t": "1"}, params={"p": "2"})
            client.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0, model_id=model.model_id)])
            client.set_terminated(run_id)
            ids[exp] = model.model_id
        client.delete_experiment(doomed)
        gc.collect(store, experiment_ids=[doomed])
        assert client.get_logged_model(ids[kept]).metrics
    finally:
        store.close()
    con = duckdb.connect(str(path))
    try:
        for table in _MODEL_TABLES:
            owners = {r[0] for r in con.execute(f"SELECT model_id FROM {table}").fetchall()}
            assert owners == {ids[kept]}, table
    finally:
        con.close()


def test_model_points_keep_nan_and_infinities_and_the_first_value(tmp_path: Path) -> None:
    store = _store(tmp_path / "nan.duckdb", tmp_path)
    try:
        client = make_client(store)
        exp = client.create_experiment("nan")
        run_id = client.create_run(exp).info.run_id
        model_id = client.create_logged_model(exp).model_id
        client.log_batch(
            run_id,
            metrics=[
                Metric("a", math.nan, 1, 0, model_id=model_id),
                Metric("b", math.inf, 1, 0, model_id=model_id),
                Metric("c", 1.0, 1, 0, model_id=model_id),
            ],
        )
        client.log_batch(run_id, metrics=[Metric("c", 2.0, 1, 0, model_id=model_id)])
        points = {m.key: m.value for m in client.get_logged_model(model_id).metrics or ()}
        assert math.isnan(points["a"]) and points["b"] == math.inf and points["c"] == 1.0
        client.delete_logged_model(model_id)
        with pytest.raises(TrackyardError, match=f"Logged model with ID '{model_id}' not found"):
            client.get_logged_model(model_id)
        assert store.get_logged_model(model_id, allow_deleted=True).model_id == model_id
    finally:
        store.close()


def test_search_with_nan_and_infinite_points_agrees_with_the_evaluator(tmp_path: Path) -> None:
    """DuckDB ranks NaN above every number: the compiled search must not (evaluator's rules)."""
    from trackyard.search.logged_model_evaluator import search_logged_models_in_memory
    from trackyard.search.request import LoggedModelSearch

    store = _store(tmp_path / "search.duckdb", tmp_path)
    try:
        client = make_client(store)
        exp = client.create_experiment("nan-search")
        run_id = client.create_run(exp).info.run_id
        values = [math.nan, math.inf, -math.inf, 0.5, None, 2.0, math.nan]
        ids = []
        for i, value in enumerate(values):
            model_id = client.create_logged_model(exp, f"m{i}").model_id
            ids.append(model_id)
            if value is not None:
                # an older point that does match: "any point" for filters, newest for order
                client.log_batch(
                    run_id,
                    metrics=[
                        Metric("acc", 1.5, 1, 0, model_id=model_id),
                        Metric("acc", value, 2, 0, model_id=model_id),
                    ],
                )
        models = [client.get_logged_model(m) for m in ids]
        for filter_string, order_by in [
            ("metrics.acc > 1", None),
            ("metrics.acc > 10", None),
            ("metrics.acc != 0.5", None),
            ("metrics.acc < 0", None),
            ("", ["metrics.acc ASC"]),
            ("", ["metrics.acc DESC"]),
            ("metrics.acc >= 1.5", ["metrics.acc DESC", "name DESC"]),
        ]:
            request = LoggedModelSearch.parse([exp], filter_string, None, 1000, order_by)
            expected = [m.model_id for m in search_logged_models_in_memory(models, request)]
            got = client.search_logged_models([exp], filter_string, None, 1000, order_by)
            assert [m.model_id for m in got] == expected, (filter_string, order_by)
        # every model has the 1.5 point but one; NaN never matches, infinity does
        found = client.search_logged_models([exp], "metrics.acc > 10")
        assert [m.model_id for m in found] == [ids[1]]
        ordered = client.search_logged_models([exp], order_by=["metrics.acc ASC"])
        # present values first (ascending), then NaN (newest point), then no metric at all
        assert [m.name for m in ordered][:4] == ["m2", "m3", "m5", "m1"]
        assert [m.name for m in ordered][-1] == "m4"
    finally:
        store.close()
