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

import itertools
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


_FILL_TRACES = r"""
import mlflow
from mlflow.entities import AssessmentSource

mlflow.set_tracking_uri(ARGS["uri"])
exp = mlflow.create_experiment("traced", artifact_location=ARGS["artifacts"])
mlflow.set_experiment(experiment_id=exp)

@mlflow.trace
def answer(q):
    with mlflow.start_span("tool") as span:
        span.set_inputs({"q": q})
    return q + 1

answer(1)
mlflow.flush_trace_async_logging()
trace_id = mlflow.get_last_active_trace_id()
judge = AssessmentSource(source_type="LLM_JUDGE", source_id="judge-1")
first = mlflow.log_feedback(trace_id=trace_id, name="good", value=True, source=judge,
                            rationale="fine", metadata={"k": "v"})
mlflow.override_feedback(trace_id=trace_id, assessment_id=first.assessment_id, value=False,
                         rationale="wrong", source=AssessmentSource("HUMAN", "ann"))
mlflow.log_feedback(trace_id=trace_id, name="judged", error=ValueError("judge timed out"))
mlflow.log_expectation(trace_id=trace_id, name="answer", value={"text": "42"})
ARGS["trace_id"] = trace_id
"""

_READ_TRACES = r"""
import mlflow

mlflow.set_tracking_uri(ARGS["uri"])
trace = mlflow.get_trace(ARGS["trace_id"])
assessments = sorted((a.to_dictionary() for a in trace.info.assessments),
                     key=lambda d: d["assessment_id"])
emit({"trace_id": ARGS["trace_id"], "spans": sorted(s.name for s in trace.data.spans),
      "assessments": assessments})
"""


def test_assessments_mlflow_logged_survive_a_round_trip(tmp_path: Path) -> None:
    """MLflow's own SQLite database with a trace and assessments (one overridden, one an
    error) -> file store -> DuckDB -> SQLite: MLflow reads the same assessments back."""
    from trackyard.copy import dump_store

    source = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # one peer run fills and reads (MLflow's start-up is most of this test's time)
    original = run_mlflow(_FILL_TRACES + _READ_TRACES, uri=source, artifacts=str(tmp_path / "a"))
    trace_id = original["trace_id"]
    assert len(original["assessments"]) == 4 and original["spans"] == ["answer", "tool"]
    assert sorted(a["valid"] for a in original["assessments"]) == [False, True, True, True]
    chain = [
        source,
        (tmp_path / "copy").as_uri(),
        f"duckdb:///{tmp_path / 'copy.duckdb'}",
        f"sqlite:///{tmp_path / 'back.db'}",
    ]
    for a, b in itertools.pairwise(chain):
        report = copy_store(a, b, dst_artifact_root=str(tmp_path / "art"), progress=False)
        assert (report.traces, report.assessments) == (1, 4), report.summary()
    assert run_mlflow(_READ_TRACES, uri=chain[-1], trace_id=trace_id) == original
    expected = dump_store(source, artifacts=False)["traces"]
    for uri in chain[1:]:
        assert dump_store(uri, artifacts=False)["traces"] == expected, uri
