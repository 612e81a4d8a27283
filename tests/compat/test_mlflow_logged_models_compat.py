"""Logged models in one SQL database, shared by trackyard and MLflow 3.17.2, both ways.

1. MLflow creates logged models (tags, params, metrics logged with ``model_id`` and datasets,
   finalized, one deleted); trackyard reads each one exactly as MLflow does and its searches
   return MLflow's models in MLflow's order.
2. trackyard creates logged models the same way, and logs a run's dataset and model inputs
   and model outputs; MLflow reads them (get and search) as trackyard does.

SQLite always; PostgreSQL and MariaDB when their services are configured. Needs
``TRACKYARD_TEST_MLFLOW_PYTHON``; skips otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from tests.compat.test_mlflow_sql_compat import db_uri  # noqa: F401 - the fixture
from trackyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
)
from trackyard.testing import make_client
from trackyard_sql.tracking import SqlTrackingStore

pytestmark = [pytest.mark.compat, requires_mlflow]

T0 = 1_700_000_000_000

# (filter, order_by, datasets): searches whose results MLflow and trackyard must agree on.
SEARCHES: list[tuple[str, list[dict[str, Any]] | None, list[dict[str, str]] | None]] = [
    ("", None, None),
    ("metrics.acc > 0.5", None, None),
    ("metrics.acc > 0.5", None, [{"dataset_name": "eval"}]),
    ("", [{"field_name": "metrics.acc", "ascending": False}], None),
    ("", [{"field_name": "metrics.acc", "dataset_name": "train"}], None),
    ("params.lr = '0.1'", [{"field_name": "name"}], None),
    ("tags.team = 'vision'", None, None),
    ("name LIKE 'lm-%'", [{"field_name": "name", "ascending": False}], None),
    ("model_type = 'sklearn'", None, None),
    ("creation_timestamp > 0", [{"field_name": "creation_timestamp"}], None),
]

_DUMP = r"""
def dump(client, exp_ids, ids, searches):
    models = {}
    for mid in ids:
        m = client.get_logged_model(mid)
        models[mid] = {
            "experiment_id": m.experiment_id, "name": m.name,
            "artifact_location": m.artifact_location, "status": str(m.status),
            "model_type": m.model_type, "source_run_id": m.source_run_id,
            "tags": m.tags, "params": m.params,
            "creation": m.creation_timestamp, "updated": m.last_updated_timestamp,
            "metrics": sorted([x.key, x.value, x.timestamp, x.step, x.run_id,
                               x.dataset_name, x.dataset_digest] for x in m.metrics or []),
        }
    found = []
    for flt, order, datasets in searches:
        page = client.search_logged_models(exp_ids, filter_string=flt or None,
                                           datasets=datasets, max_results=1000,
                                           order_by=order)
        found.append([m.model_id for m in page])
    return {"models": models, "searches": found}
"""

_MLFLOW_WRITES = (
    _DUMP
    + r"""
from mlflow import MlflowClient
from mlflow.entities import Metric

client = MlflowClient(tracking_uri=ARGS["uri"])
T0 = ARGS["t0"]
exp = client.create_experiment("lm-compat")
run = client.create_run(exp).info.run_id
ids = []
for i in range(6):
    m = client.create_logged_model(
        exp, name=f"lm-{i}", source_run_id=run if i % 2 else None,
        tags={"team": ["vision", "nlp"][i % 2]}, params={"lr": ["0.1", "0.01", "1"][i % 3]},
        model_type=["sklearn", "torch"][i % 2],
    )
    client.log_batch(run, metrics=[
        Metric("acc", 0.1 * i + 0.2, T0 + i, 0, model_id=m.model_id,
               dataset_name="train", dataset_digest="t1"),
        Metric("acc", 0.9 - 0.1 * i, T0 + 100 + i, 1, model_id=m.model_id,
               dataset_name="eval", dataset_digest="e1"),
    ])
    if i % 3 == 1:
        client.finalize_logged_model(m.model_id, "READY")
    ids.append(m.model_id)
gone = client.create_logged_model(exp, name="gone")
client.delete_logged_model(gone.model_id)
emit({"exp": exp, "ids": ids, "gone": gone.model_id,
      **dump(client, [exp], ids, ARGS["searches"])})
"""
)

_MLFLOW_READS = (
    _DUMP
    + r"""
from mlflow import MlflowClient

client = MlflowClient(tracking_uri=ARGS["uri"])
result = dump(client, [ARGS["exp"]], ARGS["ids"], ARGS["searches"])
run = client.get_run(ARGS["run"])
result["inputs"] = sorted(
    [i.dataset.name, i.dataset.digest, i.dataset.source_type, i.dataset.source,
     sorted([t.key, t.value] for t in i.tags)]
    for i in run.inputs.dataset_inputs
)
result["model_inputs"] = [m.model_id for m in run.inputs.model_inputs]
result["model_outputs"] = [[m.model_id, m.step] for m in run.outputs.model_outputs]
result["by_dataset"] = [
    r.info.run_id for r in client.search_runs([ARGS["exp"]], "datasets.context = 'training'")
]
emit(result)
"""
)


def _dump(client: Any, exp_ids: list[str], ids: list[str]) -> dict[str, Any]:
    models = {}
    for mid in ids:
        m = client.get_logged_model(mid)
        models[mid] = {
            "experiment_id": m.experiment_id,
            "name": m.name,
            "artifact_location": m.artifact_location,
            "status": str(m.status),
            "model_type": m.model_type,
            "source_run_id": m.source_run_id,
            "tags": m.tags,
            "params": m.params,
            "creation": m.creation_timestamp,
            "updated": m.last_updated_timestamp,
            "metrics": sorted(
                [x.key, x.value, x.timestamp, x.step, x.run_id, x.dataset_name, x.dataset_digest]
                for x in m.metrics or []
            ),
        }
    found = [
        [m.model_id for m in client.search_logged_models(exp_ids, flt or None, ds, 1000, order)]
        for flt, order, ds in SEARCHES
    ]
    return {"models": models, "searches": found}


def _searches() -> list[list[Any]]:
    return [[f, o, d] for f, o, d in SEARCHES]


def test_trackyard_reads_logged_models_mlflow_wrote(db_uri: str, tmp_path: Any) -> None:  # noqa: F811
    written = run_mlflow(_MLFLOW_WRITES, uri=db_uri, t0=T0, searches=_searches())
    store = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "a"))
    try:
        client = make_client(store)
        got = _dump(client, [written["exp"]], written["ids"])
        assert got["models"] == written["models"]
        assert got["searches"] == written["searches"]
        assert written["gone"] not in {m for s in got["searches"] for m in s}
    finally:
        store.close()


def test_mlflow_reads_logged_models_trackyard_wrote(db_uri: str, tmp_path: Any) -> None:  # noqa: F811
    run_mlflow(
        "from mlflow import MlflowClient\n"
        "MlflowClient(tracking_uri=ARGS['uri']).search_experiments()",
        uri=db_uri,
    )  # MLflow creates the database
    store = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "a"))
    try:
        client = make_client(store)
        exp = client.create_experiment("lm-compat")
        run = client.create_run(exp).info.run_id
        ids = []
        for i in range(6):
            m = client.create_logged_model(
                exp,
                name=f"lm-{i}",
                source_run_id=run if i % 2 else None,
                tags={"team": ["vision", "nlp"][i % 2]},
                params={"lr": ["0.1", "0.01", "1"][i % 3]},
                model_type=["sklearn", "torch"][i % 2],
            )
            client.log_batch(
                run,
                metrics=[
                    Metric(
                        "acc",
                        0.1 * i + 0.2,
                        T0 + i,
                        0,
                        model_id=m.model_id,
                        dataset_name="train",
                        dataset_digest="t1",
                    ),
                    Metric(
                        "acc",
                        0.9 - 0.1 * i,
                        T0 + 100 + i,
                        1,
                        model_id=m.model_id,
                        dataset_name="eval",
                        dataset_digest="e1",
                    ),
                ],
            )
            if i % 3 == 1:
                client.finalize_logged_model(m.model_id, "READY")
            ids.append(m.model_id)
        gone = client.create_logged_model(exp, name="gone")
        client.delete_logged_model(gone.model_id)
        client.log_inputs(
            run,
            [
                DatasetInput(
                    Dataset("train", "t1", "local", "/data/t.csv"),
                    (InputTag("mlflow.data.context", "training"),),
                ),
                DatasetInput(Dataset("eval", "e1", "local", "/data/e.csv")),
            ],
            [LoggedModelInput(ids[0])],
        )
        client.log_outputs(run, [LoggedModelOutput(ids[1], 7)])
        mine = _dump(client, [exp], ids)
    finally:
        store.close()
    theirs = run_mlflow(_MLFLOW_READS, uri=db_uri, exp=exp, ids=ids, run=run, searches=_searches())
    assert theirs.pop("inputs") == [
        ["eval", "e1", "local", "/data/e.csv", []],
        ["train", "t1", "local", "/data/t.csv", [["mlflow.data.context", "training"]]],
    ]
    assert theirs.pop("model_inputs") == [ids[0]]
    assert theirs.pop("model_outputs") == [[ids[1], 7]]
    assert theirs.pop("by_dataset") == [run]
    assert theirs == mine
