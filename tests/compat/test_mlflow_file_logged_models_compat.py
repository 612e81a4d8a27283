"""Logged models and run inputs in the file store: trackyard and MLflow 3.17.2 read each
other's folders.

Each side creates logged models (tags, params, one ``acc`` point per dataset logged with
``model_id``, finalized, one deleted) and logs a run's dataset and model inputs and a model
output through its own ``MlflowClient``; the other side reads
every model and runs a few searches, and the two dumps must agree. (MLflow's file store shows
only the newest point per dataset of each metric; with one point per dataset both views are
the same.) Metric filters are not compared: MLflow's file store evaluates them differently
from MLflow's SQL store (it finds fewer models for ``metrics.acc > 0.5`` on this data), and
trackyard follows the SQL store on every backend. Needs ``TRACKYARD_TEST_MLFLOW_PYTHON``;
skips otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard import MlflowClient, entities

pytestmark = [pytest.mark.compat, requires_mlflow]

T0 = 1_700_000_000_000

SEARCHES: list[list[Any]] = [
    ["", None],
    ["params.lr = '0.1'", [{"field_name": "name"}]],
    ["tags.team = 'vision'", [{"field_name": "name", "ascending": False}]],
    ["name LIKE 'lm-%'", [{"field_name": "creation_timestamp"}]],
]

_DUMP = r"""
def dump(client, exp, ids, searches, run):
    r = client.get_run(run)
    links = {
        "datasets": sorted(
            [i.dataset.name, i.dataset.digest, i.dataset.source_type, i.dataset.source,
             sorted([t.key, t.value] for t in i.tags)]
            for i in r.inputs.dataset_inputs
        ),
        "model_inputs": sorted(m.model_id for m in r.inputs.model_inputs),
        "model_outputs": sorted([m.model_id, m.step] for m in r.outputs.model_outputs),
    }
    models = {}
    for mid in ids:
        m = client.get_logged_model(mid)
        models[mid] = {
            "experiment_id": m.experiment_id, "name": m.name,
            "artifact_location": m.artifact_location, "status": str(m.status),
            "model_type": m.model_type, "source_run_id": m.source_run_id,
            "tags": dict(m.tags), "params": dict(m.params),
            "creation": m.creation_timestamp, "updated": m.last_updated_timestamp,
            "metrics": sorted([x.key, x.value, x.timestamp, x.step, x.dataset_name,
                               x.dataset_digest] for x in m.metrics or []),
        }
    found = [
        [m.model_id for m in client.search_logged_models(
            [exp], filter_string=flt or None, max_results=1000, order_by=order)]
        for flt, order in searches
    ]
    return {"models": models, "searches": found, "links": links}


def populate(client, E, T0):
    Metric = E.Metric
    exp = client.create_experiment("lm-file-compat")
    run = client.create_run(exp).info.run_id
    ids = []
    for i in range(5):
        m = client.create_logged_model(
            exp, name=f"lm-{i}", source_run_id=run if i % 2 else None,
            tags={"team": ["vision", "nlp"][i % 2]}, params={"lr": ["0.1", "0.01"][i % 2]},
            model_type="sklearn",
        )
        client.log_batch(run, metrics=[
            Metric("acc", 0.2 * i, T0 + i, 0, model_id=m.model_id,
                   dataset_name="train", dataset_digest="t1"),
            Metric("acc", 1 - 0.2 * i, T0 + 50 + i, 1, model_id=m.model_id,
                   dataset_name="eval", dataset_digest="e1"),
        ])
        if i % 2:
            client.finalize_logged_model(m.model_id, "READY")
        ids.append(m.model_id)
    gone = client.create_logged_model(exp, name="gone")
    client.delete_logged_model(gone.model_id)
    context = [E.InputTag("mlflow.data.context", "training")]
    client.log_inputs(run, datasets=[
        E.DatasetInput(E.Dataset("train", "t1", "local", "/data/t.csv"), context),
        E.DatasetInput(E.Dataset("eval", "e1", "local", "/data/e.csv"), []),
    ], models=[E.LoggedModelInput(ids[0])])
    client.log_outputs(run, [E.LoggedModelOutput(ids[1], 7)])
    return exp, ids, run
"""

_MLFLOW_WRITES = (
    _DUMP
    + r"""
from mlflow import MlflowClient
import mlflow.entities as E

client = MlflowClient(tracking_uri=ARGS["uri"])
exp, ids, run = populate(client, E, ARGS["t0"])
emit({"exp": exp, "ids": ids, "run": run, **dump(client, exp, ids, ARGS["searches"], run)})
"""
)

_MLFLOW_READS = (
    _DUMP
    + r"""
from mlflow import MlflowClient

client = MlflowClient(tracking_uri=ARGS["uri"])
emit(dump(client, ARGS["exp"], ARGS["ids"], ARGS["searches"], ARGS["run"]))
"""
)


def _local() -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(_DUMP, scope)
    return scope


def test_trackyard_reads_logged_models_mlflow_wrote(tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    written = run_mlflow(_MLFLOW_WRITES, uri=uri, t0=T0, searches=SEARCHES)
    client = MlflowClient(tracking_uri=uri)
    mine = _local()["dump"](client, written["exp"], written["ids"], SEARCHES, written["run"])
    assert mine["models"] == written["models"]
    assert mine["searches"] == written["searches"]
    assert mine["links"] == written["links"]


def test_mlflow_reads_logged_models_trackyard_wrote(tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(tracking_uri=uri)
    scope = _local()
    exp, ids, run = scope["populate"](client, entities, T0)
    mine = scope["dump"](client, exp, ids, SEARCHES, run)
    assert mine["links"]["model_outputs"] == [[ids[1], 7]]
    theirs = run_mlflow(_MLFLOW_READS, uri=uri, exp=exp, ids=ids, run=run, searches=SEARCHES)
    assert theirs == mine
