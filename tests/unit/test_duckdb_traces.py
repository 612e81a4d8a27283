"""Traces in the DuckDB store: what only DuckDB does (the kit's TraceStoreSuite has the rest)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing import make_client
from trackyard_duckdb.schema import traces
from trackyard_duckdb.tracking import DuckDBTrackingStore


def _store(path: Path, tmp_path: Path) -> DuckDBTrackingStore:
    return DuckDBTrackingStore(f"duckdb:///{path}", str(tmp_path / "artifacts"))


def test_a_database_from_before_traces_gets_the_trace_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    store = _store(path, tmp_path)
    exp = make_client(store).create_experiment("kept")
    store.close()
    con = duckdb.connect(str(path))
    for table in traces.TABLES:
        con.execute(f"DROP TABLE {table}")
    con.execute("DELETE FROM trackyard_schema WHERE family = 'traces'")
    con.close()
    store = _store(path, tmp_path)
    try:
        client = make_client(store)
        root = client.start_trace("t", experiment_id=exp)
        client.end_trace(root.trace_id)
        assert [t.info.trace_id for t in client.search_traces([exp])] == [root.trace_id]
    finally:
        store.close()
    con = duckdb.connect(str(path))
    assert con.execute(
        "SELECT version FROM trackyard_schema WHERE family = 'traces'"
    ).fetchall() == [(traces.VERSION,)]
    con.close()


def test_rlike_is_case_sensitive_and_bad_patterns_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path / "r.duckdb", tmp_path)
    try:
        client = make_client(store)
        exp = client.create_experiment("rlike")
        for name in ("Search", "search", "research"):
            root = client.start_trace(name, experiment_id=exp)
            client.end_trace(root.trace_id)

        def names(flt: str) -> list[str]:
            got = client.search_traces([exp], flt, order_by=["name"], include_spans=False)
            return [t.info.tags["mlflow.traceName"] for t in got]

        assert names("name RLIKE '^s'") == ["search"]
        assert names("name RLIKE 'ea.c'") == ["Search", "research", "search"]
        with pytest.raises(TrackyardError) as excinfo:
            client.search_traces([exp], "name RLIKE '(a'")
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    finally:
        store.close()
