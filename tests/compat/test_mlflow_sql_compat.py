"""trackyard's SQL store and MLflow 3.17.2 share one database, in both directions.

1. MLflow creates a database (SQLite; PostgreSQL and MariaDB too when their services are
   configured) with experiments, runs, metrics (NaN, +/-inf, several steps and timestamps),
   params and tags. trackyard opens it and reads exactly what MLflow reads: ``get_run``,
   ``get_metric_history``, ``search_runs`` (same runs, same order) and ``search_experiments``.
2. trackyard writes new experiments, runs, metrics, params and tags into that database. MLflow
   opens it again (its schema check must pass: ``alembic_version`` is untouched) and reads
   trackyard's writes exactly as trackyard does, latest metrics included; then MLflow logs more
   and trackyard sees it.

One deliberate difference: MLflow stores +/-inf as +/-1.7976931348623157e308 and returns that;
trackyard stores the same value and returns +/-inf. The comparison maps both to "inf".

Needs ``TRACKYARD_TEST_MLFLOW_PYTHON`` (an interpreter with mlflow 3.17.2); skips otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard.entities import Metric, Param, RunTag, ViewType
from trackyard.testing import make_client
from trackyard_sql.tracking import SqlTrackingStore

pytestmark = [pytest.mark.compat, requires_mlflow]

ALEMBIC_HEAD = "dc11669786a5"
T0 = 1_700_000_000_000
DBL_MAX = 1.7976931348623157e308

# (filter, order_by) compared between MLflow and trackyard on the same data.
SEARCHES: list[tuple[str, list[str] | None]] = [
    ("", None),
    ("metrics.acc > 0.5", ["metrics.acc DESC"]),
    ("metrics.acc <= 0.5", None),
    ("metrics.loss < 100", ["metrics.loss ASC"]),
    ("params.lr = '0.1'", ["start_time ASC"]),
    ("params.opt LIKE 'ad%'", None),
    ("params.opt ILIKE 'AD%'", ["params.opt DESC"]),
    ("tags.team = 'vision'", None),
    ("tags.team != 'vision'", None),
    ("tags.team IS NULL", None),
    ("attributes.status = 'FINISHED'", ["metrics.loss DESC"]),
    ("attributes.run_name LIKE 'run-%'", ["attributes.run_name DESC"]),
    ("", ["tags.team ASC"]),
    ("", ["params.lr DESC", "metrics.acc ASC"]),
    ("attributes.start_time >= 1700000003000", ["end_time DESC"]),
    ("datasets.name = 'train'", None),
    ("datasets.context = 'evaluation'", None),
    ("datasets.digest IN ('d0', 'd3')", ["start_time ASC"]),
]

# Python run in the MLflow interpreter: dump what MLflow reads, in plain JSON.
_DUMP = r"""
from mlflow import MlflowClient
from mlflow.entities import ViewType


def dump(client, exp_ids, searches, metric_keys):
    runs = {}
    for run in client.search_runs(exp_ids, "", ViewType.ALL, max_results=50000):
        info = run.info
        rid = info.run_id
        runs[rid] = {
            "info": [rid, info.experiment_id, info.run_name, info.user_id, info.status,
                     info.start_time, info.end_time, info.lifecycle_stage, info.artifact_uri],
            "params": run.data.params,
            "tags": run.data.tags,
            "latest": {m.key: [m.value, m.timestamp, m.step] for m in run.data._metric_objs},
            "inputs": sorted(
                [i.dataset.name, i.dataset.digest, i.dataset.source_type, i.dataset.source,
                 sorted([t.key, t.value] for t in i.tags)]
                for i in run.inputs.dataset_inputs
            ),
            "history": {
                k: [[m.value, m.timestamp, m.step] for m in client.get_metric_history(rid, k)]
                for k in metric_keys
            },
        }
        fetched = client.get_run(rid)
        assert fetched.data.params == run.data.params and fetched.data.tags == run.data.tags
    found = []
    for flt, order in searches:
        page = client.search_runs(exp_ids, flt, ViewType.ALL, 50000, order)
        found.append([r.info.run_id for r in page])
    exps = [
        [e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.tags,
         e.creation_time, e.last_update_time]
        for e in client.search_experiments(view_type=ViewType.ALL, max_results=50000)
    ]
    return {"runs": runs, "searches": found, "experiments": exps}
"""

_MLFLOW_WRITES = (
    _DUMP
    + r"""
import math
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

client = MlflowClient(tracking_uri=ARGS["uri"])
T0 = ARGS["t0"]
exp_a = client.create_experiment("mlflow-a", tags={"owner": "mlflow"})
exp_b = client.create_experiment("mlflow-b")
ids = []
for i in range(8):
    exp = exp_a if i % 3 else exp_b
    run = client.create_run(exp, start_time=T0 + i * 1000, run_name=f"run-{i}",
                            tags={"team": ["vision", "nlp", "Vision"][i % 3]} if i % 4 else {})
    rid = run.info.run_id
    acc = [0.25, 0.75, float("nan"), 1.0, float("inf"), -float("inf"), 0.5, 0.9][i]
    points = [Metric("acc", -1.0, T0, 0), Metric("acc", acc, T0 + 5, 2),
              Metric("acc", 7.0, T0 + 9, 1), Metric("loss", 10.0 - i, T0 + 1, 0)]
    if i % 2:
        points.append(Metric("loss", float("nan"), T0 + 2, 0))
    client.log_batch(rid, metrics=points,
                     params=[Param("lr", ["0.1", "0.01"][i % 2]),
                             Param("opt", ["adam", "Adagrad", "sgd"][i % 3])],
                     tags=[RunTag("idx", str(i))])
    client.log_metric(rid, "steps", float(i), timestamp=T0 + 3, step=i)
    if i % 2 == 0:
        context = [InputTag("mlflow.data.context", ["training", "evaluation"][i % 4 // 2])]
        client.log_inputs(rid, datasets=[
            DatasetInput(Dataset(["train", "eval"][i % 4 // 2], f"d{i}", "local",
                                 f"/data/{i}.csv"), context),
        ])
    if i % 3 == 1:
        client.set_terminated(rid, "FINISHED", end_time=T0 + i * 1000 + 500)
    ids.append(rid)
client.delete_run(ids[-1])
emit({"exp_ids": [exp_a, exp_b], **dump(client, [exp_a, exp_b], ARGS["searches"],
                                        ARGS["keys"])})
"""
)

_MLFLOW_READS = (
    _DUMP
    + r"""
client = MlflowClient(tracking_uri=ARGS["uri"])
result = dump(client, ARGS["exp_ids"], ARGS["searches"], ARGS["keys"])
# and MLflow keeps writing to a run trackyard created
rid = ARGS["append_to"]
client.log_metric(rid, "tk", 123.0, timestamp=ARGS["t0"] + 10**6, step=10**6)
client.set_tag(rid, "from", "mlflow")
emit(result)
"""
)


# ---------------------------------------------------------------------------------------------
# Databases


def _reset_server_database(uri: str) -> None:
    """Empty a PostgreSQL/MySQL database completely (MLflow creates ~65 tables)."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            else:
                name = engine.url.database
                conn.exec_driver_sql(f"DROP DATABASE `{name}`")
                conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URI nobody has written to yet, for MLflow to create."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlflow.db'}"
        return
    base = postgres_base_uri() if request.param == "postgresql" else mysql_base_uri()
    uri = worker_database_uri(base, "mlflowcompat")
    _reset_server_database(uri)
    yield uri


# ---------------------------------------------------------------------------------------------
# Comparison helpers


def _norm(value: Any) -> Any:
    """JSON-comparable form: NaN -> "nan", +/-inf and +/-DBL_MAX -> "inf"/"-inf"."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value in (math.inf, DBL_MAX):
            return "inf"
        if value in (-math.inf, -DBL_MAX):
            return "-inf"
        return value
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _dump_trackyard(
    store: SqlTrackingStore, exp_ids: list[str], searches: list[Any], keys: list[str]
) -> dict[str, Any]:
    client = make_client(store)
    runs = {}
    for run in client.search_runs(exp_ids, "", ViewType.ALL, max_results=50000):
        info = run.info
        rid = info.run_id
        runs[rid] = {
            "info": [
                rid,
                info.experiment_id,
                info.run_name,
                info.user_id,
                info.status,
                info.start_time,
                info.end_time,
                info.lifecycle_stage,
                info.artifact_uri,
            ],
            "params": run.data.params,
            "tags": run.data.tags,
            "latest": {m.key: [m.value, m.timestamp, m.step] for m in run.data.metric_objects},
            "inputs": sorted(
                [
                    i.dataset.name,
                    i.dataset.digest,
                    i.dataset.source_type,
                    i.dataset.source,
                    sorted([t.key, t.value] for t in i.tags),
                ]
                for i in run.inputs.dataset_inputs
            ),
            "history": {
                k: [[m.value, m.timestamp, m.step] for m in client.get_metric_history(rid, k)]
                for k in keys
            },
        }
        fetched = client.get_run(rid)
        assert fetched.data.params == run.data.params and fetched.data.tags == run.data.tags
    found = [
        [r.info.run_id for r in client.search_runs(exp_ids, flt, ViewType.ALL, 50000, order)]
        for flt, order in searches
    ]
    exps = [
        [
            e.experiment_id,
            e.name,
            e.artifact_location,
            e.lifecycle_stage,
            e.tags,
            e.creation_time,
            e.last_update_time,
        ]
        for e in client.search_experiments(view_type=ViewType.ALL, max_results=50000)
    ]
    return {"runs": runs, "searches": found, "experiments": exps}


def _string_ordered(order: list[str] | None) -> bool:
    return any(
        o.split()[0].startswith(("params.", "tags.", "attributes.run_name")) for o in order or ()
    )


def _assert_same(mlflow_view: dict[str, Any], trackyard_view: dict[str, Any], uri: str) -> None:
    """Same experiments, runs and searches; on MySQL string orders may differ (see below)."""
    want, got = _norm(mlflow_view), _norm(trackyard_view)
    assert got["experiments"] == want["experiments"]
    assert set(got["runs"]) == set(want["runs"])
    for rid, run in want["runs"].items():
        assert got["runs"][rid] == run, rid
    for (flt, order), w, g in zip(SEARCHES, want["searches"], got["searches"], strict=True):
        if uri.startswith("mysql") and _string_ordered(order):
            # MLflow sorts strings in MySQL's case-insensitive collation ('nlp' < 'Vision');
            # trackyard sorts by code point on every database ('Vision' < 'nlp'), as MLflow
            # itself does on SQLite and PostgreSQL. Same runs, possibly another order.
            assert sorted(g) == sorted(w), (flt, order)
        else:
            assert g == w, (flt, order)


def _alembic_version(uri: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            version = [r[0] for r in rows]
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert "trackyard_schema" not in tables  # trackyard adds nothing to MLflow's database
    return version


# ---------------------------------------------------------------------------------------------
# The round trip


def test_mlflow_and_trackyard_share_a_database(db_uri: str, tmp_path: Path) -> None:
    keys = ["acc", "loss", "steps", "tk", "absent"]
    searches = [[flt, order] for flt, order in SEARCHES]

    # 1. MLflow creates and fills the database; trackyard reads the same thing.
    created = run_mlflow(
        _MLFLOW_WRITES, uri=db_uri, t0=T0, searches=searches, keys=keys, cwd=tmp_path, timeout=600
    )
    assert _alembic_version(db_uri) == [ALEMBIC_HEAD]
    store = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "trackyard-art"))
    try:
        exp_ids = ["0", *created["exp_ids"]]
        _assert_same(created, _dump_trackyard(store, created["exp_ids"], searches, keys), db_uri)
        mlflow_runs = set(created["runs"])

        # 2. trackyard writes; MLflow must read it exactly as trackyard does.
        client = make_client(store)
        exp_t = client.create_experiment("trackyard-exp", tags={"made": "by trackyard"})
        new_ids = []
        for i in range(4):
            run = client.create_run(
                exp_t,
                start_time=T0 + 500 + i,
                run_name=f"run-t{i}",
                tags={"team": "vision"} if i % 2 else {"team": "nlp"},
            )
            rid = run.info.run_id
            client.log_batch(
                rid,
                metrics=[
                    Metric("acc", [0.6, math.nan, math.inf, 0.1][i], T0 + 1, 1),
                    Metric("acc", 0.3, T0 + 2, 0),
                    Metric("loss", -math.inf if i == 3 else float(i), T0, 0),
                    Metric("tk", 1.0, T0, 0),
                    Metric("tk", 2.0, T0, 0),
                ],
                params=[Param("lr", "0.1"), Param("opt", "adamw")],
                tags=[RunTag("idx", str(i))],
            )
            new_ids.append(rid)
        client.set_terminated(new_ids[1], "FINISHED", end_time=T0 + 9999)
        client.update_run(new_ids[2], name="renamed-by-trackyard")
        client.delete_run(new_ids[3])
        client.rename_experiment(created["exp_ids"][1], "mlflow-b-renamed")
        client.set_experiment_tag(created["exp_ids"][0], "touched", "yes")
        # trackyard also writes to a run MLflow created
        old_run = min(r for r in mlflow_runs if created["runs"][r]["info"][7] == "active")
        client.log_metric(old_run, "acc", 5.0, timestamp=T0 + 10**6, step=10**6)
        client.set_tag(old_run, "from", "trackyard")

        all_exps = [*created["exp_ids"], exp_t]
        ours = _dump_trackyard(store, all_exps, searches, keys)
        theirs = run_mlflow(
            _MLFLOW_READS,
            uri=db_uri,
            exp_ids=all_exps,
            searches=searches,
            keys=keys,
            append_to=new_ids[0],
            t0=T0,
            cwd=tmp_path,
            timeout=600,
        )
        _assert_same(theirs, ours, db_uri)
        assert _alembic_version(db_uri) == [ALEMBIC_HEAD]
        assert ours["runs"][old_run]["latest"]["acc"] == [5.0, T0 + 10**6, 10**6]

        # 3. MLflow's later writes to a trackyard run are visible to trackyard.
        run = client.get_run(new_ids[0])
        assert run.data.metrics["tk"] == 123.0 and run.data.tags["from"] == "mlflow"
        assert [m.value for m in client.get_metric_history(new_ids[0], "tk")] == [1.0, 2.0, 123.0]
        assert {e.experiment_id for e in client.search_experiments(ViewType.ALL)} == {
            *exp_ids,
            exp_t,
        }
    finally:
        store.close()
