"""``trackyard.copy_store`` between MLflow's own stores: MLflow reads the copies as its data.

MLflow 3.17.2 (the peer, ``tests/compat/peer.py``) fills a SQLite database and an ``mlruns``
folder with experiments (one deleted), runs (finished, failed, deleted) with params, tags
and metric histories, and a registry (models, versions, tags, aliases). trackyard copies
each into a file store and into DuckDB, and from there into a new SQLite database and a new
``mlruns`` folder. MLflow then reads the new ones: the same experiments, runs, histories,
registered models, versions and aliases as in the originals.

Needs ``TRACKYARD_TEST_MLFLOW_PYTHON``; skips with the reason otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard.copy import copy_store

pytestmark = [pytest.mark.compat, requires_mlflow]

_FILL = r"""
import math
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

c = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
exp = c.create_experiment("train", artifact_location=ARGS["artifacts"], tags={"team": "a"})
ids = []
for i in range(3):
    run = c.create_run(exp, run_name=f"run-{i}", start_time=1_700_000_000_000 + i,
                       tags={"k": str(i)})
    rid = run.info.run_id
    points = [Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(40)]
    points += [Metric("acc", s / 40, 1_700_000_001_000 + s, s) for s in range(40)]
    points += [Metric("odd", math.nan, 1_700_000_002_000, 0)]
    c.log_batch(rid, metrics=points, params=[Param("lr", str(i))], tags=[RunTag("t", "v")])
    c.set_terminated(rid, "FAILED" if i == 1 else "FINISHED", end_time=1_700_000_009_000 + i)
    ids.append(rid)
c.delete_run(ids[2])
gone = c.create_experiment("old", artifact_location=ARGS["artifacts"] + "-old")
c.create_run(gone, run_name="in-old")
c.delete_experiment(gone)
c.create_registered_model("m", tags={"owner": "me"}, description="a model")
c.create_model_version("m", f"runs:/{ids[0]}/model", run_id=ids[0], tags={"v": "1"})
c.create_model_version("m", "s3://bucket/elsewhere", description="second")
c.set_registered_model_alias("m", "champion", "2")
c.transition_model_version_stage("m", "1", "Staging")
emit(ids)
"""

_READ = r"""
import math
from mlflow import MlflowClient
from mlflow.entities import ViewType

c = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
out = {"experiments": {}, "runs": {}, "models": {}}

def value(v):
    return "nan" if math.isnan(v) else v

history = c.get_metric_history

for e in c.search_experiments(view_type=ViewType.ALL):
    entry = {"id": e.experiment_id, "stage": e.lifecycle_stage, "tags": e.tags}
    if e.name != "Default":  # every store makes its own Default experiment
        entry["times"] = [e.creation_time, e.last_update_time]
    out["experiments"][e.name] = entry
    for r in c.search_runs([e.experiment_id], run_view_type=ViewType.ALL):
        i = r.info
        out["runs"][i.run_id] = {
            "experiment": e.name,
            "info": [i.run_name, i.status, i.start_time, i.end_time, i.lifecycle_stage, i.user_id],
            "params": r.data.params,
            "tags": r.data.tags,
            "latest": {k: value(v) for k, v in r.data.metrics.items()},
            "history": {
                k: [[m.timestamp, m.step, value(m.value)] for m in history(i.run_id, k)]
                for k in sorted(r.data.metrics)
            },
        }
for m in c.search_registered_models():
    versions = c.search_model_versions(f"name = '{m.name}'")
    out["models"][m.name] = {
        "description": m.description,
        "tags": m.tags,
        "aliases": m.aliases,
        "times": [m.creation_timestamp, m.last_updated_timestamp],
        "versions": {
            v.version: [v.run_id, v.current_stage, v.description, v.status, v.tags, v.user_id,
                        v.creation_timestamp, v.last_updated_timestamp]
            for v in versions
        },
        "by_alias": c.get_model_version_by_alias(m.name, "champion").version,
    }
emit(out)
"""


def _read(uri: str) -> dict[str, Any]:
    result: dict[str, Any] = run_mlflow(_READ, uri=uri)
    return result


@pytest.mark.parametrize("origin", ["sqlite", "mlruns"])
def test_mlflow_reads_what_trackyard_copied(tmp_path: Path, origin: str, monkeypatch) -> None:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "art"))

    def store(name: str) -> str:
        if origin == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        return (tmp_path / name).as_uri()

    source = store("mlflow")
    ids = run_mlflow(_FILL, uri=source, artifacts=str(tmp_path / "art-src"))
    original = _read(source)
    assert len(original["runs"]) == 4 and set(ids) <= set(original["runs"])
    assert len(original["runs"][ids[0]]["history"]["loss"]) == 40

    for middle in ((tmp_path / "copy").as_uri(), f"duckdb:///{tmp_path / 'copy.duckdb'}"):
        back = store("back-" + middle.split(":")[0])
        for a, b in ((source, middle), (middle, back)):
            report = copy_store(a, b, include_artifacts=False, progress=False)
            assert (report.runs, report.model_versions) == (4, 2), report.summary()
        assert _read(back) == original, middle
