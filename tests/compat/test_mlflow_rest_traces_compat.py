"""MLflow 3.17.2's tracing against a trackyard server, and trackyard reading the result back.

MLflow's client (``MlflowClient.start_trace``/``start_span``, the fluent ``@mlflow.trace`` and
``mlflow.start_span``, ``log_feedback``/``log_expectation``/``override_feedback``) writes
through a trackyard server on SQLite: spans go to ``POST /v1/traces`` (OTLP protobuf, as
MLflow sends them to a server whose ``/version`` is at least 3.4), infos to
``POST /api/3.0/mlflow/traces``, assessments to the v3 assessment routes. Then:

- MLflow's own ``get_trace``/``search_traces`` through the server read what it wrote;
- trackyard's http client through the server, and trackyard's SQL store on the database
  directly, read identical traces (ids, times, state, previews, tags, metadata, spans with
  their attributes, assessments) and return MLflow's searches in MLflow's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from tests.compat.test_mlflow_traces_compat import (
    _DUMP,
    _MLFLOW_READS,
    _MLFLOW_WRITES,
    _args,
    _dump,
    _dump_trace,
)
from tests.rest_server import serve
from trackyard.testing import make_client

pytestmark = [pytest.mark.compat, requires_mlflow]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(server URL, its SQLite URI): a trackyard server over a fresh SQLite database."""
    pytest.importorskip("fastapi", reason="the server needs trackyard[server]")
    from trackyard_rest.server import create_app

    db_uri = f"sqlite:///{tmp_path / 'ty.db'}"
    app = create_app(db_uri, artifacts_destination=str(tmp_path / "artifacts"))
    with serve(app) as url:
        yield url, db_uri


def _read_both_ways(url: str, db_uri: str, tmp_path: Path, exp: str, ids: list[str]) -> Any:
    from trackyard_rest.client.tracking import RestTrackingStore
    from trackyard_sql.tracking import SqlTrackingStore

    rest = RestTrackingStore(store_uri=url)
    sql = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "a"))
    try:
        return _dump(make_client(rest), exp, ids), _dump(make_client(sql), exp, ids)
    finally:
        rest.close()
        sql.close()


def _valid_expectations(dumped: dict[str, Any]) -> dict[str, Any]:
    """MLflow's dump with expectations read over REST marked valid.

    MLflow's ``Expectation.from_proto`` drops the message's ``valid`` field (any server's
    answer reads as ``valid=None``); trackyard keeps it (True unless overridden).
    """
    for group in ("traces", "listed"):
        for trace in dumped.get(group, {}).values():
            for row in trace["assessments"]:
                if row[2] == "expectation" and row[8] is None:
                    row[8] = True
    return dumped


def test_mlflow_traces_through_trackyard_server(served: tuple[str, str], tmp_path: Path) -> None:
    url, db_uri = served
    written = _valid_expectations(run_mlflow(_MLFLOW_WRITES, uri=url, **_args()))
    ids = written["ids"]
    assert [len(written["traces"][i]["spans"]) for i in ids] == [3, 2, 2, 1]
    assert len(written["traces"][ids[0]]["assessments"]) == 3
    assert written["searches"][3] == [ids[2], ids[0]]  # name = 'chat', newest first
    assert written["searches"][7] == [ids[1]]  # status = 'ERROR'
    root = next(s for s in written["traces"][ids[0]]["spans"] if s[1] is None)
    assert root[7] == {"i": 0} and root[8] == "done"
    over_rest, in_db = _read_both_ways(url, db_uri, tmp_path, written["exp"], ids)
    for got in (over_rest, in_db):
        assert got["traces"] == written["traces"]
        assert got["searches"] == written["searches"]
        assert got["listed"] == written["listed"]


def test_mlflow_reads_through_trackyard_server_what_trackyard_wrote(
    served: tuple[str, str], tmp_path: Path
) -> None:
    url = served[0]
    from trackyard.entities.trace_assessment import Feedback
    from trackyard_rest.client.tracking import RestTrackingStore

    store = RestTrackingStore(store_uri=url)
    try:
        client = make_client(store)
        exp = client.create_experiment("written-by-trackyard")
        root = client.start_trace("chat", span_type="CHAIN", inputs={"q": 1}, experiment_id=exp)
        child = client.start_span("llm", root.trace_id, root.span_id, "LLM", [1, 2])
        client.end_span(root.trace_id, child.span_id, outputs={"a": [1]})
        client.end_trace(root.trace_id, outputs="done")
        client.set_trace_tag(root.trace_id, "team", "nlp")
        client.log_assessment(Feedback("relevance", 0.5, trace_id=root.trace_id))
        mine = _dump_trace(client.get_trace(root.trace_id))
    finally:
        store.close()
    theirs = run_mlflow(_MLFLOW_READS, uri=url, exp=exp, ids=[root.trace_id], searches=[["", None]])
    assert theirs["traces"][root.trace_id] == mine
    assert theirs["listed"] == {root.trace_id: mine}
    assert len(mine["spans"]) == 2 and mine["assessments"][0][3] == 0.5


_FLUENT = (
    _DUMP
    + r"""
import mlflow
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource

mlflow.set_tracking_uri(ARGS["uri"])
exp = mlflow.set_experiment("fluent").experiment_id

@mlflow.trace(span_type="TOOL")
def lookup(word):
    return {"word": word, "len": len(word)}

@mlflow.trace(name="answer", attributes={"model": "tiny"})
def answer(question):
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"q": question})
        span.set_attribute("k", 3)
        span.set_outputs(["doc-1", "doc-2"])
    return lookup(question.split()[0])

@mlflow.trace
def broken():
    raise ValueError("boom")

answer("hello world")
ok_id = mlflow.get_last_active_trace_id()
try:
    broken()
except ValueError:
    pass
bad_id = mlflow.get_last_active_trace_id()
mlflow.flush_trace_async_logging()
mlflow.log_feedback(trace_id=ok_id, name="helpful", value=True,
                    source=AssessmentSource("HUMAN", "ann"), rationale="fine")
client = MlflowClient()
client.set_trace_tag(ok_id, "reviewed", "yes")
listed = client.search_traces(experiment_ids=[exp])
emit({"exp": exp, "ids": [ok_id, bad_id], "listed": [dump_trace(t) for t in listed]})
"""
)


def test_fluent_tracing_into_trackyard_server(served: tuple[str, str], tmp_path: Path) -> None:
    url, db_uri = served
    written = run_mlflow(_FLUENT, uri=url)
    ok_id, bad_id = written["ids"]
    by_id = {t["id"]: t for t in written["listed"]}
    assert set(by_id) == {ok_id, bad_id}
    ok, bad = by_id[ok_id], by_id[bad_id]
    assert ok["state"] == "OK" and bad["state"] == "ERROR"
    assert sorted(s[2] for s in ok["spans"]) == ["answer", "lookup", "retrieve"]
    assert ok["tags"]["reviewed"] == "yes" and ok["tags"]["mlflow.traceName"] == "answer"
    assert [a[1:5] for a in ok["assessments"]] == [["helpful", "feedback", True, "fine"]]
    over_rest, in_db = _read_both_ways(url, db_uri, tmp_path, written["exp"], [ok_id, bad_id])
    for got in (over_rest, in_db):
        assert got["listed"] == by_id
