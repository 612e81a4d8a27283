"""Traces in one SQL database, shared by trackyard and MLflow 3.17.2, both ways.

1. MLflow writes traces (spans, tags, a run, one ending in error, feedback, an override, an
   expectation, a feedback with an error); trackyard reads each trace, spans and assessments
   included, exactly as MLflow does, and its searches return MLflow's traces in MLflow's order.
2. trackyard writes the same traces; MLflow's ``get_trace`` and ``search_traces`` read them,
   spans and assessments included, as trackyard does.

SQLite always; PostgreSQL and MariaDB when their services are configured. Needs
``TRACKYARD_TEST_MLFLOW_PYTHON``; skips otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from tests.compat.test_mlflow_sql_compat import db_uri  # noqa: F401 - the fixture
from trackyard.entities.trace_assessment import AssessmentSource, Expectation, Feedback
from trackyard.testing import make_client
from trackyard_sql.tracking import SqlTrackingStore

pytestmark = [pytest.mark.compat, requires_mlflow]

T0_NS = 1_700_000_000_000 * 1_000_000

# (filter, order_by): searches whose results MLflow and trackyard must agree on.
SEARCHES: list[tuple[str, list[str] | None]] = [
    ("", None),
    ("", ["timestamp_ms ASC"]),
    ("", ["execution_time_ms DESC"]),
    ("name = 'chat'", None),
    ("name LIKE 'se%'", None),
    ("tags.team = 'nlp'", None),
    ("tags.team != 'nlp'", None),
    ("status = 'ERROR'", None),
    ("span.type = 'LLM'", None),
    ("span.name = 'retrieve'", None),
    ("timestamp_ms > 1700000001000", ["timestamp_ms ASC"]),
    ("metadata.`mlflow.sourceRun` IS NOT NULL", None),
]

# The same traces, written by either side: (name, team tag, with run, error, child spans).
TRACES: list[tuple[str, str | None, bool, bool, list[tuple[str, str]]]] = [
    ("chat", "nlp", True, False, [("retrieve", "RETRIEVER"), ("generate", "LLM")]),
    ("search", "vision", False, True, [("retrieve", "RETRIEVER")]),
    ("chat", None, False, False, [("generate", "LLM")]),
    ("summarize", "nlp", True, False, []),
]

_DUMP = r"""
def dump_trace(t):
    info = t.info
    assessments = []
    for a in info.assessments:
        err = getattr(a, "error", None)
        assessments.append([
            a.assessment_id, a.name, type(a).__name__.lower(), a.value,
            getattr(a, "rationale", None), a.source.source_type, a.source.source_id,
            a.overrides, a.valid, None if err is None else err.error_code,
            {k: str(v) for k, v in (a.metadata or {}).items()},
        ])
    spans = [
        [s.span_id, s.parent_id, s.name, s.span_type, str(s.status.status_code.value),
         s.start_time_ns, s.end_time_ns, s.inputs, s.outputs,
         {k: v for k, v in s.attributes.items()}]
        for s in t.data.spans
    ]
    return {
        "id": info.trace_id, "exp": info.experiment_id, "time": info.request_time,
        "duration": info.execution_duration, "state": str(getattr(info.state, "value", info.state)),
        "request": info.request_preview, "response": info.response_preview,
        "client_request_id": info.client_request_id, "tags": dict(info.tags),
        "metadata": dict(info.trace_metadata), "assessments": sorted(assessments),
        "spans": sorted(spans),
    }


def dump(client, exp, ids, searches):
    traces = {i: dump_trace(client.get_trace(i)) for i in ids}
    found = []
    for flt, order in searches:
        page = client.search_traces(experiment_ids=[exp], filter_string=flt or None,
                                    order_by=order, max_results=100)
        found.append([t.info.trace_id for t in page])
    listed = {t.info.trace_id: dump_trace(t) for t in client.search_traces(experiment_ids=[exp])}
    return {"traces": traces, "searches": found, "listed": listed}
"""

_MLFLOW_WRITES = (
    _DUMP
    + r"""
import mlflow
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource

mlflow.set_tracking_uri(ARGS["uri"])
client = MlflowClient()
exp = client.create_experiment("traces-compat")
run = client.create_run(exp).info.run_id
t0 = ARGS["t0"]
ids = []
for i, (name, team, with_run, error, children) in enumerate(ARGS["traces"]):
    start = t0 + i * 10**9
    root = client.start_trace(
        name, span_type="CHAIN", inputs={"i": i}, experiment_id=exp, start_time_ns=start,
        tags={"team": team} if team else None, run_id=run if with_run else None,
    )
    for j, (child, kind) in enumerate(children):
        span = client.start_span(child, root.trace_id, root.span_id, span_type=kind,
                                 inputs=[i, j], start_time_ns=start + 1000 * (j + 1))
        client.end_span(root.trace_id, span.span_id, outputs={"j": j},
                        end_time_ns=start + 1000 * (j + 1) + 500)
    client.end_trace(root.trace_id, outputs="done", status="ERROR" if error else "OK",
                     end_time_ns=start + (i + 1) * 5_000_000)
    ids.append(root.trace_id)
mlflow.flush_trace_async_logging()
fb = mlflow.log_feedback(trace_id=ids[0], name="relevance", value=0.5, rationale="because",
                         source=AssessmentSource("HUMAN", "bob"), metadata={"m": 1})
mlflow.log_expectation(trace_id=ids[0], name="answer", value={"a": [1]})
mlflow.override_feedback(trace_id=ids[0], assessment_id=fb.assessment_id, value=0.9)
mlflow.log_feedback(trace_id=ids[1], name="judge", error=ValueError("boom"))
emit({"exp": exp, "ids": ids, **dump(client, exp, ids, ARGS["searches"])})
"""
)

_MLFLOW_READS = (
    _DUMP
    + r"""
from mlflow import MlflowClient

client = MlflowClient(tracking_uri=ARGS["uri"])
emit(dump(client, ARGS["exp"], ARGS["ids"], ARGS["searches"]))
"""
)


def _dump_trace(t: Any) -> dict[str, Any]:
    info = t.info
    assessments = sorted(
        [
            a.assessment_id,
            a.name,
            a.kind,
            a.value,
            a.rationale,
            a.source.source_type,
            a.source.source_id,
            a.overrides,
            a.valid,
            None if a.error is None else a.error.error_code,
            dict(a.metadata or {}),
        ]
        for a in info.assessments
    )
    spans = sorted(
        [
            s.span_id,
            s.parent_id,
            s.name,
            s.span_type,
            s.status.status_code.value,
            s.start_time_ns,
            s.end_time_ns,
            s.inputs,
            s.outputs,
            s.attributes,
        ]
        for s in t.data.spans
    )
    return {
        "id": info.trace_id,
        "exp": info.experiment_id,
        "time": info.request_time,
        "duration": info.execution_duration,
        "state": info.state,
        "request": info.request_preview,
        "response": info.response_preview,
        "client_request_id": info.client_request_id,
        "tags": dict(info.tags),
        "metadata": dict(info.trace_metadata),
        "assessments": assessments,
        "spans": spans,
    }


def _dump(client: Any, exp: str, ids: list[str]) -> dict[str, Any]:
    traces = {i: _dump_trace(client.get_trace(i)) for i in ids}
    found = [
        [t.info.trace_id for t in client.search_traces([exp], flt or None, 100, order)]
        for flt, order in SEARCHES
    ]
    listed = {t.info.trace_id: _dump_trace(t) for t in client.search_traces([exp])}
    return {"traces": traces, "searches": found, "listed": listed}


def _args() -> dict[str, Any]:
    return {
        "t0": T0_NS,
        "traces": [list(t) for t in TRACES],
        "searches": [[f, o] for f, o in SEARCHES],
    }


def test_trackyard_reads_traces_mlflow_wrote(db_uri: str, tmp_path: Any) -> None:  # noqa: F811
    written = run_mlflow(_MLFLOW_WRITES, uri=db_uri, **_args())
    ids = written["ids"]
    assert len(written["traces"][ids[0]]["assessments"]) == 3
    assert all(written["traces"][i]["spans"] for i in ids)
    assert written["searches"][3] == [ids[2], ids[0]]  # name = 'chat', newest first
    assert written["searches"][8] == [ids[2], ids[0]]  # span.type = 'LLM'
    store = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "a"))
    try:
        got = _dump(make_client(store), written["exp"], ids)
    finally:
        store.close()
    assert got["traces"] == written["traces"]
    assert got["searches"] == written["searches"]
    assert got["listed"] == written["listed"]


def test_mlflow_reads_traces_trackyard_wrote(db_uri: str, tmp_path: Any) -> None:  # noqa: F811
    run_mlflow(
        "from mlflow import MlflowClient\n"
        "MlflowClient(tracking_uri=ARGS['uri']).search_experiments()",
        uri=db_uri,
    )  # MLflow creates the database
    store = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "a"))
    try:
        client = make_client(store)
        exp = client.create_experiment("traces-compat")
        run = client.create_run(exp).info.run_id
        ids = []
        for i, (name, team, with_run, error, children) in enumerate(TRACES):
            start = T0_NS + i * 10**9
            root = client.start_trace(
                name,
                span_type="CHAIN",
                inputs={"i": i},
                experiment_id=exp,
                start_time_ns=start,
                tags={"team": team} if team else None,
                run_id=run if with_run else None,
            )
            for j, (child, kind) in enumerate(children):
                span = client.start_span(
                    child, root.trace_id, root.span_id, kind, [i, j], None, start + 1000 * (j + 1)
                )
                client.end_span(
                    root.trace_id, span.span_id, {"j": j}, None, "OK", start + 1000 * (j + 1) + 500
                )
            client.end_trace(
                root.trace_id,
                "done",
                None,
                "ERROR" if error else "OK",
                start + (i + 1) * 5_000_000,
            )
            ids.append(root.trace_id)
        fb = client.log_assessment(
            Feedback(
                "relevance",
                0.5,
                source=AssessmentSource("HUMAN", "bob"),
                rationale="because",
                metadata={"m": 1},
            ),
            request_id=ids[0],
        )
        client.log_assessment(Expectation("answer", {"a": [1]}, trace_id=ids[0]))
        client.log_assessment(
            Feedback("relevance", 0.9, trace_id=ids[0], overrides=fb.assessment_id)
        )
        client.log_assessment(Feedback("judge", error=ValueError("boom"), trace_id=ids[1]))
        mine = _dump(client, exp, ids)
    finally:
        store.close()
    theirs = run_mlflow(_MLFLOW_READS, uri=db_uri, exp=exp, ids=ids, **_args())
    assert len(theirs["traces"][ids[0]]["assessments"]) == 3
    assert [len(theirs["traces"][i]["spans"]) for i in ids] == [3, 2, 2, 1]
    assert theirs["searches"][3] == [ids[2], ids[0]]  # name = 'chat', newest first
    assert theirs["searches"][7] == [ids[1]]  # status = 'ERROR'
    assert theirs["traces"] == mine["traces"]
    assert theirs["searches"] == mine["searches"]
    assert theirs["listed"] == mine["listed"]
