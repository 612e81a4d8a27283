"""The fluent API (``trackyard.start_run`` ...) with MLflow 3.17.2's semantics.

Runs on the default SQLite store and on the in-memory store (trackyard-memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trackyard
import trackyard as mlflow
from trackyard import RunOperations
from trackyard.entities import ViewType
from trackyard.errors import TrackyardError
from trackyard.plugins.manager import reset_plugin_manager


@pytest.fixture(params=["sqlite", "memory"], autouse=True)
def store(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the fluent API at a fresh store; end whatever a test left active."""
    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    if request.param == "memory":
        from trackyard_memory import fresh_uri, reset

        monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
        reset_plugin_manager()
        uri = fresh_uri("fluent")
    else:
        uri = f"sqlite:///{tmp_path / 'fluent.db'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    if request.param == "memory":
        reset(uri)


def test_with_block_ends_finished_and_logs_everything(tmp_path: Path) -> None:
    with mlflow.start_run(run_name="base", tags={"team": "a"}, description="notes") as run:
        assert mlflow.active_run() is run and run.info.status == "RUNNING"
        assert mlflow.log_param("lr", 0.1) == 0.1
        mlflow.log_params({"layers": 3, "act": "relu"})
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=2)
        mlflow.set_tag("k", "v")
        mlflow.set_tags({"a": 1, "b": "x"})
        mlflow.set_tag("gone", "soon")
        mlflow.delete_tag("gone")
    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time is not None
    assert got.info.run_name == "base"
    assert got.data.params == {"lr": "0.1", "layers": "3", "act": "relu"}
    assert got.data.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.8}
    tags = got.data.tags
    assert tags["k"] == "v" and tags["a"] == "1" and tags["team"] == "a" and "gone" not in tags
    assert tags["mlflow.note.content"] == "notes" and tags["mlflow.runName"] == "base"
    assert "mlflow.user" in tags and "mlflow.parentRunId" not in tags
    assert mlflow.active_run() is None
    assert mlflow.last_active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
def test_exception_leaving_the_block_ends_the_run_failed(error: BaseException) -> None:
    # MLflow 3.17.2 ends the run FAILED for any exception, KeyboardInterrupt included
    # (checked against it); the exception propagates.
    with pytest.raises(type(error)), mlflow.start_run() as run:
        raise error
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


def test_run_ended_inside_the_block_is_not_ended_again() -> None:
    with mlflow.start_run() as run:
        mlflow.end_run("KILLED")
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"


def test_second_run_needs_nested() -> None:
    with mlflow.start_run() as outer:
        with pytest.raises(TrackyardError, match="is already active"):
            mlflow.start_run()
        with mlflow.start_run(nested=True) as child:
            assert mlflow.active_run() is child
            with mlflow.start_run(nested=True, parent_run_id=child.info.run_id) as grandchild:
                pass
        assert mlflow.active_run() is outer
    tags = mlflow.get_run(child.info.run_id).data.tags
    assert tags["mlflow.parentRunId"] == outer.info.run_id
    grand = mlflow.get_run(grandchild.info.run_id).data.tags
    assert grand["mlflow.parentRunId"] == child.info.run_id
    parent = mlflow.get_parent_run(child.info.run_id)
    assert parent is not None and parent.info.run_id == outer.info.run_id


def test_parent_run_id_must_be_the_active_run_when_one_is_active() -> None:
    with mlflow.start_run() as first:
        pass
    mismatch = pytest.raises(TrackyardError, match="does not match the specified parent_run_id")
    # With no active run, parent_run_id may name any run; then it must be the active one.
    with mlflow.start_run(parent_run_id=first.info.run_id) as child, mismatch:
        mlflow.start_run(nested=True, parent_run_id=first.info.run_id)
    assert mlflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == first.info.run_id
    mlflow.MlflowClient().delete_run(first.info.run_id)
    with pytest.raises(TrackyardError, match="deleted state"):
        mlflow.start_run(parent_run_id=first.info.run_id)


def test_resume_by_run_id_and_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow.start_run(run_name="first") as run:
        pass
    run_id = run.info.run_id
    with mlflow.start_run(run_id=run_id, run_name="again", tags={"resumed": "1"}) as resumed:
        assert resumed.info.status == "RUNNING" and resumed.data.tags["resumed"] == "1"
        assert resumed.info.run_name == "again"
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    with mlflow.start_run() as from_env:
        assert from_env.info.run_id == run_id
        assert "MLFLOW_RUN_ID" not in os.environ  # consumed, as MLflow does
        with mlflow.start_run(nested=True) as child:
            assert child.info.run_id != run_id
    mlflow.MlflowClient().delete_run(run_id)
    with pytest.raises(TrackyardError, match="deleted state"):
        mlflow.start_run(run_id=run_id)


def test_description_and_note_tag_conflict() -> None:
    with pytest.raises(TrackyardError, match="Description is already set"):
        mlflow.start_run(description="a", tags={"mlflow.note.content": "b"})
    assert mlflow.active_run() is None


def test_logging_without_a_run_starts_one() -> None:
    mlflow.log_metric("m", 1.0)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_explicit_run_id_does_not_start_a_run() -> None:
    with mlflow.start_run() as run:
        pass
    mlflow.log_metric("late", 2.0, run_id=run.info.run_id)
    mlflow.log_params({"p": 1}, run_id=run.info.run_id)
    assert mlflow.active_run() is None
    data = mlflow.get_run(run.info.run_id).data
    assert data.metrics == {"late": 2.0} and data.params == {"p": "1"}


def test_active_runs_are_per_thread() -> None:
    seen: dict[str, Any] = {}

    def worker() -> None:
        seen["active"] = mlflow.active_run()
        with mlflow.start_run() as own:  # no "already active" error: another thread's stack
            mlflow.log_param("thread", "yes")
        seen["own"] = own.info.run_id
        seen["last"] = mlflow.last_active_run().info.run_id  # type: ignore[union-attr]

    with mlflow.start_run() as main:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert mlflow.active_run() is main
    assert seen["active"] is None and seen["own"] != main.info.run_id
    assert seen["last"] == seen["own"]
    assert mlflow.last_active_run().info.run_id == main.info.run_id  # type: ignore[union-attr]


def test_set_experiment_by_name_creates_and_by_id_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    exp = mlflow.set_experiment("demo")
    assert exp.name == "demo" and os.environ["MLFLOW_EXPERIMENT_ID"] == exp.experiment_id
    assert mlflow.set_experiment("demo").experiment_id == exp.experiment_id
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    assert mlflow.set_experiment(experiment_id=exp.experiment_id).name == "demo"
    assert mlflow.get_experiment(exp.experiment_id).name == "demo"
    assert mlflow.get_experiment_by_name("demo").experiment_id == exp.experiment_id  # type: ignore[union-attr]
    assert mlflow.get_experiment_by_name("nope") is None
    with pytest.raises(TrackyardError, match="exactly one"):
        mlflow.set_experiment()
    with pytest.raises(TrackyardError, match="exactly one"):
        mlflow.set_experiment("demo", exp.experiment_id)
    with pytest.raises(TrackyardError):
        mlflow.set_experiment(experiment_id="987654")
    other = mlflow.create_experiment("old")
    mlflow.MlflowClient().delete_experiment(other)
    with pytest.raises(TrackyardError, match="deleted experiment"):
        mlflow.set_experiment("old")


def test_experiment_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlflow.start_run() as run:
        pass
    created = mlflow.get_experiment_by_name("from-env")
    assert created is not None and run.info.experiment_id == created.experiment_id
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")
    with pytest.raises(TrackyardError, match="does not match"):
        mlflow.start_run()
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", created.experiment_id)
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == created.experiment_id
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "424242")
    with pytest.raises(TrackyardError, match="does not exist"):
        mlflow.start_run()
    with mlflow.start_run(experiment_id=created.experiment_id) as explicit:  # explicit wins
        pass
    assert explicit.info.experiment_id == created.experiment_id


def test_artifacts(tmp_path: Path) -> None:
    (tmp_path / "model.txt").write_text("weights")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "model.txt"))
        mlflow.log_artifact(str(tmp_path / "model.txt"), artifact_path="sub")
        mlflow.log_artifacts(str(folder), artifact_path="d")
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"a": [1, 2]}, "conf.json")
        mlflow.log_dict({"a": 1}, "conf.yaml")
        uri = mlflow.get_artifact_uri()
        assert mlflow.get_artifact_uri("conf.json") == uri.rstrip("/") + "/conf.json"
    client = mlflow.MlflowClient()
    rid = run.info.run_id
    assert sorted(f.path for f in client.list_artifacts(rid)) == [
        "conf.json",
        "conf.yaml",
        "d",
        "model.txt",
        "notes",
        "sub",
    ]
    out = Path(client.download_artifacts(rid, "conf.json", str(tmp_path / "dl")))
    assert json.loads(out.read_text()) == {"a": [1, 2]}
    text = Path(client.download_artifacts(rid, "notes/hello.txt", str(tmp_path / "dl2")))
    assert text.read_text() == "hello"


def test_log_table_and_figure_when_their_libraries_are_installed(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="log_table needs pandas")
    with mlflow.start_run() as run:
        mlflow.log_table(pd.DataFrame({"x": [1, 2]}), "table.json")
        mlflow.log_table({"y": [3]}, "other.json", run_id=run.info.run_id)
    paths = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"table.json", "other.json"} <= paths
    matplotlib = pytest.importorskip("matplotlib", reason="log_figure needs matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    with mlflow.start_run() as run:
        mlflow.log_figure(figure, "plot.png")
    plt.close(figure)
    assert [f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)] == ["plot.png"]


def test_search_runs_pandas_and_list() -> None:
    pd = pytest.importorskip("pandas", reason="the DataFrame form needs pandas")
    exp = mlflow.set_experiment("search")
    for i in range(3):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_metric("score", float(i))
            mlflow.log_param("i", i)
    frame = mlflow.search_runs(filter_string="metrics.score >= 1", order_by=["metrics.score"])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:6]) == [
        "run_id",
        "experiment_id",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    assert list(frame["metrics.score"]) == [1.0, 2.0] and list(frame["params.i"]) == ["1", "2"]
    assert str(frame["start_time"].dtype).startswith("datetime64")
    runs = mlflow.search_runs(output_format="list", max_results=2)
    assert len(runs) == 2 and all(r.info.experiment_id == exp.experiment_id for r in runs)
    assert (
        len(mlflow.search_runs(experiment_names=["search", "missing"], output_format="list")) == 3
    )
    assert len(mlflow.search_runs([exp.experiment_id], output_format="list")) == 3
    with mlflow.start_run(experiment_id="0"):
        pass
    every = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(every) == 4
    deleted = mlflow.search_runs(run_view_type=ViewType.DELETED_ONLY, output_format="list")
    assert deleted == []
    with pytest.raises(TrackyardError, match="not both"):
        mlflow.search_runs(["0"], experiment_names=["search"])
    with pytest.raises(TrackyardError, match="Unsupported output format"):
        mlflow.search_runs(output_format="arrow")
    assert [e.name for e in mlflow.search_experiments(filter_string="name = 'search'")] == [
        "search"
    ]


def test_async_logging_through_the_fluent_api() -> None:
    with mlflow.start_run() as run:
        ops = [mlflow.log_metric("m", float(i), step=i, synchronous=False) for i in range(1500)]
        more = mlflow.log_metrics({"a": 1.0, "b": 2.0}, synchronous=False)
        params = mlflow.log_params({"p": 1}, synchronous=False)
        tags = mlflow.set_tags({"t": 1}, synchronous=False)
        tag = mlflow.set_tag("u", 2, synchronous=False)
        param = mlflow.log_param("q", 3, synchronous=False)
        assert all(isinstance(o, RunOperations) for o in [*ops, more, params, tags, tag, param])
    # end_run wrote everything queued before ending the run
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(run.info.run_id, "m")) == 1500
    data = client.get_run(run.info.run_id).data
    assert data.params == {"p": "1", "q": "3"} and data.tags["t"] == "1" and data.tags["u"] == "2"
    mlflow.flush_async_logging()


def test_failed_async_write_is_raised_by_end_run_and_logged_if_block_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from trackyard._async_logging import AsyncLoggingError

    with pytest.raises(AsyncLoggingError), mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        mlflow.log_param("p", "2", synchronous=False)
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    with pytest.raises(ValueError), mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        mlflow.log_param("p", "2", synchronous=False)
        raise ValueError("the block's own error wins")
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"
    assert "While ending run" in caplog.text


def test_tracking_uri_round_trip(store: str) -> None:
    assert mlflow.get_tracking_uri() == store
    assert trackyard.MlflowClient().tracking_uri == store


_MLFLOW_STYLE_SCRIPT = """
import json, os, tempfile, threading
{import_line}

mlflow.set_tracking_uri(os.environ["SCRIPT_URI"])
exp = mlflow.set_experiment("script")
out = {{}}
with mlflow.start_run(run_name="parent", description="a note") as parent:
    mlflow.log_params({{"lr": 0.01, "epochs": 3}})
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    mlflow.log_metrics({{"acc": 0.5, "f1": 0.25}}, step=3)
    ops = mlflow.log_metric("async", 7.0, synchronous=False)
    ops.wait()
    mlflow.set_tags({{"stage": "dev"}})
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_param("child", "yes")
        out["nested_active"] = mlflow.active_run().info.run_id == child.info.run_id
    out["back_to_parent"] = mlflow.active_run().info.run_id == parent.info.run_id
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "model.txt")
    with open(path, "w") as f:
        f.write("w")
    mlflow.log_artifact(path)
    mlflow.log_text("t", "notes.txt")
    mlflow.log_dict({{"k": 1}}, "cfg.json")
    try:
        mlflow.start_run()
    except Exception as e:
        out["second_run"] = "already active" in str(e)
try:
    with mlflow.start_run(run_name="broken"):
        raise RuntimeError("x")
except RuntimeError:
    pass
seen = {{}}
t = threading.Thread(target=lambda: seen.setdefault("a", mlflow.active_run()))
t.start(); t.join()
out["thread_sees_none"] = seen["a"] is None
got = mlflow.get_run(parent.info.run_id)
kid = mlflow.get_run(child.info.run_id)
out["status"] = got.info.status
out["params"] = got.data.params
out["metrics"] = got.data.metrics
out["note"] = got.data.tags["mlflow.note.content"]
out["stage"] = got.data.tags["stage"]
out["child_parent"] = kid.data.tags["mlflow.parentRunId"] == parent.info.run_id
out["last"] = mlflow.last_active_run().info.run_name
out["last_status"] = mlflow.last_active_run().info.status
out["artifacts"] = sorted(
    a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)
)
df = mlflow.search_runs(order_by=["attributes.start_time ASC"])
out["df_cols"] = [c for c in df.columns if not c.startswith("tags.mlflow.source")]
out["df_names"] = list(df["tags.mlflow.runName"])
out["df_status"] = list(df["status"])
out["list"] = len(mlflow.search_runs(output_format="list"))
out["exp"] = mlflow.get_experiment_by_name("script").experiment_id == exp.experiment_id
mlflow.flush_async_logging()
print("RESULT " + json.dumps(out, sort_keys=True))
"""


def _run_script(python: str, import_line: str, uri: str, cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKYARD_"))}
    env.update(SCRIPT_URI=uri, TRACKYARD_PLUGINS="trackyard", PYTHONWARNINGS="ignore")
    script = _MLFLOW_STYLE_SCRIPT.format(import_line=import_line)
    proc = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def test_mlflow_style_script_runs_unchanged(store: str, tmp_path: Path) -> None:
    """The same script, with ``import trackyard as mlflow``; and, when the MLflow peer
    interpreter is configured, with ``import mlflow``: the results must agree."""
    if not store.startswith("sqlite"):
        pytest.skip("a subprocess cannot see this process's in-memory store")
    pytest.importorskip("pandas", reason="the script's search_runs returns a DataFrame")
    ours = _run_script(
        sys.executable, "import trackyard as mlflow", f"sqlite:///{tmp_path / 'ty.db'}", tmp_path
    )
    assert ours["status"] == "FINISHED" and ours["last"] == "broken"
    assert ours["last_status"] == "FAILED" and ours["second_run"] and ours["thread_sees_none"]
    assert ours["params"] == {"lr": "0.01", "epochs": "3"}
    assert ours["metrics"] == {"loss": 1 / 3, "acc": 0.5, "f1": 0.25, "async": 7.0}
    assert ours["artifacts"] == ["cfg.json", "model.txt", "notes.txt"]
    assert ours["df_names"] == ["parent", "child", "broken"]
    peer = os.environ.get("TRACKYARD_TEST_MLFLOW_PYTHON")
    if not peer or not os.access(peer, os.X_OK):
        pytest.skip("set TRACKYARD_TEST_MLFLOW_PYTHON to compare with MLflow running the script")
    mlflow_dir = tmp_path / "mlflow"
    mlflow_dir.mkdir()
    theirs = _run_script(peer, "import mlflow", f"sqlite:///{mlflow_dir / 'ml.db'}", mlflow_dir)
    # The same columns; within metrics/params/tags trackyard sorts the keys.
    assert sorted(ours.pop("df_cols")) == sorted(theirs.pop("df_cols")), (ours, theirs)
    assert ours == theirs
