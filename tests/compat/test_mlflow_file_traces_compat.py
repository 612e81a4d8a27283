"""Traces in the file store: trackyard and MLflow 3.17.2 read each other's ``mlruns`` folders.

Each side writes, through its own client and its own ``log_feedback`` / ``log_expectation`` /
``override_feedback``, three traces with spans (inputs, outputs, attributes, an error span),
tags (one set after the trace ended, one deleted) and assessments (a feedback with metadata,
an override of it, an expectation with a structured value), then deletes one trace; the
other side reads every trace (info, metadata, tags, spans, assessments) and runs a few
searches, and the two dumps must agree. Then each side changes the other's traces (a tag
set and one deleted, a feedback, an override, a deleted trace) and the first side reads the
changes. MLflow's trace export is made synchronous so the traces are on disk when its
snippet ends. Needs ``TRACKYARD_TEST_MLFLOW_PYTHON``; skips
otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import trackyard
from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard import MlflowClient, entities
from trackyard.entities.trace_assessment import Feedback

pytestmark = [pytest.mark.compat, requires_mlflow]

T0_NS = 1_700_000_000_000 * 1_000_000

SEARCHES: list[list[Any]] = [
    ["", ["timestamp_ms ASC"]],
    ["name = 'answer-1'", None],
    ["tags.team = 'nlp'", ["timestamp_ms DESC"]],
    ["status = 'ERROR'", None],
    [f"timestamp_ms > {T0_NS // 1_000_000}", ["timestamp_ms ASC"]],
]

_CODE = r"""
def _value(x):
    return getattr(x, "value", x)


def dump(client, exp, ids, searches):
    traces = {}
    for tid in ids:
        t = client.get_trace(tid)
        i = t.info
        spans = [
            [s.name, s.span_id, s.parent_id, s.span_type, s.inputs, s.outputs,
             str(_value(s.status.status_code)), s.start_time_ns, s.end_time_ns,
             sorted([k, repr(v)] for k, v in s.attributes.items())]
            for s in sorted(t.data.spans, key=lambda s: (s.start_time_ns, s.span_id))
        ]
        assessments = []
        for a in i.assessments:
            kind = getattr(a, "kind", None) or type(a).__name__.lower()
            # MLflow's Expectation entity reads ``valid`` as None: compare it on feedback
            valid = bool(a.valid) if kind == "feedback" else None
            assessments.append(
                [a.assessment_id, a.name, kind, repr(a.value), a.rationale,
                 a.source.source_type, a.source.source_id, a.overrides, valid,
                 sorted((a.metadata or {}).items()), a.trace_id])
        assessments.sort()
        traces[tid] = {
            "experiment_id": i.experiment_id, "request_time": i.request_time,
            "duration": i.execution_duration, "state": str(_value(i.state)),
            "request_preview": i.request_preview, "response_preview": i.response_preview,
            "tags": dict(i.tags),
            "metadata": dict(i.trace_metadata),
            "spans": spans, "assessments": assessments,
        }
    found = [
        [t.info.trace_id for t in client.search_traces(
            experiment_ids=[exp], filter_string=flt or None, order_by=order, max_results=100)]
        for flt, order in searches
    ]
    return {"traces": traces, "searches": found}


def populate(api, client, E, t0):
    exp = client.create_experiment("traces-file-compat")
    ids = []
    for n in range(3):
        start = t0 + n * 10**9
        root = client.start_trace(
            f"answer-{n}", span_type="CHAIN", inputs={"q": f"question {n}"},
            attributes={"n": n, "s": "x"}, tags={"team": ["nlp", "vision"][n % 2], "gone": "1"},
            experiment_id=exp, start_time_ns=start,
        )
        llm = client.start_span("llm", root.trace_id, root.span_id, span_type="LLM",
                                inputs=[n, "hi"], start_time_ns=start + 1000)
        client.end_span(root.trace_id, llm.span_id, outputs={"text": "hello"},
                        attributes={"tokens": 7}, end_time_ns=start + 2000)
        tool = client.start_span("tool", root.trace_id, llm.span_id, span_type="TOOL",
                                 start_time_ns=start + 1500)
        client.end_span(root.trace_id, tool.span_id, status="ERROR" if n == 1 else "OK",
                        end_time_ns=start + 1800)
        client.end_trace(root.trace_id, outputs={"a": n}, status="ERROR" if n == 1 else "OK",
                         end_time_ns=start + (n + 1) * 20_000_000)
        tid = root.trace_id
        client.set_trace_tag(tid, "later", f"v{n}")
        client.delete_trace_tag(tid, "gone")
        fb = api.log_feedback(
            trace_id=tid, name="quality", value=0.5 + n,
            source=E.AssessmentSource(source_type="HUMAN", source_id="bob"),
            rationale="fine", metadata={"judge": "me"},
        )
        api.log_expectation(trace_id=tid, name="expected", value={"a": [n, "b"]})
        if n != 2:
            api.override_feedback(trace_id=tid, assessment_id=fb.assessment_id, value=0.25,
                                  rationale="second look")
        ids.append(tid)
    extra = client.start_trace("doomed", experiment_id=exp, start_time_ns=t0 - 10**9)
    client.end_trace(extra.trace_id, end_time_ns=t0 - 10**9 + 5_000_000)
    assert client.delete_traces(exp, trace_ids=[extra.trace_id]) == 1
    return exp, ids, extra.trace_id
"""

_MLFLOW_WRITES = (
    _CODE
    + r"""
import os
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
import mlflow
from mlflow import MlflowClient
import mlflow.entities as E

mlflow.set_tracking_uri(ARGS["uri"])
client = MlflowClient(tracking_uri=ARGS["uri"])
exp, ids, deleted = populate(mlflow, client, E, ARGS["t0"])
emit({"exp": exp, "ids": ids, "deleted": deleted, **dump(client, exp, ids, ARGS["searches"])})
"""
)

_MLFLOW_READS = (
    _CODE
    + r"""
import mlflow
from mlflow import MlflowClient

mlflow.set_tracking_uri(ARGS["uri"])
client = MlflowClient(tracking_uri=ARGS["uri"])
ids = ARGS["ids"]
out = dump(client, ARGS["exp"], ids, ARGS["searches"])
try:
    client.get_trace(ARGS["deleted"])
    out["deleted_found"] = True
except Exception:
    out["deleted_found"] = False
# then MLflow changes what trackyard wrote: a tag, a feedback, a deleted trace
client.set_trace_tag(ids[0], "from_mlflow", "yes")
client.set_trace_tag(ids[0], "later", "changed")
out["judge"] = mlflow.log_feedback(trace_id=ids[0], name="judge", value=True).assessment_id
out["removed"] = client.delete_traces(ARGS["exp"], trace_ids=[ids[2]])
emit(out)
"""
)


_MLFLOW_CHECKS = r"""
from mlflow import MlflowClient

client = MlflowClient(tracking_uri=ARGS["uri"])
ids = ARGS["ids"]
found = client.search_traces(experiment_ids=[ARGS["exp"]], order_by=["timestamp_ms ASC"])
first = client.get_trace(ids[0]).info
judge = [a for a in first.assessments if a.name == "judge"][0]
third = client.get_trace(ids[2]).info
emit({
    "search": [t.info.trace_id for t in found],
    "tags": dict(first.tags),
    "judge": [judge.assessment_id, judge.value, judge.rationale, judge.valid],
    "quality": sorted([a.assessment_id, a.valid] for a in third.assessments
                      if a.name == "quality"),
})
"""


def _local() -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(_CODE, scope)
    return scope


def _normalize(dump: dict[str, Any]) -> dict[str, Any]:
    """JSON round trip (the peer's dump came through JSON): tuples become lists."""
    import json

    result: dict[str, Any] = json.loads(json.dumps(dump))
    return result


def test_trackyard_reads_traces_mlflow_wrote(tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    written = run_mlflow(_MLFLOW_WRITES, uri=uri, t0=T0_NS, searches=SEARCHES)
    client = MlflowClient(tracking_uri=uri)
    mine = _normalize(_local()["dump"](client, written["exp"], written["ids"], SEARCHES))
    assert mine["traces"] == written["traces"]
    assert mine["searches"] == written["searches"]
    with pytest.raises(trackyard.TrackyardError):
        client.get_trace(written["deleted"])
    first = mine["traces"][written["ids"][0]]
    assert len(first["spans"]) == 3 and len(first["assessments"]) == 3
    assert [t.info.trace_id for t in client.search_traces([written["exp"]])] == list(
        reversed(written["ids"])
    )
    # the span and assessment filters trackyard adds work on MLflow's files too
    got = client.search_traces([written["exp"]], "span.status = 'ERROR'")
    assert [t.info.trace_id for t in got] == [written["ids"][1]]
    # then trackyard changes what MLflow wrote, and MLflow reads the changes
    ids = written["ids"]
    client.set_trace_tag(ids[0], "from_trackyard", "yes")
    client.delete_trace_tag(ids[0], "later")
    judge = client.log_assessment(Feedback("judge", "good", trace_id=ids[0], rationale="r"))
    first_quality = next(
        a for a in client.get_trace(ids[2]).info.assessments if a.name == "quality"
    )
    override = client.log_assessment(
        Feedback("quality", 9, trace_id=ids[2], overrides=first_quality.assessment_id)
    )
    assert client.delete_traces(written["exp"], trace_ids=[ids[1]]) == 1
    theirs = run_mlflow(_MLFLOW_CHECKS, uri=uri, exp=written["exp"], ids=ids)
    assert theirs["search"] == [ids[0], ids[2]]
    assert theirs["tags"]["from_trackyard"] == "yes" and "later" not in theirs["tags"]
    assert theirs["judge"] == [judge.assessment_id, "good", "r", True]
    assert theirs["quality"] == sorted(
        [[first_quality.assessment_id, False], [override.assessment_id, True]]
    )


def test_mlflow_reads_traces_trackyard_wrote(tmp_path: Path) -> None:
    uri = (tmp_path / "mlruns").as_uri()
    trackyard.set_tracking_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        scope = _local()
        exp, ids, deleted = scope["populate"](trackyard, client, entities, T0_NS)
        mine = _normalize(scope["dump"](client, exp, ids, SEARCHES))
    finally:
        trackyard.set_tracking_uri(None)
    assert len(mine["traces"][ids[0]]["assessments"]) == 3
    theirs = run_mlflow(
        _MLFLOW_READS, uri=uri, exp=exp, ids=ids, searches=SEARCHES, deleted=deleted
    )
    assert theirs.pop("deleted_found") is False
    judge, removed = theirs.pop("judge"), theirs.pop("removed")
    assert theirs == mine
    # trackyard reads MLflow's changes to the traces it wrote
    assert removed == 1
    fresh = MlflowClient(tracking_uri=uri)
    assert [t.info.trace_id for t in fresh.search_traces([exp], order_by=["timestamp"])] == ids[:2]
    info = fresh.get_trace(ids[0]).info
    assert info.tags["from_mlflow"] == "yes" and info.tags["later"] == "changed"
    got = fresh.get_assessment(ids[0], judge)
    assert (got.name, got.value, got.valid) == ("judge", True, True)
    assert len(info.assessments) == 4
