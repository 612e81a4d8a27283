"""Traces in the SQL store: MLflow's row layout and what only SQL does (the kit has the rest).

Tests parametrized over ``dialect`` run on SQLite, and on PostgreSQL and MariaDB/MySQL when
``TRACKYARD_TEST_POSTGRES_URI`` / ``TRACKYARD_TEST_MYSQL_URI`` are set (they skip otherwise).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from trackyard.entities.trace_assessment import AssessmentSource, Expectation, Feedback
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing import make_client
from trackyard_sql.dialect import sqlite_regexp
from trackyard_sql.tracking import SqlTrackingStore

T0_NS = 1_700_000_000_000 * 1_000_000


def _drop_tables(uri: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            md = sa.MetaData()
            md.reflect(conn)
            md.drop_all(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'traces.db'}"
    base = postgres_base_uri() if request.param == "postgresql" else mysql_base_uri()
    uri = worker_database_uri(base, "sqltraces")
    _drop_tables(uri)
    return uri


@pytest.fixture
def store(db_uri: str, tmp_path: Path) -> Iterator[SqlTrackingStore]:
    s = SqlTrackingStore(store_uri=db_uri, artifact_uri=str(tmp_path / "artifacts"))
    yield s
    s.close()


def _rows(uri: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    if uri.startswith("mysql"):
        sql = sql.replace('"', "`")
    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def _expect(code: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    assert excinfo.value.error_code == code, excinfo.value


def _write_trace(client: Any, exp: str) -> str:
    root = client.start_trace(
        "answer",
        span_type="CHAIN",
        inputs={"q": "hi"},
        tags={"team": "nlp"},
        experiment_id=exp,
        start_time_ns=T0_NS,
    )
    llm = client.start_span("llm", root.trace_id, root.span_id, "LLM", ["hi"], None, T0_NS + 10)
    client.end_span(root.trace_id, llm.span_id, outputs="hello", end_time_ns=T0_NS + 20)
    client.end_trace(root.trace_id, outputs={"a": "hello"}, end_time_ns=T0_NS + 7_000_000)
    return str(root.trace_id)


def test_rows_follow_mlflows_layout(store: SqlTrackingStore, db_uri: str) -> None:
    client = make_client(store)
    exp = client.create_experiment("layout")
    trace_id = _write_trace(client, exp)
    (info,) = _rows(
        db_uri,
        "SELECT experiment_id, timestamp_ms, execution_time_ms, status, trace_name, "
        "request_preview FROM trace_info WHERE request_id = :t",
        t=trace_id,
    )
    assert info == (int(exp), T0_NS // 1_000_000, 7, "OK", "answer", '{"q": "hi"}')
    tags = dict(
        _rows(db_uri, 'SELECT "key", value FROM trace_tags WHERE request_id = :t', t=trace_id)
    )
    assert "mlflow.traceName" not in tags  # MLflow keeps it in trace_info.trace_name only
    assert tags["team"] == "nlp" and tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert tags["mlflow.artifactLocation"].endswith(f"/traces/{trace_id}/artifacts")
    meta = dict(
        _rows(
            db_uri,
            'SELECT "key", value FROM trace_request_metadata WHERE request_id = :t',
            t=trace_id,
        )
    )
    assert meta["mlflow.trace.infoFinalized"] == "true"
    assert meta["mlflow.trace_schema.version"] == "3"
    spans = _rows(
        db_uri,
        "SELECT name, type, status, parent_span_id, duration_ns, experiment_id, content "
        "FROM spans WHERE trace_id = :t ORDER BY start_time_unix_nano",
        t=trace_id,
    )
    assert [s[:3] for s in spans] == [("answer", "CHAIN", "OK"), ("llm", "LLM", "OK")]
    assert spans[0][3] is None and spans[1][4] == 10 and spans[0][5] == int(exp)
    content = json.loads(spans[1][6])
    assert content["name"] == "llm" and content["attributes"]["mlflow.spanOutputs"] == '"hello"'


def test_session_token_usage_and_cost_are_mlflows_columns(
    store: SqlTrackingStore, db_uri: str
) -> None:
    exp = make_client(store).create_experiment("numbers")
    trace_id = "tr-" + "a" * 32
    from trackyard.entities.trace import TraceInfo, TraceLocation

    usage = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    store.start_trace(
        TraceInfo(
            trace_id,
            TraceLocation(exp),
            T0_NS // 1_000_000,
            "OK",
            execution_duration=3,
            trace_metadata={
                "mlflow.trace.session": "s-1",
                "mlflow.trace.tokenUsage": json.dumps(usage),
                "mlflow.trace.cost": json.dumps({"total_cost": 0.25}),
            },
        )
    )
    (row,) = _rows(
        db_uri,
        "SELECT session_id, input_tokens, total_tokens, total_cost FROM trace_info "
        "WHERE request_id = :t",
        t=trace_id,
    )
    assert row == ("s-1", 5, 12, 0.25)
    keys = {r[0] for r in _rows(db_uri, 'SELECT "key" FROM trace_request_metadata')}
    assert keys == {"mlflow.trace.infoFinalized"}
    meta = store.get_trace_info(trace_id).trace_metadata
    assert json.loads(meta["mlflow.trace.tokenUsage"]) == usage
    assert json.loads(meta["mlflow.trace.cost"]) == {"total_cost": 0.25}
    client = make_client(store)
    found = client.search_traces([exp], "metadata.`mlflow.trace.session` = 's-1'")
    assert [t.info.trace_id for t in found] == [trace_id]
    assert not client.search_traces([exp], "metadata.`mlflow.trace.session` = 's-2'")
    _expect(
        ErrorCode.INVALID_PARAMETER_VALUE,
        client.search_traces,
        [exp],
        "metadata.`mlflow.trace.tokenUsage` = '{}'",
    )


def test_rlike_is_case_sensitive_and_bad_patterns_are_refused(store: SqlTrackingStore) -> None:
    client = make_client(store)
    exp = client.create_experiment("rlike")
    for name in ("Search", "search", "research"):
        root = client.start_trace(name, experiment_id=exp)
        client.end_trace(root.trace_id)

    def names(filter_string: str) -> list[str]:
        got = client.search_traces([exp], filter_string, order_by=["name"], include_spans=False)
        return [t.info.tags["mlflow.traceName"] for t in got]

    assert names("name RLIKE '^s'") == ["search"]
    assert names("name RLIKE 'S'") == ["Search"]
    assert names("name RLIKE 'ea.c'") == ["Search", "research", "search"]
    _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_traces, [exp], "name RLIKE '(a'")


def test_a_trace_name_wider_than_its_column_is_refused(store: SqlTrackingStore) -> None:
    client = make_client(store)
    exp = client.create_experiment("wide")
    trace_id = _write_trace(client, exp)
    _expect(
        ErrorCode.INVALID_PARAMETER_VALUE,
        client.set_trace_tag,
        trace_id,
        "mlflow.traceName",
        "n" * 4097,
    )
    assert client.get_trace(trace_id).info.tags["mlflow.traceName"] == "answer"
    client.set_trace_tag(trace_id, "mlflow.traceName", "renamed")
    assert [t.info.trace_id for t in client.search_traces([exp], "name = 'renamed'")] == [trace_id]
    client.delete_trace_tag(trace_id, "mlflow.traceName")
    assert "mlflow.traceName" not in client.get_trace(trace_id).info.tags
    _expect(
        ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_trace_tag, trace_id, "mlflow.traceName"
    )


def test_assessment_rows_and_deletion_of_traces_with_children(
    store: SqlTrackingStore, db_uri: str
) -> None:
    client = make_client(store)
    exp = client.create_experiment("children")
    trace_id = _write_trace(client, exp)
    fb = client.log_assessment(
        Feedback("relevance", 0.5, source=AssessmentSource("HUMAN", "ann"), trace_id=trace_id)
    )
    client.log_assessment(Expectation("answer", {"a": [1]}, trace_id=trace_id))
    client.log_assessment(Feedback("good", True, trace_id=trace_id))
    rows = {
        r[0]: r[1:]
        for r in _rows(
            db_uri,
            "SELECT name, assessment_type, value, aggregate_value, is_numeric_value, "
            "experiment_id, trace_timestamp_ms, source_type, source_id FROM assessments",
        )
    }
    assert rows["relevance"][:4] == ("feedback", "0.5", 0.5, True)
    assert rows["relevance"][4:] == (int(exp), T0_NS // 1_000_000, "HUMAN", "ann")
    assert rows["answer"][:4] == ("expectation", '{"a": [1]}', None, False)
    assert rows["good"][2:4] == (1.0, False)
    assert client.get_assessment(fb.assessment_id).source.source_id == "ann"
    assert client.delete_traces(exp, trace_ids=[trace_id]) == 1
    for table, column in (
        ("trace_tags", "request_id"),
        ("trace_request_metadata", "request_id"),
        ("spans", "trace_id"),
        ("assessments", "trace_id"),
    ):
        assert _rows(db_uri, f"SELECT 1 FROM {table} WHERE {column} = :t", t=trace_id) == []


def test_a_database_without_trace_tables_refuses_traces(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqlTrackingStore(f"sqlite:///{path}", str(tmp_path / "a")).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE assessments")
    store = SqlTrackingStore(f"sqlite:///{path}", str(tmp_path / "a"))
    try:
        client = make_client(store)
        _expect(ErrorCode.FEATURE_DISABLED, client.search_traces, ["0"])
        _expect(ErrorCode.FEATURE_DISABLED, client.get_trace, "tr-" + "0" * 32)
        assert client.create_experiment("still works")
    finally:
        store.close()


def test_sqlite_regexp_function() -> None:
    assert sqlite_regexp("^a.c", "abcd") == 1
    assert sqlite_regexp("B", "abc") == 0
    assert sqlite_regexp("a", None) is None
    assert sqlite_regexp(None, "a") is None
