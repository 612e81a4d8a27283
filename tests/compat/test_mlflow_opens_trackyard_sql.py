"""A database trackyard's SQL store creates is MLflow 3.17.2's own, with no migration.

1. **Schema.** On SQLite, PostgreSQL and MariaDB, MLflow creates one fresh database and
   trackyard another; their schemas, reflected by SQLAlchemy, must be equal: tables, columns
   (type, nullability, default, autoincrement, identity, generated), primary keys, foreign
   keys, indexes (PostgreSQL ``INCLUDE``/``WHERE`` and MySQL prefix lengths included), unique
   and check constraints, and the rows of the head schema (``alembic_version``, the
   ``default`` workspace). Deliberate differences: one column type on MySQL (see
   :data:`DEVIATIONS`), and trackyard's own ``trackyard_*`` search indexes, which must be
   exactly those :mod:`trackyard_sql.indexes` lists for the dialect.
2. **Client.** On SQLite and PostgreSQL, trackyard creates and fills a database; MLflow's
   ``MlflowClient`` reads everything back, then writes runs, datasets, model versions, a
   trace and a logged model (tables trackyard does not use yet), and trackyard reads MLflow's
   writes.
3. **Server.** ``mlflow server`` (``--workers 1``, job execution off) serves a database
   trackyard created, on a loopback port; its REST API reads trackyard's data and writes
   some of its own, which trackyard sees.

Needs ``TRACKYARD_TEST_MLFLOW_PYTHON`` (an interpreter with mlflow 3.17.2); PostgreSQL and
MariaDB cases need their services too. Each skips with the reason otherwise.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from tests.compat.peer import mlflow_python, requires_mlflow, run_mlflow
from tests.compat.test_mlflow_sql_compat import _reset_server_database
from trackyard.entities import Metric, Param, RunTag, ViewType
from trackyard.testing import make_client
from trackyard_sql.indexes import INDEXES
from trackyard_sql.registry import SqlRegistryStore
from trackyard_sql.schema import HEAD_REVISION
from trackyard_sql.tracking import SqlTrackingStore

pytestmark = [pytest.mark.compat, requires_mlflow]

T0 = 1_700_000_000_000

#: Where trackyard's schema differs from MLflow's on purpose: (dialect, table, column) ->
#: (MLflow's type, trackyard's type). A model version tag value may have 100,000 characters;
#: MySQL's TEXT holds 65,535 bytes.
DEVIATIONS = {("mysql", "model_version_tags", "value"): ("TEXT", "MEDIUMTEXT")}

_MLFLOW_CREATES = r"""
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
SqlAlchemyStore(ARGS["uri"], ARGS["artifacts"])
emit(True)
"""


def _fresh_database(dialect: str, tmp_path: Path, name: str) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    base = postgres_base_uri() if dialect == "postgresql" else mysql_base_uri()
    uri = worker_database_uri(base, name)
    _reset_server_database(uri)
    return uri


# ---------------------------------------------------------------------------------------------
# 1. Schema


def describe(uri: str) -> dict[str, Any]:
    """The schema of ``uri`` as SQLAlchemy reflects it, in comparable form, plus head rows."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    found: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            for table in sorted(inspector.get_table_names()):
                pk = inspector.get_pk_constraint(table)
                found[table] = {
                    "columns": [
                        {
                            "name": c["name"],
                            "type": str(c["type"]),
                            "nullable": c["nullable"],
                            "default": None if c.get("default") is None else str(c["default"]),
                            "autoincrement": c.get("autoincrement") is True,
                            "computed": str(c.get("computed") or ""),
                            "identity": bool(c.get("identity")),
                        }
                        for c in inspector.get_columns(table)
                    ],
                    "primary key": [pk.get("name"), pk["constrained_columns"]],
                    "foreign keys": sorted(
                        [
                            str(f.get("name")),
                            f["constrained_columns"],
                            f["referred_table"],
                            f["referred_columns"],
                            sorted((f.get("options") or {}).items()),
                        ]
                        for f in inspector.get_foreign_keys(table)
                    ),
                    "indexes": sorted(
                        [
                            i["name"],
                            i["column_names"],
                            bool(i["unique"]),
                            sorted(
                                (k, str(v)) for k, v in (i.get("dialect_options") or {}).items()
                            ),
                        ]
                        for i in inspector.get_indexes(table)
                    ),
                    "unique constraints": sorted(
                        [u["name"], u["column_names"]]
                        for u in inspector.get_unique_constraints(table)
                    ),
                    "check constraints": sorted(
                        [str(c["name"]), c["sqltext"]]
                        for c in inspector.get_check_constraints(table)
                    ),
                }
            rows = {
                "alembic_version": "SELECT version_num FROM alembic_version",
                "workspaces": "SELECT name, description, default_artifact_root, "
                "trace_archival_location, trace_archival_retention FROM workspaces",
            }
            for table, sql in rows.items():
                found[table]["rows"] = [list(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()
    return found


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_created_schema_is_mlflows_head(dialect: str, tmp_path: Path) -> None:
    theirs_uri = _fresh_database(dialect, tmp_path, "mlhead")
    ours_uri = _fresh_database(dialect, tmp_path, "tyhead")
    run_mlflow(_MLFLOW_CREATES, uri=theirs_uri, artifacts=str(tmp_path / "ml-art"), cwd=tmp_path)
    SqlRegistryStore(ours_uri).close()  # either store creates the whole schema
    theirs, ours = describe(theirs_uri), describe(ours_uri)
    assert theirs["alembic_version"]["rows"] == [[HEAD_REVISION]]

    for (where, table, column), (their_type, our_type) in DEVIATIONS.items():
        if where == dialect:
            ours_column = next(c for c in ours[table]["columns"] if c["name"] == column)
            their_column = next(c for c in theirs[table]["columns"] if c["name"] == column)
            assert (their_column["type"], ours_column["type"]) == (their_type, our_type)
            ours_column["type"] = their_type
    own = {
        (table, index[0], tuple(index[1]))
        for table, found in ours.items()
        for index in found["indexes"]
        if index[0].startswith("trackyard_")
    }
    assert own == {(i.table, i.name, i.columns) for i in INDEXES if dialect in i.dialects}
    for table in {t for t, _, _ in own}:
        ours[table]["indexes"] = [
            i for i in ours[table]["indexes"] if not i[0].startswith("trackyard_")
        ]
    assert sorted(ours) == sorted(theirs)
    assert len(theirs) == 65
    for table in theirs:
        for aspect, want in theirs[table].items():
            assert ours[table][aspect] == want, f"{dialect}: {table} {aspect}"


# ---------------------------------------------------------------------------------------------
# 2. MLflow's client on a database trackyard created


@pytest.fixture(params=["sqlite", "postgresql"])
def created_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database trackyard created and filled (see :func:`_fill`)."""
    yield _fresh_database(str(request.param), tmp_path, "tycreated")


def _fill(uri: str, tmp_path: Path) -> dict[str, Any]:
    """trackyard creates the database and writes an experiment, two runs and a model."""
    tracking = SqlTrackingStore(uri, str(tmp_path / "ty-art"))
    registry = SqlRegistryStore(uri)
    try:
        client = make_client(tracking, registry_store=registry)
        exp = client.create_experiment("ty-exp", tags={"owner": "trackyard"})
        runs = []
        for i in range(2):
            run = client.create_run(exp, start_time=T0 + i, run_name=f"ty-run-{i}")
            rid = run.info.run_id
            client.log_batch(
                rid,
                metrics=[
                    Metric("acc", 0.25 + 0.5 * i, T0, 0),
                    Metric("acc", 0.9 if i else math.nan, T0 + 1, 1),
                ],
                params=[Param("lr", f"0.{i + 1}")],
                tags=[RunTag("team", "vision")],
            )
            runs.append(rid)
        client.set_terminated(runs[1])
        client.create_registered_model("ty-model", tags={"stage": "dev"})
        version = client.create_model_version("ty-model", "s3://bucket/model", run_id=runs[1])
        client.set_registered_model_alias("ty-model", "champion", version.version)
        return {"exp": exp, "runs": runs}
    finally:
        registry.close()
        tracking.close()


_MLFLOW_USES = r"""
import math
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

uri = ARGS["uri"]
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
client = MlflowClient(uri, uri)
exp = client.get_experiment_by_name("ty-exp")
seen = {"experiment": [exp.experiment_id, exp.tags.get("owner")]}
seen["runs"] = {}
for rid in ARGS["runs"]:
    run = client.get_run(rid)
    acc = run.data.metrics["acc"]
    seen["runs"][rid] = {
        "name": run.info.run_name, "status": run.info.status, "params": run.data.params,
        "team": run.data.tags["team"], "acc": "nan" if math.isnan(acc) else acc,
        "history": [[m.step, "nan" if math.isnan(m.value) else m.value]
                    for m in client.get_metric_history(rid, "acc")],
    }
seen["search"] = [r.info.run_id for r in client.search_runs([exp.experiment_id],
                  "metrics.acc > 0.5 and params.lr = '0.2'")]
champion = client.get_model_version_by_alias("ty-model", "champion")
seen["champion"] = [str(champion.version), champion.source, champion.run_id]
seen["models"] = [m.name for m in client.search_registered_models()]

# MLflow writes: runs, datasets, registry, a trace and a logged model
new_exp = client.create_experiment("ml-exp")
run = client.create_run(new_exp, run_name="ml-run")
client.log_batch(run.info.run_id, metrics=[Metric("loss", 0.5, 1, 3)],
                 params=[Param("opt", "adam")], tags=[RunTag("by", "mlflow")])
client.log_inputs(run.info.run_id, datasets=[DatasetInput(
    Dataset("train", "d1", "local", "/data/train.csv"),
    [InputTag("mlflow.data.context", "training")])])
client.set_terminated(run.info.run_id)
client.log_metric(ARGS["runs"][0], "acc", 0.99, timestamp=2, step=5)
version = client.create_model_version("ty-model", "s3://bucket/model-2", run_id=run.info.run_id)
mlflow.set_experiment(experiment_id=new_exp)

@mlflow.trace
def predict(x):
    return x + 1

predict(1)
mlflow.flush_trace_async_logging()
trace = client.get_trace(mlflow.get_last_active_trace_id())
model = mlflow.initialize_logged_model(name="ml-logged", experiment_id=new_exp)
# a point in logged_model_metrics, which carries trackyard's own index
client.log_metric(run.info.run_id, "acc", 0.75, timestamp=3, step=0, model_id=model.model_id)
found = client.search_logged_models([new_exp], filter_string="metrics.acc > 0.5")
seen["wrote"] = {
    "model_search": [m.model_id for m in found] == [model.model_id],
    "exp": new_exp, "run": run.info.run_id, "version": str(version.version),
    "trace": [getattr(trace.info.state, "value", str(trace.info.state)), len(trace.data.spans)],
    "logged_model": client.get_logged_model(model.model_id).name,
}
emit(seen)
"""


def test_mlflow_client_uses_a_database_trackyard_created(created_uri: str, tmp_path: Path) -> None:
    made = _fill(created_uri, tmp_path)
    seen = run_mlflow(_MLFLOW_USES, uri=created_uri, runs=made["runs"], cwd=tmp_path, timeout=600)
    first, second = made["runs"]
    assert seen["experiment"] == [made["exp"], "trackyard"]
    assert seen["runs"][first] == {
        "name": "ty-run-0",
        "status": "RUNNING",
        "params": {"lr": "0.1"},
        "team": "vision",
        "acc": "nan",
        "history": [[0, 0.25], [1, "nan"]],
    }
    assert seen["runs"][second]["status"] == "FINISHED"
    assert seen["runs"][second]["acc"] == 0.9
    assert seen["search"] == [second]
    assert seen["champion"] == ["1", "s3://bucket/model", second]
    assert seen["models"] == ["ty-model"]
    assert seen["wrote"]["trace"] == ["OK", 1]
    assert seen["wrote"]["logged_model"] == "ml-logged"
    assert seen["wrote"]["model_search"] is True

    # trackyard reads what MLflow wrote
    tracking = SqlTrackingStore(created_uri, str(tmp_path / "ty-art"))
    registry = SqlRegistryStore(created_uri)
    try:
        client = make_client(tracking, registry_store=registry)
        wrote = seen["wrote"]
        run = client.get_run(wrote["run"])
        assert (run.data.metrics, run.data.params, run.data.tags["by"]) == (
            {"loss": 0.5, "acc": 0.75},
            {"opt": "adam"},
            "mlflow",
        )
        (dataset_input,) = run.inputs.dataset_inputs
        assert dataset_input.dataset.name == "train"
        assert client.get_run(first).data.metrics["acc"] == 0.99
        versions = client.search_model_versions("name = 'ty-model'")
        assert [v.version for v in versions] == [wrote["version"], "1"]
        names = {e.name for e in client.search_experiments(ViewType.ALL)}
        assert names == {"Default", "ty-exp", "ml-exp"}
        (model,) = client.search_logged_models([wrote["exp"]], filter_string="metrics.acc > 0.5")
        assert model.name == "ml-logged" and [m.value for m in model.metrics or ()] == [0.75]
    finally:
        registry.close()
        tracking.close()
    assert describe(created_uri)["alembic_version"]["rows"] == [[HEAD_REVISION]]


# ---------------------------------------------------------------------------------------------
# 3. mlflow server on a database trackyard created


def _call(base: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:  # loopback only
        return dict(json.loads(resp.read() or b"{}"))


@pytest.fixture
def mlflow_server(created_uri: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``mlflow server`` on a database trackyard created: (base URL, store URI)."""
    from tests._mlflow_server import start_mlflow_server

    _fill(created_uri, tmp_path)
    python = mlflow_python()
    assert python is not None
    try:
        server = start_mlflow_server(python, tmp_path / "server", backend_store_uri=created_uri)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.url, created_uri
    finally:
        server.stop()


def test_mlflow_server_serves_a_database_trackyard_created(
    mlflow_server: tuple[str, str], tmp_path: Path
) -> None:
    base, uri = mlflow_server
    api = "/api/2.0/mlflow"
    exp = _call(base, f"{api}/experiments/get-by-name?experiment_name=ty-exp")["experiment"]
    assert exp["name"] == "ty-exp"
    found = _call(
        base,
        f"{api}/runs/search",
        {"experiment_ids": [exp["experiment_id"]], "filter": "metrics.acc > 0.5"},
    )
    assert [r["info"]["run_name"] for r in found["runs"]] == ["ty-run-1"]
    model = _call(base, f"{api}/registered-models/get?name=ty-model")["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]

    new_exp = _call(base, f"{api}/experiments/create", {"name": "from-server"})["experiment_id"]
    run = _call(base, f"{api}/runs/create", {"experiment_id": new_exp, "start_time": T0})["run"]
    rid = run["info"]["run_id"]
    _call(
        base,
        f"{api}/runs/log-metric",
        {"run_id": rid, "key": "served", "value": 1.5, "timestamp": T0, "step": 2},
    )

    store = SqlTrackingStore(uri, str(tmp_path / "ty-art"))
    try:
        assert store.get_experiment_by_name("from-server").experiment_id == new_exp
        assert store.get_run(rid).data.metrics == {"served": 1.5}
    finally:
        store.close()
    assert describe(uri)["alembic_version"]["rows"] == [[HEAD_REVISION]]
