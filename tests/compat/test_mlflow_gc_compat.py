"""MLflow 3.17.2 writes a SQLite database and an mlruns folder, trackyard's gc removes the
deleted runs and experiments, and MLflow opens both afterwards and sees exactly what remains.

MLflow runs as a peer (``tests/compat/peer.py``); every artifact root lies under the test's
``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard.backends import clear_store_cache
from trackyard.gc import gc

pytestmark = [pytest.mark.compat, requires_mlflow]

_WRITE = """
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag



def full_run(client, exp_id, deleted):
    run = client.create_run(exp_id, tags={"team": "gc"})
    rid = run.info.run_id
    client.log_batch(
        rid,
        metrics=[Metric("loss", 1.0 / (s + 1), 1700000000000 + s, s) for s in range(3)],
        params=[Param("lr", "0.1")],
        tags=[RunTag("note", "n")],
    )
    dataset = Dataset(name="train", digest="d1", source_type="local", source="/data")
    client.log_inputs(rid, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
    client.log_text(rid, "weights", "model/weights.txt")
    client.set_terminated(rid)
    if deleted:
        client.delete_run(rid)
    return rid


def write(uri, root):
    client = MlflowClient(tracking_uri=uri)
    live = client.create_experiment("gc-live", artifact_location=root + "/live")
    dead = client.create_experiment("gc-dead", artifact_location=root + "/dead")
    ids = {
        "live": live,
        "dead": dead,
        "kept": full_run(client, live, False),
        "deleted": full_run(client, live, True),
        "inner": full_run(client, dead, False),
    }
    client.delete_experiment(dead)
    return ids


emit({uri: write(uri, root) for uri, root in ARGS["stores"].items()})
"""

_READ = """
from mlflow import MlflowClient
from mlflow.entities import ViewType



def read(uri):
    client = MlflowClient(tracking_uri=uri)
    experiments = {
        e.experiment_id: e.lifecycle_stage
        for e in client.search_experiments(view_type=ViewType.ALL)
    }
    runs = {}
    for exp_id in experiments:
        for run in client.search_runs([exp_id], run_view_type=ViewType.ALL):
            runs[run.info.run_id] = {
                "stage": run.info.lifecycle_stage,
                "params": run.data.params,
                "metrics": run.data.metrics,
                "history": len(client.get_metric_history(run.info.run_id, "loss")),
                "inputs": len(run.inputs.dataset_inputs),
                "artifacts": [f.path for f in client.list_artifacts(run.info.run_id, "model")],
            }
    again = client.create_experiment("gc-dead")  # the removed experiment's name is free
    run = client.create_run(again)
    client.log_metric(run.info.run_id, "m", 1.0)
    client.delete_run(run.info.run_id)
    return {"experiments": experiments, "runs": runs}


emit({uri: read(uri) for uri in ARGS["uris"]})
"""


def test_mlflow_sees_exactly_what_gc_left(tmp_path: Path) -> None:
    """One SQLite database and one mlruns folder, each through one MLflow peer per step."""
    stores = {
        f"sqlite:///{tmp_path / 'mlflow.db'}": str(tmp_path / "sqlite-artifacts"),
        (tmp_path / "mlruns").as_uri(): str(tmp_path / "mlruns-artifacts"),
    }
    written: dict[str, dict[str, str]] = run_mlflow(_WRITE, stores=stores)
    clear_store_cache()
    for uri, ids in written.items():
        report = gc(uri)
        assert report.ok, report.failures
        assert report.runs == tuple(sorted([ids["deleted"], ids["inner"]]))
        assert report.experiments == (ids["dead"],)
        root = Path(stores[uri])
        assert not (root / "live" / ids["deleted"] / "artifacts" / "model").exists()
        assert not (root / "dead" / ids["inner"] / "artifacts" / "model").exists()
        assert (root / "live" / ids["kept"] / "artifacts" / "model" / "weights.txt").exists()

    seen: dict[str, Any] = run_mlflow(_READ, uris=list(stores))
    for uri, ids in written.items():
        assert seen[uri]["experiments"] == {"0": "active", ids["live"]: "active"}, uri
        assert seen[uri]["runs"] == {
            ids["kept"]: {
                "stage": "active",
                "params": {"lr": "0.1"},
                "metrics": {"loss": 1.0 / 3},
                "history": 3,
                "inputs": 1,
                "artifacts": ["model/weights.txt"],
            }
        }, uri
