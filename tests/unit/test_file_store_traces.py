"""Traces in the file store: what is specific to files (the shared contract is in the kit).

MLflow's layout, where spans go for each artifact root, roll-back of an interrupted
multi-file write, leftovers of interrupted creations and deletions, bad input writing
nothing, traces of deleted experiments and malformed files. Everything runs on real files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from trackyard.entities.trace import Span, TraceInfo, TraceLocation
from trackyard.entities.trace_assessment import AssessmentSource, Expectation, Feedback
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing import make_client
from trackyard_file.tracking import LOCK_FILE, FileTrackingStore

T0_NS = 1_700_000_000_000 * 1_000_000


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


@pytest.fixture
def client(root: Path) -> Any:
    return make_client(FileTrackingStore(root.as_uri()))


def _trace(client: Any, exp_id: str, **kwargs: Any) -> str:
    r = client.start_trace("answer", inputs={"q": 1}, experiment_id=exp_id, **kwargs)
    s = client.start_span("llm", r.trace_id, r.span_id, span_type="LLM")
    client.end_span(r.trace_id, s.span_id, outputs="o")
    client.end_trace(r.trace_id, outputs={"a": 2})
    return str(r.trace_id)


def _fresh(root: Path) -> Any:
    return make_client(FileTrackingStore(root.as_uri()))


def test_layout_is_mlflows(root: Path, client: Any) -> None:
    exp = client.create_experiment("e")
    tid = _trace(client, exp, tags={"team": "nlp"})
    fb = client.log_assessment(
        Feedback("q", 0.5, source=AssessmentSource("HUMAN", "bob"), trace_id=tid)
    )
    base = f"{exp}/traces/{tid}"
    files = {f for f in _files(root) if f.startswith(base)}
    assert files == {
        f"{base}/{LOCK_FILE}",
        f"{base}/trace_info.yaml",
        f"{base}/artifacts/traces.json",
        f"{base}/assessments/{fb.assessment_id}.yaml",
        f"{base}/tags/team",
        f"{base}/tags/mlflow.traceName",
        f"{base}/tags/mlflow.artifactLocation",
        f"{base}/request_metadata/mlflow.traceInputs",
        f"{base}/request_metadata/mlflow.traceOutputs",
        f"{base}/request_metadata/mlflow.trace_schema.version",
        f"{base}/request_metadata/mlflow.user",
    }
    info = yaml.safe_load((root / base / "trace_info.yaml").read_text())
    assert info["trace_id"] == tid and info["state"] == "OK"
    assert info["trace_location"] == {
        "type": "MLFLOW_EXPERIMENT",
        "mlflow_experiment": {"experiment_id": exp},
    }
    assert isinstance(info["request_time"], str) and info["request_time"].endswith("Z")
    assert (root / base / "tags" / "mlflow.artifactLocation").read_text() == (
        (root / base / "artifacts").as_uri()
    )
    spans = json.loads((root / base / "artifacts" / "traces.json").read_text())["spans"]
    assert [s["name"] for s in spans] == ["answer", "llm"]
    assessment = yaml.safe_load(
        (root / base / "assessments" / f"{fb.assessment_id}.yaml").read_text()
    )
    assert assessment["feedback"] == {"value": 0.5} and assessment["valid"] is True
    assert assessment["source"] == {"source_type": "HUMAN", "source_id": "bob"}


def test_spans_go_under_a_separate_artifact_root(tmp_path: Path) -> None:
    store = FileTrackingStore(str(tmp_path / "mlruns"), str(tmp_path / "art"))
    client = make_client(store)
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    spans_file = tmp_path / "art" / exp / "traces" / tid / "artifacts" / "traces.json"
    assert spans_file.is_file()
    assert not (tmp_path / "mlruns" / exp / "traces" / tid / "artifacts").exists()
    assert [s.name for s in client.get_trace(tid).data.spans] == ["answer", "llm"]
    assert client.delete_traces(exp, trace_ids=[tid]) == 1
    assert not spans_file.exists()
    assert not (tmp_path / "mlruns" / exp / "traces" / tid).exists()


def test_interrupted_override_is_rolled_back(root: Path, client: Any) -> None:
    """A process died half-way through logging an override: the next reader undoes it."""
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    fb = client.log_assessment(Feedback("q", 1, trace_id=tid))
    trace_dir = root / exp / "traces" / tid
    old_path = trace_dir / "assessments" / f"{fb.assessment_id}.yaml"
    old_text = old_path.read_text()
    # what the dead writer had done: the new file created, the old one marked invalid
    new_rel = "assessments/a-" + "1" * 32 + ".yaml"
    (trace_dir / new_rel).write_text(old_text.replace(fb.assessment_id, "a-" + "1" * 32))
    old_path.write_text(old_text.replace("valid: true", "valid: false"))
    journal = {
        "format": 1,
        "undo": [
            ["restore", f"assessments/{fb.assessment_id}.yaml", old_text],
            ["unlink", new_rel],
        ],
    }
    (trace_dir / LOCK_FILE).write_text(json.dumps(journal) + "\n")
    fresh = _fresh(root)
    got = fresh.get_trace(tid).info.assessments
    assert [(a.assessment_id, a.valid) for a in got] == [(fb.assessment_id, True)]
    assert (trace_dir / LOCK_FILE).read_bytes() == b""


def test_bad_start_trace_writes_nothing(root: Path, client: Any) -> None:
    exp = client.create_experiment("e")
    before = _files(root)
    store = client._store
    r = client.start_trace("t", experiment_id=exp, tags={"a": "1", "a/b": "2"})
    with pytest.raises(TrackyardError) as excinfo:
        client.end_trace(r.trace_id)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert _files(root) == before
    assert list(client.search_traces([exp])) == []
    assert not (root / exp / "traces" / r.trace_id).exists()
    with pytest.raises(TrackyardError):
        store.get_trace_info(r.trace_id)


def test_bad_assessments_and_tags_write_nothing(root: Path, client: Any) -> None:
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    client.set_trace_tag(tid, "a", "1")
    before = {f: (root / f).read_bytes() for f in _files(root)}
    store = client._store
    for call in (
        lambda: store.set_trace_tag(tid, "a/b", "x"),  # "a" is a file
        lambda: store.set_trace_tag(tid, "../escape", "x"),
        lambda: store.delete_trace_tag(tid, "missing"),
        lambda: store.create_assessment(Feedback("f", 1, trace_id=tid, overrides="a-" + "0" * 32)),
        lambda: store.create_assessment(Feedback("f", 1, trace_id="tr-" + "0" * 32)),
        lambda: store.delete_assessment(tid, "a-" + "0" * 32),
        lambda: store.get_assessment(None, "../../x"),
    ):
        with pytest.raises(TrackyardError):
            call()
    assert {f: (root / f).read_bytes() for f in _files(root)} == before


def test_leftovers_of_interrupted_creation_and_deletion_are_ignored(
    root: Path, client: Any
) -> None:
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    # a creation that died before trace_info.yaml, and a deletion that died after removing it
    stale = root / exp / "traces" / ("tr-" + "5" * 32)
    (stale / "tags").mkdir(parents=True)
    (stale / "tags" / "old").write_text("x")
    half_deleted = root / exp / "traces" / tid
    (half_deleted / "trace_info.yaml").unlink()
    fresh = _fresh(root)
    assert list(fresh.search_traces([exp])) == []
    with pytest.raises(TrackyardError) as excinfo:
        fresh.get_trace(tid)
    assert excinfo.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert fresh.delete_traces(exp, max_timestamp_millis=2**62) == 0
    # a new trace with the stale id does not inherit the leftover tags
    info = TraceInfo(stale.name, TraceLocation(exp), T0_NS // 1_000_000, "OK", tags={"n": "1"})
    fresh._store.start_trace(info)
    tags = fresh.get_trace(stale.name).info.tags
    assert tags["n"] == "1" and "old" not in tags


def test_traces_of_a_deleted_experiment_stay_readable(root: Path, client: Any) -> None:
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    client.log_assessment(Expectation("x", {"a": 1}, trace_id=tid))
    client.delete_experiment(exp)
    assert (root / ".trash" / exp / "traces" / tid / "trace_info.yaml").is_file()
    trace = client.get_trace(tid)
    assert [s.name for s in trace.data.spans] == ["answer", "llm"]
    assert trace.info.assessments[0].value == {"a": 1}
    client.restore_experiment(exp)
    client.set_trace_tag(tid, "k", "v")
    assert _fresh(root).get_trace(tid).info.tags["k"] == "v"


def test_malformed_trace_files_are_skipped(
    root: Path, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    exp = client.create_experiment("e")
    good = _trace(client, exp, start_time_ns=T0_NS)
    bad = _trace(client, exp, start_time_ns=T0_NS + 10**9)
    (root / exp / "traces" / bad / "trace_info.yaml").write_text("- not\n- a mapping\n")
    (root / exp / "traces" / good / "assessments").mkdir()
    (root / exp / "traces" / good / "assessments" / "notes.txt").write_text("ignored")
    fresh = _fresh(root)
    with caplog.at_level("WARNING", logger="trackyard.file"):
        assert [t.info.trace_id for t in fresh.search_traces([exp])] == [good]
    assert any(bad in r.getMessage() for r in caplog.records)
    assert fresh.get_trace(good).info.assessments == []


def test_spans_under_a_remote_artifact_root(tmp_path: Path) -> None:
    """A non-local artifact root (fsspec's memory://) goes through the artifact repository."""
    pytest.importorskip("fsspec", reason="the memory:// artifact root needs fsspec")
    from trackyard.backends import get_artifact_repository

    bucket = f"memory://ty-traces-{tmp_path.name}"
    client = make_client(FileTrackingStore(str(tmp_path / "mlruns"), bucket))
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    location = client.get_trace(tid).info.tags["mlflow.artifactLocation"]
    assert location == f"{bucket}/{exp}/traces/{tid}/artifacts"
    names = [f.path for f in get_artifact_repository(location).list_artifacts()]
    assert names == ["traces.json"]
    assert [s.name for s in client.get_trace(tid).data.spans] == ["answer", "llm"]
    got = client.search_traces([exp], "span.type = 'LLM'")
    assert [t.info.trace_id for t in got] == [tid]
    assert client.delete_traces(exp, trace_ids=[tid]) == 1
    assert get_artifact_repository(location).list_artifacts() == []


def test_log_spans_of_an_unknown_trace_writes_nothing(root: Path, client: Any) -> None:
    exp = client.create_experiment("e")
    tid = _trace(client, exp)
    store = client._store
    spans = client.get_trace(tid).data.spans
    before = {f: (root / f).read_bytes() for f in _files(root)}
    stranger = Span.from_dict({**spans[0].to_dict(), "trace_id": None})
    stranger.trace_id = "tr-" + "7" * 32
    with pytest.raises(TrackyardError) as excinfo:
        store.log_spans(exp, [*spans, stranger])
    assert excinfo.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert {f: (root / f).read_bytes() for f in _files(root)} == before


def test_start_trace_again_merges_and_keeps_assessments(root: Path, client: Any) -> None:
    exp = client.create_experiment("e")
    tid = _trace(client, exp, tags={"a": "1"})
    client.log_assessment(Feedback("q", 1, trace_id=tid))
    store = client._store
    info = store.get_trace_info(tid)
    info.tags = {"b": "2"}
    info.trace_metadata = {"m": "x"}
    info.state = "ERROR"
    back = store.start_trace(info)
    assert back.tags["a"] == "1" and back.tags["b"] == "2" and back.trace_metadata["m"] == "x"
    assert [a.name for a in back.assessments] == ["q"]
    got = _fresh(root).get_trace(tid)
    assert got.info.state == "ERROR" and got.info.tags == back.tags
    assert [s.name for s in got.data.spans] == ["answer", "llm"]
