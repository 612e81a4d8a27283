"""trackyard.copy_store: lossless, idempotent, resumable, incremental copies between stores."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest

from trackyard import MlflowClient, TrackyardError
from trackyard.backends import clear_store_cache
from trackyard.copy import copy_store, dump_store
from trackyard.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunData, RunTag
from trackyard.errors import ErrorCode

EMBEDDED = ["sqlite", "file", "duckdb", "memory"]


@pytest.fixture(autouse=True)
def _with_memory_store(monkeypatch):
    """Load the contrib memory store too (a backend like the built-ins for these tests)."""
    from trackyard.testing.fixtures import reset_state

    pytest.importorskip("trackyard_memory", reason="the contrib memory store is not installed")
    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
    reset_state()
    yield
    reset_state()


def _uri(kind: str, tmp_path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    if kind == "file":
        return (tmp_path / name).as_uri()
    if kind == "duckdb":
        return f"duckdb:///{tmp_path / (name + '.duckdb')}"
    if kind == "memory":
        return f"memory://{name}-{os.getpid()}-{abs(hash(str(tmp_path)))}"
    if kind in ("postgres", "mysql"):
        from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri

        base = postgres_base_uri() if kind == "postgres" else mysql_base_uri()
        uri = worker_database_uri(base, f"copy_{name}")
        _drop_tables(uri)
        return uri
    raise AssertionError(kind)


def _drop_tables(uri: str) -> None:
    import sqlalchemy as sa

    clear_store_cache()
    engine = sa.create_engine(uri)
    meta = sa.MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)
    engine.dispose()


def _populate(uri: str, artifacts: str, runs: int = 3, steps: int = 20) -> list[str]:
    """A store with two experiments (one deleted), runs of every kind, models and prompts."""
    c = MlflowClient(uri)
    exp = c.create_experiment("train", artifact_location=f"{artifacts}/train", tags={"team": "a"})
    ids = []
    for i in range(runs):
        run = c.create_run(exp, run_name=f"run-{i}", tags={"k": str(i)})
        rid = run.info.run_id
        metrics = [Metric("loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(steps)]
        metrics += [Metric("acc", s / steps, 2_000 + s, s) for s in range(steps)]
        metrics.append(Metric("odd", math.nan, 5, 0))
        metrics.append(Metric("odd", math.inf, 6, 1))
        c.log_batch(rid, metrics=metrics, params=[Param("lr", str(i))], tags=[RunTag("t", "v")])
        if c._tracking_store.capabilities.datasets:  # not DuckDB
            c.log_inputs(
                rid,
                [DatasetInput(Dataset("d", "abc", "local", "/data"), (InputTag("ctx", "train"),))],
            )
        c.log_text(rid, f"model {i}", "model/MLmodel")
        if i == 1:
            c.set_terminated(rid, "FAILED")
        elif i == 2:
            c.delete_run(rid)
        else:
            c.set_terminated(rid)
        ids.append(rid)
    _assess(c, _trace(c, exp, ids[0]), ids[0])
    model = c.create_logged_model(
        exp, name="clf", source_run_id=ids[0], tags={"a": "b"}, params={"depth": "3"}
    )
    c.log_metric(ids[0], "m_acc", 0.75, timestamp=7, step=2, model_id=model.model_id)
    c.finalize_logged_model(model.model_id, "READY")
    gone = c.create_experiment("old", artifact_location=f"{artifacts}/old")
    c.create_run(gone, run_name="in-old")
    _trace(c, gone, None)  # in a deleted experiment: not copied
    c.delete_experiment(gone)
    c.create_registered_model("m", tags={"owner": "me"}, description="a model")
    c.create_model_version("m", f"runs:/{ids[0]}/model", run_id=ids[0])
    source = c.get_run(ids[0]).info.artifact_uri + "/model"
    c.create_model_version("m", source, run_id=ids[0], tags={"v": "2"})
    c.set_registered_model_alias("m", "champion", "2")
    c.register_prompt("greet", "Hello {{name}}", commit_message="first")
    return ids


def _trace(c: MlflowClient, experiment_id: str, run_id: str | None) -> str:
    """A finished trace of two spans with tags and metadata; returns its id."""
    root = c.start_trace(
        "answer", inputs={"q": 1}, experiment_id=experiment_id, tags={"x": "1"}, run_id=run_id
    )
    child = c.start_span("tool", root.trace_id, root.span_id, inputs=[1, 2])
    c.end_span(root.trace_id, child.span_id, outputs={"o": 3}, status="ERROR")
    c.end_trace(root.trace_id, outputs="done")
    c.set_trace_tag(root.trace_id, "late", "yes")
    return root.trace_id


def _assess(c: MlflowClient, trace_id: str, run_id: str) -> None:
    """Assessments of every kind on a trace: an overridden feedback (now invalid), an error,
    an expectation with metadata on a span, one linked to a run."""
    from trackyard.entities import AssessmentSource
    from trackyard.entities.trace_assessment import Expectation, Feedback

    span_id = c.get_trace(trace_id).data.spans[0].span_id
    judge = AssessmentSource("LLM_JUDGE", "judge-1")
    first = c.log_assessment(
        Feedback("good", True, source=judge, rationale="ok", trace_id=trace_id)
    )
    c.log_assessment(
        Feedback(
            "good", False, source=AssessmentSource("HUMAN", "ann"), overrides=first.assessment_id
        ),
        request_id=trace_id,
    )
    c.log_assessment(Feedback("judged", error="judge timed out", trace_id=trace_id))
    c.log_assessment(
        Expectation("answer", {"text": "42"}, metadata={"m": 1}, span_id=span_id),
        request_id=trace_id,
        run_id=run_id,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for a in EMBEDDED for b in EMBEDDED if a != b]
    + [
        pytest.param("sqlite", "postgres", id="sqlite-postgres"),
        pytest.param("file", "mysql", id="file-mysql"),
    ],
)
def test_round_trip_is_lossless(tmp_path, first, second):
    if second in ("postgres", "mysql"):
        pytest.importorskip("sqlalchemy")
    a = _uri(first, tmp_path, "a")
    b = _uri(second, tmp_path, "b")
    a2 = _uri(first, tmp_path, "a2")
    _populate(a, str(tmp_path / "art-a"))
    report = copy_store(a, b, dst_artifact_root=str(tmp_path / "art-b"))
    assert report.runs == 4 and report.model_versions == 3
    assert report.artifacts == 3
    assert report.traces == 1
    assert report.assessments == 4 and report.assessments_skipped == 0
    copy_store(b, a2, dst_artifact_root=str(tmp_path / "art-a2"))
    # experiment ids: the file store's 18-digit ids do not fit PostgreSQL/MariaDB integers
    keep_ids = second not in ("postgres", "mysql") or first != "file"
    original = _dump(a, keep_ids, first, second)
    assert _dump(b, keep_ids, first, second) == original
    assert _dump(a2, keep_ids, first, second) == original
    # idempotent: a second copy writes nothing
    again = copy_store(a, b, dst_artifact_root=str(tmp_path / "art-b"))
    assert again.written == 0, again.summary()
    assert again.runs_unchanged == 4
    assert again.traces_unchanged == 1
    assert again.assessments == again.assessments_skipped == 0


def _dump(uri: str, keep_ids: bool, *kinds: str) -> dict:
    """dump_store, without dataset inputs when a store of ``kinds`` has none (DuckDB)."""
    dump = dump_store(uri, experiment_ids=keep_ids)
    if "duckdb" in kinds:
        for run in dump["runs"].values():
            run.pop("dataset_inputs")
    return dump


def test_metric_histories_and_times_are_kept(tmp_path):
    a, b = _uri("sqlite", tmp_path, "a"), _uri("file", tmp_path, "b")
    ids = _populate(a, str(tmp_path / "art"), runs=1, steps=50)
    copy_store(a, b, dst_artifact_root=str(tmp_path / "art-b"))
    src, dst = MlflowClient(a), MlflowClient(b)
    assert dst.get_metric_history(ids[0], "loss") == src.get_metric_history(ids[0], "loss")
    assert len(dst.get_metric_history(ids[0], "loss")) == 50
    copied = dst.get_run(ids[0]).info
    assert (
        copied == dataclass_replace_run(src.get_run(ids[0]), artifact_uri=copied.artifact_uri).info
    )
    version = dst.get_model_version("m", "2")
    assert version.source == dst.get_run(ids[0]).info.artifact_uri + "/model"


def test_a_different_run_with_the_same_id_is_refused(tmp_path):
    a, b = _uri("sqlite", tmp_path, "a"), _uri("sqlite", tmp_path, "b")
    ids = _populate(a, str(tmp_path / "art"), runs=1)
    copy_store(a, b, dst_artifact_root=str(tmp_path / "art-b"))
    # b's run gets another param value: now a different run under the same id
    dst = MlflowClient(b)
    c = MlflowClient(a)
    c.log_param(ids[0], "extra", "1")
    dst_store = dst._tracking_store
    dst_store.import_run_data(ids[0], [], RunData(params=[Param("extra", "2")]))
    before = dump_store(b)
    with pytest.raises(TrackyardError) as info:
        copy_store(a, b)
    assert info.value.error_code == ErrorCode.INVALID_STATE
    assert dump_store(b) == before

    # a run with the same id in another experiment: RESOURCE_ALREADY_EXISTS, nothing written
    other = _uri("memory", tmp_path, "other")
    oc = MlflowClient(other)
    oc.create_experiment("elsewhere")
    clash = dataclass_replace_run(c.get_run(ids[0]), start_time=1)
    oc._tracking_store.import_run(clash, [])
    c.log_metric(ids[0], "new", 1.0)
    before = dump_store(other)
    with pytest.raises(TrackyardError) as info:
        copy_store(a, other)
    assert info.value.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS
    assert dump_store(other) == before


def dataclass_replace_run(run, **info_changes):
    import dataclasses

    return dataclasses.replace(run, info=dataclasses.replace(run.info, **info_changes))


@pytest.mark.parametrize("dst", ["file", "duckdb"])
def test_incremental_copy_appends_new_points_and_runs(tmp_path, dst):
    a, b = _uri("sqlite", tmp_path, "a"), _uri(dst, tmp_path, "b")
    ids = _populate(a, str(tmp_path / "art"), runs=1)
    mark = str(tmp_path / "copy.jsonl")
    copy_store(a, b, checkpoint=mark, dst_artifact_root=str(tmp_path / "art-b"))
    c = MlflowClient(a)
    c.log_batch(ids[0], metrics=[Metric("loss", 0.01, 9_000 + s, 100 + s) for s in range(5)])
    c.set_tag(ids[0], "late", "yes")
    new_run = c.create_run(c.get_experiment_by_name("train").experiment_id, run_name="new")
    c.log_metric(new_run.info.run_id, "loss", 3.0, step=1)
    report = copy_store(a, b, checkpoint=mark, dst_artifact_root=str(tmp_path / "art-b"))
    assert (report.runs, report.runs_updated, report.metric_points) == (1, 1, 6)
    assert report.tags >= 1
    c.set_terminated(ids[0], "KILLED")
    c.delete_run(new_run.info.run_id)
    report = copy_store(a, b, checkpoint=mark, dst_artifact_root=str(tmp_path / "art-b"))
    assert (report.runs, report.runs_updated, report.metric_points) == (0, 2, 0)
    assert len(MlflowClient(b).get_metric_history(ids[0], "loss")) == 25
    assert _dump(b, True, dst) == _dump(a, True, dst)
    assert copy_store(a, b, checkpoint=mark).written == 0


def test_copy_chosen_experiments_only(tmp_path):
    a, b = _uri("sqlite", tmp_path, "a"), _uri("memory", tmp_path, "b")
    _populate(a, str(tmp_path / "art"), runs=1)
    report = copy_store(a, b, experiment_names=["old"], include_artifacts=False)
    assert (report.experiments, report.runs, report.registered_models) == (1, 1, 0)
    with pytest.raises(TrackyardError) as info:
        copy_store(a, b, experiment_names=["nope"])
    assert info.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST


_KILLABLE = textwrap.dedent(
    """
    import os, sys
    import trackyard.copy._tracking as t
    from trackyard.copy import copy_store
    real = t.TrackingCopier.copy_run
    count = 0
    def copy_run(self, *args):
        global count
        real(self, *args)
        count += 1
        if count == int(sys.argv[4]):
            os._exit(9)  # killed half-way
    t.TrackingCopier.copy_run = copy_run
    copy_store(sys.argv[1], sys.argv[2], checkpoint=sys.argv[3], progress=False)
    """
)


def test_a_killed_copy_resumes_without_duplicates(tmp_path):
    a, b = _uri("sqlite", tmp_path, "a"), _uri("file", tmp_path, "b")
    _populate(a, str(tmp_path / "art"), runs=6)
    mark = str(tmp_path / "copy.jsonl")
    script = tmp_path / "kill.py"
    script.write_text(_KILLABLE)
    env = {**os.environ, "TRACKYARD_ARTIFACT_ROOT": str(tmp_path / "art-b")}
    done = subprocess.run([sys.executable, str(script), a, b, mark, "3"], env=env, check=False)
    assert done.returncode == 9
    assert 3 <= len((tmp_path / "copy.jsonl").read_text().splitlines()) < 12
    # the run that was being written when the process died: half of it, written again whole
    report = copy_store(a, b, checkpoint=mark, dst_artifact_root=str(tmp_path / "art-b"))
    assert report.runs == 4
    assert dump_store(b) == dump_store(a)
    assert copy_store(a, b, checkpoint=mark).written == 0


def test_cli_copy_and_sync(tmp_path):
    from click.testing import CliRunner

    from trackyard.cli import cli

    a, b = _uri("sqlite", tmp_path, "a"), _uri("file", tmp_path, "b")
    _populate(a, str(tmp_path / "art"), runs=1)
    runner = CliRunner()
    result = runner.invoke(cli, ["copy", a, b, "--no-artifacts"])
    assert result.exit_code == 0, result.output
    assert "2 runs created" in result.output
    mark = str(tmp_path / "sync.jsonl")
    result = runner.invoke(cli, ["sync", a, b, "--once", "--checkpoint", mark, "--no-artifacts"])
    assert result.exit_code == 0, result.output
    assert "0 runs created" in result.output
    result = runner.invoke(cli, ["copy", a, "memory://x", "--experiment", "nope"])
    assert result.exit_code != 0
    assert "RESOURCE_DOES_NOT_EXIST" in result.output


def test_traces_keep_ids_times_and_spans(tmp_path):
    a, b = _uri("sqlite", tmp_path, "a"), _uri("file", tmp_path, "b")
    ids = _populate(a, str(tmp_path / "art"), runs=1)
    src = MlflowClient(a)
    train = src.get_experiment_by_name("train").experiment_id
    (trace_id,) = [t.info.trace_id for t in src.search_traces([train])]
    mark = str(tmp_path / "copy.jsonl")
    report = copy_store(a, b, checkpoint=mark, dst_artifact_root=str(tmp_path / "art-b"))
    # the trace of the deleted experiment cannot be written (its experiment is deleted there)
    assert (report.traces, report.traces_skipped) == (1, 1)
    mine, theirs = src.get_trace(trace_id), MlflowClient(b).get_trace(trace_id)
    assert theirs.info.request_time == mine.info.request_time
    assert theirs.info.execution_duration == mine.info.execution_duration
    assert theirs.info.state == mine.info.state
    assert theirs.info.trace_metadata["mlflow.sourceRun"] == ids[0]
    assert {k: theirs.info.tags[k] for k in ("x", "late")} == {"x": "1", "late": "yes"}
    assert [s.to_dict() for s in theirs.data.spans] == [s.to_dict() for s in mine.data.spans]
    assert [s.status.status_code.value for s in theirs.data.spans] == ["OK", "ERROR"]
    # the destination's spans live where it keeps them, not at the source's location
    location = theirs.info.tags["mlflow.artifactLocation"]
    assert location != mine.info.tags["mlflow.artifactLocation"]
    assert location.startswith(str(tmp_path / "art-b"))
    # a new trace is picked up by the next incremental copy; the copied one is not rewritten
    new_id = _trace(src, train, None)
    report = copy_store(a, b, checkpoint=mark)
    assert (report.traces, report.traces_unchanged, report.written) == (1, 1, 1)
    assert MlflowClient(b).get_trace(new_id).info.trace_id == new_id
    assert dump_store(b) == dump_store(a)
    # an assessment added to a copied trace is carried by a copy without the checkpoint
    from trackyard.entities.trace_assessment import Feedback

    src.log_assessment(Feedback("late", 0.5, trace_id=trace_id))
    report = copy_store(a, b)
    assert (report.assessments, report.traces_unchanged, report.written) == (1, 2, 1)
    assert dump_store(b) == dump_store(a)


@pytest.mark.parametrize(
    ("first", "second"),
    [("sqlite", "file"), ("file", "sqlite"), ("sqlite", "duckdb"), ("duckdb", "file")],
)
def test_logged_models_keep_ids_times_params_and_points(tmp_path, first, second):
    a, b = _uri(first, tmp_path, "a"), _uri(second, tmp_path, "b")
    _populate(a, str(tmp_path / "art"), runs=1)
    src = MlflowClient(a)
    (mine,) = src.search_logged_models([src.get_experiment_by_name("train").experiment_id])
    report = copy_store(a, b, dst_artifact_root=str(tmp_path / "art-b"))
    assert (report.logged_models, report.logged_models_skipped) == (1, 0)
    theirs = MlflowClient(b).get_logged_model(mine.model_id)
    assert theirs.artifact_location.startswith(str(tmp_path / "art-b"))
    assert theirs == dataclass_replace(mine, artifact_location=theirs.artifact_location)
    assert [(m.key, m.value, m.step, m.run_id) for m in theirs.metrics or ()] == [
        ("m_acc", 0.75, 2, mine.source_run_id)
    ]
    assert copy_store(a, b).written == 0


def test_what_a_destination_cannot_import_is_counted_as_skipped(tmp_path, monkeypatch):
    from trackyard_memory.tracking import MemoryTrackingStore

    from trackyard.stores import TrackingStore

    a = _uri("sqlite", tmp_path, "a")
    _populate(a, str(tmp_path / "art"), runs=1)
    report = copy_store(a, _uri("memory", tmp_path, "m"), include_artifacts=False)
    assert (report.logged_models, report.logged_models_skipped) == (1, 0)
    assert (report.assessments, report.assessments_skipped) == (4, 0)
    # a store keeping logged models and assessments without their import methods (the
    # contract's defaults, which raise FEATURE_DISABLED)
    for name in ("import_logged_model", "import_assessment"):
        monkeypatch.setattr(MemoryTrackingStore, name, getattr(TrackingStore, name))
    report = copy_store(a, _uri("memory", tmp_path, "n"), include_artifacts=False)
    assert (report.logged_models, report.logged_models_skipped) == (0, 1)
    assert (report.traces, report.assessments, report.assessments_skipped) == (1, 0, 4)


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)
