"""The file store and MLflow 3.17.2's file store read each other's folders.

MLflow runs as a peer (``tests/compat/peer.py``) with ``MLFLOW_ALLOW_FILE_STORE=true``. Each
side dumps what it sees through its own ``MlflowClient`` into one JSON shape (the dump
function below runs verbatim on both sides), and the dumps must agree, except for MLflow's
documented file-store bug: it reads the step of 5-field metric lines
(``ts value step dataset digest``) as 0, where trackyard reads the real step.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard import MlflowClient
from trackyard.entities import Metric, Param, RunTag, ViewType

pytestmark = [pytest.mark.compat, requires_mlflow]

T0 = 1_700_000_000_000

_DUMP = '''
def dump(client, ViewType):
    """Everything a tracking store holds, as MlflowClient shows it, in plain JSON."""
    out = {"experiments": {}, "runs": {}}
    for e in client.search_experiments(view_type=ViewType.ALL, max_results=50000):
        out["experiments"][e.experiment_id] = {
            "name": e.name,
            "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage,
            "tags": dict(e.tags),
            "creation_time": e.creation_time,
            "last_update_time": e.last_update_time,
        }
        runs = client.search_runs([e.experiment_id], run_view_type=ViewType.ALL,
                                  max_results=50000)
        for r in runs:
            i = r.info
            history = {}
            for key in r.data.metrics:
                history[key] = sorted(
                    [p.timestamp, repr(p.value), p.step, p.dataset_name, p.dataset_digest]
                    for p in client.get_metric_history(i.run_id, key)
                )
            out["runs"][i.run_id] = {
                "experiment_id": i.experiment_id,
                "run_name": i.run_name,
                "user_id": i.user_id,
                "status": i.status,
                "start_time": i.start_time,
                "end_time": i.end_time,
                "lifecycle_stage": i.lifecycle_stage,
                "artifact_uri": i.artifact_uri,
                "metrics": {k: repr(v) for k, v in r.data.metrics.items()},
                "params": dict(r.data.params),
                "tags": dict(r.data.tags),
                "history": history,
                "inputs": sorted(
                    [d.dataset.name, d.dataset.digest,
                     {t.key: t.value for t in d.tags}.get("mlflow.data.context")]
                    for d in r.inputs.dataset_inputs
                ),
            }
    return out
'''

_namespace: dict[str, Any] = {}
exec(_DUMP, _namespace)  # our own code, shared verbatim with the peer


def _dump(uri: str) -> dict[str, Any]:
    """What trackyard's client sees (a fresh client and store: nothing cached)."""
    from trackyard.backends import clear_store_cache

    clear_store_cache()
    result: dict[str, Any] = _namespace["dump"](MlflowClient(tracking_uri=uri), ViewType)
    return result


def _mlflow_dump(uri: str) -> dict[str, Any]:
    """What MLflow's client sees."""
    script = _DUMP + (
        "from mlflow import MlflowClient\n"
        "from mlflow.entities import ViewType\n"
        'emit(dump(MlflowClient(tracking_uri=ARGS["uri"]), ViewType))\n'
    )
    result: dict[str, Any] = run_mlflow(script, uri=uri)
    return result


def _with_mlflow_step_bug(dump: dict[str, Any]) -> dict[str, Any]:
    """A trackyard dump as MLflow would read it: 5-field metric lines get step 0."""
    dump = copy.deepcopy(dump)
    for run in dump["runs"].values():
        for key, points in run["history"].items():
            run["history"][key] = sorted(
                [ts, value, 0 if name is not None else step, name, digest]
                for ts, value, step, name, digest in points
            )
    return dump


_MLFLOW_WRITES = """
import os
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

T0 = ARGS["t0"]
client = MlflowClient(tracking_uri=ARGS["uri"])
exp = client.create_experiment("compat one", tags={"team/sub": "vision", "plain": "x"})
run = client.create_run(exp, start_time=T0, tags={"nested/tag/key": "v", "t": "1"},
                        run_name="first run")
rid = run.info.run_id
client.log_batch(rid, metrics=[
    Metric("loss", 1.5, T0, 0), Metric("loss", 0.5, T0 + 1, 1),
    Metric("nan_last", 1.0, T0, 0), Metric("nan_last", float("nan"), T0 + 1, 5),
    Metric("inf", float("inf"), T0, 2), Metric("neg/inf", float("-inf"), T0, 3),
    Metric("tiny", 1e-300, T0, 4),
], params=[Param("lr", "0.1"), Param("opt/name", "adam")], tags=[RunTag("x/y", "z")])
client.log_metric(rid, "with_dataset", 0.75, timestamp=T0, step=7,
                  dataset_name="train", dataset_digest="abc123")
client.set_terminated(rid, "FINISHED", end_time=T0 + 100)

run_dir = os.path.join(ARGS["root"], exp, rid)
with open(os.path.join(run_dir, "metrics", "legacy"), "w") as fh:  # a 2-field legacy line
    fh.write(f"{T0} 3.25\\n")

deleted_run = client.create_run(exp, start_time=T0 + 1, run_name="deleted run").info.run_id
client.log_param(deleted_run, "p", "1")
client.delete_run(deleted_run)

mlflow.set_tracking_uri(ARGS["uri"])
with mlflow.start_run(experiment_id=exp, run_name="with input") as active:
    df = pd.DataFrame({"a": [1.0, 2.0]})
    mlflow.log_input(mlflow.data.from_pandas(df, name="ds"), context="training")

gone = client.create_experiment("compat gone", tags={"k": "v"})
gone_run = client.create_run(gone, start_time=T0).info.run_id
client.log_metric(gone_run, "m", 2.0, timestamp=T0, step=1)
client.delete_experiment(gone)
emit({"exp": exp, "run": rid, "deleted_run": deleted_run, "gone": gone,
      "gone_run": gone_run, "input_run": active.info.run_id})
"""


def test_trackyard_reads_what_mlflow_wrote(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    ids = run_mlflow(_MLFLOW_WRITES, uri=root.as_uri(), root=str(root), t0=T0)
    expected = _mlflow_dump(root.as_uri())
    got = _dump(str(root))
    assert _with_mlflow_step_bug(got) == expected
    # trackyard reads the step of the 5-field line that MLflow itself loses
    assert got["runs"][ids["run"]]["history"]["with_dataset"] == [
        [T0, "0.75", 7, "train", "abc123"]
    ]
    assert expected["runs"][ids["run"]]["history"]["with_dataset"][0][2] == 0
    # the layout features this test is about are really there
    run = got["runs"][ids["run"]]
    assert run["history"]["legacy"] == [[T0, "3.25", 0, None, None]]
    assert math.isnan(float(run["metrics"]["nan_last"])) and run["metrics"]["inf"] == "inf"
    assert run["tags"]["nested/tag/key"] == "v" and run["params"]["opt/name"] == "adam"
    assert got["experiments"][ids["gone"]]["lifecycle_stage"] == "deleted"
    assert (root / ".trash" / ids["gone"] / "meta.yaml").is_file()
    assert got["runs"][ids["gone_run"]]["lifecycle_stage"] == "deleted"
    assert got["runs"][ids["deleted_run"]]["lifecycle_stage"] == "deleted"
    assert [i[0] for i in got["runs"][ids["input_run"]]["inputs"]] == ["ds"]
    assert got["runs"][ids["input_run"]]["inputs"][0][2] == "training"
    # and search works on MLflow's folder (summaries are built on the fly)
    client = MlflowClient(tracking_uri=str(root))
    found = client.search_runs([ids["exp"]], "metrics.loss < 1 AND params.lr = '0.1'")
    assert [r.info.run_id for r in found] == [ids["run"]]
    found = client.search_runs([ids["exp"]], "datasets.context = 'training'")
    assert [r.info.run_id for r in found] == [ids["input_run"]]


def _trackyard_writes(root: Path) -> dict[str, str]:
    client = MlflowClient(tracking_uri=str(root))
    exp = client.create_experiment("ty one", tags={"team/sub": "nlp", "plain": "y"})
    run = client.create_run(exp, start_time=T0, tags={"a/b/c": "deep"}, run_name="ty run")
    rid = run.info.run_id
    client.log_batch(
        rid,
        metrics=[
            Metric("loss", 2.0, T0, 0),
            Metric("loss", 1.0, T0 + 5, 1),
            Metric("nan_last", float("nan"), T0, 9),
            Metric("inf", float("inf"), T0, 0),
            Metric("grp/neg", float("-inf"), T0, 1),
        ],
        params=[Param("lr", "0.01"), Param("net/depth", "12")],
        tags=[RunTag("x/y", "z")],
    )
    client.log_batch(rid, metrics=[Metric(f"many/m{i}", float(i), T0, i) for i in range(50)])
    client.log_metric(rid, "ds", 0.5, timestamp=T0, step=3, dataset_name="val", dataset_digest="d9")
    client.set_terminated(rid, "KILLED", end_time=T0 + 50)
    other = client.create_run(exp, start_time=T0 + 1).info.run_id
    client.delete_run(other)
    gone = client.create_experiment("ty gone")
    gone_run = client.create_run(gone, start_time=T0).info.run_id
    client.log_metric(gone_run, "m", 1.0, timestamp=T0)
    client.delete_experiment(gone)
    return {"exp": exp, "run": rid, "other": other, "gone": gone, "gone_run": gone_run}


def test_mlflow_reads_what_trackyard_wrote(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    ids = _trackyard_writes(root)
    got = _dump(str(root))
    expected = _mlflow_dump(root.as_uri())
    assert _with_mlflow_step_bug(got) == expected
    assert expected["experiments"][ids["gone"]]["lifecycle_stage"] == "deleted"
    assert expected["runs"][ids["gone_run"]]["lifecycle_stage"] == "deleted"
    assert expected["runs"][ids["other"]]["lifecycle_stage"] == "deleted"
    assert expected["runs"][ids["run"]]["status"] == "KILLED"
    assert len(expected["runs"][ids["run"]]["metrics"]) == 55


def test_mlflow_writes_into_trackyard_runs_and_back(tmp_path: Path) -> None:
    """Both write to one folder in turns; each sees the other's changes, summaries included."""
    root = tmp_path / "mlruns"
    ids = _trackyard_writes(root)
    rid = ids["run"]
    MlflowClient(tracking_uri=str(root)).search_runs([ids["exp"]])  # summaries are on disk
    run_mlflow(
        """
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"])
        rid = ARGS["run"]
        client.log_metric(rid, "loss", 0.25, timestamp=ARGS["t0"] + 9, step=2)
        client.log_metric(rid, "new/key", 7.0, timestamp=ARGS["t0"], step=0)
        client.set_tag(rid, "x/y", "rewritten in place")
        client.log_param(rid, "added", "yes")
        client.set_tag(rid, "mlflow.runName", "renamed by mlflow")
        """,
        uri=root.as_uri(),
        run=rid,
        t0=T0,
    )
    got = _dump(str(root))
    run = got["runs"][rid]
    assert run["metrics"]["loss"] == "0.25" and run["metrics"]["new/key"] == "7.0"
    assert run["tags"]["x/y"] == "rewritten in place" and run["params"]["added"] == "yes"
    assert run["run_name"] == "renamed by mlflow"
    client = MlflowClient(tracking_uri=str(root))
    assert [r.info.run_id for r in client.search_runs([ids["exp"]], "metrics.loss = 0.25")] == [rid]
    client.log_metric(rid, "loss", 0.125, timestamp=T0 + 10, step=3)
    client.set_tag(rid, "x/y", "back from trackyard")
    assert _with_mlflow_step_bug(_dump(str(root))) == _mlflow_dump(root.as_uri())


def test_mlflow_reads_a_run_whose_writer_was_killed(tmp_path: Path) -> None:
    import json
    import os

    root = tmp_path / "mlruns"
    ids = _trackyard_writes(root)
    client = MlflowClient(tracking_uri=str(root))
    run_dir = Path(client._tracking_store._locate_run(ids["run"]))  # type: ignore[attr-defined]
    size = (run_dir / "metrics" / "loss").stat().st_size
    # what a trackyard writer killed half-way through a batch leaves behind
    undo = [["truncate", "metrics/loss", size], ["unlink", "metrics/half"]]
    (run_dir / ".trackyard.lock").write_bytes(json.dumps({"format": 1, "undo": undo}).encode())
    with open(run_dir / "metrics" / "loss", "ab") as fh:
        fh.write(f"{T0} 9.0 99\n{T0} 9.5".encode())
    (run_dir / "metrics" / "half").write_text(f"{T0} 1.0 0\n")
    assert os.path.getsize(run_dir / "metrics" / "loss") > size
    from trackyard.backends import clear_store_cache

    clear_store_cache()
    MlflowClient(tracking_uri=str(root)).get_run(ids["run"])  # any trackyard access rolls back
    assert _with_mlflow_step_bug(_dump(str(root))) == _mlflow_dump(root.as_uri())
    assert "half" not in _mlflow_dump(root.as_uri())["runs"][ids["run"]]["metrics"]


def test_searches_agree_with_mlflow(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    client = MlflowClient(tracking_uri=str(root))
    exp = client.create_experiment("search")
    for i in range(30):
        rid = client.create_run(exp, start_time=T0 + (i * 7) % 30, run_name=f"r{i:02d}").info.run_id
        client.log_batch(
            rid,
            metrics=[Metric("acc", (i * 37 % 100) / 100, T0, 0), Metric("loss", float(i), T0, 0)],
            params=[Param("lr", ["0.1", "0.01", "0.001"][i % 3])],
            tags=[RunTag("team", ["a", "b"][i % 2])],
        )
    cases = [
        ("", None),
        ("metrics.acc > 0.5", ["metrics.acc DESC"]),
        ("params.lr = '0.01' AND tags.team = 'b'", ["metrics.loss ASC"]),
        ("metrics.loss <= 10", ["start_time ASC", "run_name DESC"]),
        ("attributes.run_name LIKE 'r1%'", None),
    ]
    got = {
        str(i): [r.info.run_id for r in client.search_runs([exp], f, order_by=o)]
        for i, (f, o) in enumerate(cases)
    }
    expected = run_mlflow(
        """
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"])
        emit({str(i): [r.info.run_id for r in client.search_runs([ARGS["exp"]], f, order_by=o)]
              for i, (f, o) in enumerate(ARGS["cases"])})
        """,
        uri=root.as_uri(),
        exp=exp,
        cases=cases,
    )
    assert got == expected


# -- model registry ----------------------------------------------------------------------------

_DUMP_REGISTRY = '''
def dump_registry(client):
    """Every registered model and version (prompts excluded), as MlflowClient shows them."""
    out = {"models": {}, "versions": {}}
    for m in client.search_registered_models(max_results=1000):
        out["models"][m.name] = {
            "description": m.description,
            "tags": dict(m.tags),
            "aliases": dict(m.aliases),
            "creation_timestamp": m.creation_timestamp,
            "last_updated_timestamp": m.last_updated_timestamp,
            # MLflow's file store gives these versions as ints
            "latest": sorted([str(v.version), v.current_stage] for v in m.latest_versions),
        }
    for v in client.search_model_versions(max_results=100000):
        out["versions"][f"{v.name}/{v.version}"] = {
            "source": v.source,
            "run_id": v.run_id,
            "run_link": v.run_link,
            "description": v.description,
            "current_stage": v.current_stage,
            "status": v.status,
            "tags": dict(v.tags),
            "aliases": sorted(v.aliases),
            "creation_timestamp": v.creation_timestamp,
            "last_updated_timestamp": v.last_updated_timestamp,
            "download_uri": client.get_model_version_download_uri(v.name, v.version),
        }
    return out
'''
exec(_DUMP_REGISTRY, _namespace)


def _dump_registry(uri: str) -> dict[str, Any]:
    from trackyard.backends import clear_store_cache

    clear_store_cache()
    result: dict[str, Any] = _namespace["dump_registry"](MlflowClient(tracking_uri=uri))
    return result


def _mlflow_dump_registry(uri: str) -> dict[str, Any]:
    script = _DUMP_REGISTRY + (
        "import warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from mlflow import MlflowClient\n"
        'emit(dump_registry(MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])))\n'
    )
    result: dict[str, Any] = run_mlflow(script, uri=uri)
    return result


_MLFLOW_REGISTERS = """
import warnings
warnings.simplefilter("ignore")
import mlflow
from mlflow import MlflowClient

uri = ARGS["uri"]
mlflow.set_tracking_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.create_registered_model("model1", tags={"t": "v", "team/sub": "cv"}, description="d1")
client.create_model_version("model1", "s3://bucket/m1/1", run_id="a" * 32,
                            tags={"vt": "1", "nested/key": "x"}, description="first")
client.create_model_version("model1", "s3://bucket/m1/2", run_link="http://run/2")
client.create_model_version("model1", "s3://bucket/m1/3")
client.set_registered_model_alias("model1", "champion", "2")
client.set_registered_model_alias("model1", "old", "1")
client.transition_model_version_stage("model1", "2", "Production")
client.transition_model_version_stage("model1", "1", "Staging")
client.delete_model_version("model1", "3")
client.create_registered_model("derived")
client.create_model_version("derived", "models:/model1/2")  # @alias sources fail in MLflow
client.create_registered_model("to-delete")
client.create_model_version("to-delete", "s3://x")
client.delete_registered_model("to-delete")
mlflow.genai.register_prompt("greet", "Hello {{ name }}!", commit_message="first",
                             tags={"team": "nlp"})
"""


def test_trackyard_reads_mlflows_registry(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    run_mlflow(_MLFLOW_REGISTERS, uri=root.as_uri())
    expected = _mlflow_dump_registry(root.as_uri())
    got = _dump_registry(str(root))
    assert got == expected
    assert set(got["models"]) == {"model1", "derived"}
    assert got["models"]["model1"]["aliases"] == {"champion": "2", "old": "1"}
    assert got["versions"]["derived/1"]["download_uri"] == "s3://bucket/m1/2"
    assert "model1/3" not in got["versions"]
    client = MlflowClient(tracking_uri=str(root))
    assert client.get_model_version_by_alias("model1", "champion").version == "2"
    assert client.create_model_version("model1", "s3://bucket/m1/4").version == "4"
    prompt = client.load_prompt("prompts:/greet/1")
    assert prompt.template == "Hello {{ name }}!" and prompt.tags == {"team": "nlp"}


def test_mlflow_reads_trackyards_registry(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    client = MlflowClient(tracking_uri=str(root))
    client.create_registered_model("ty-model", tags={"k": "v", "a/b": "c"}, description="d")
    client.create_model_version("ty-model", "s3://b/1", run_id="b" * 32, tags={"x": "1"})
    client.create_model_version("ty-model", "s3://b/2", description="second")
    client.create_model_version("ty-model", "s3://b/3")
    client.set_registered_model_alias("ty-model", "prod", "2")
    with pytest.warns(FutureWarning):
        client.transition_model_version_stage("ty-model", "1", "Staging")
    client.delete_model_version("ty-model", "3")
    client.create_registered_model("renamed-from")
    client.create_model_version("renamed-from", "s3://r/1")
    client.set_registered_model_alias("renamed-from", "a1", "1")
    client.rename_registered_model("renamed-from", "renamed-to")
    client.create_registered_model("copy")
    client.create_model_version("copy", "models:/ty-model@prod")
    client.register_prompt("ty-prompt", "Hi {{ who }}", commit_message="c1", tags={"t": "1"})
    got = _dump_registry(str(root))
    expected = _mlflow_dump_registry(root.as_uri())
    assert got == expected
    assert expected["models"]["renamed-to"]["aliases"] == {"a1": "1"}
    assert expected["versions"]["copy/1"]["download_uri"] == "s3://b/2"
    loaded = run_mlflow(
        """
        import warnings
        warnings.simplefilter("ignore")
        import mlflow
        mlflow.set_tracking_uri(ARGS["uri"])
        p = mlflow.genai.load_prompt("prompts:/ty-prompt/1")
        client = mlflow.MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
        # (MLflow's file store returns these version numbers as ints)
        emit({"template": p.template, "alias": str(client.get_model_version_by_alias(
            "ty-model", "prod").version), "next": str(client.create_model_version(
            "ty-model", "s3://b/4").version)})
        """,
        uri=root.as_uri(),
    )
    assert loaded == {"template": "Hi {{ who }}", "alias": "2", "next": "4"}
