"""The background trace exporter: batches, flush, failures, exit, and import weight."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import trackyard
from trackyard import MlflowClient
from trackyard.tracing import _export

pytest.importorskip("trackyard_memory", reason="the contrib memory store keeps the traces")


@pytest.fixture(autouse=True)
def memory_uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from trackyard_memory import fresh_uri, reset

    from trackyard.plugins import manager

    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
    manager.reset_plugin_manager()
    uri = fresh_uri("export")
    trackyard.set_tracking_uri(uri)
    yield uri
    trackyard.flush_trace_async_logging()
    reset(uri)


@trackyard.trace
def _leaf(i: int) -> int:
    return i


@trackyard.trace
def _request(n: int) -> int:
    return sum(_leaf(i) for i in range(n))


def test_many_traces_are_written_after_flush() -> None:
    for _ in range(300):
        _request(3)
    assert trackyard.tracing.flush(timeout=60)
    assert _export.exporter.pending == 0
    client = MlflowClient()
    page = client.search_traces(["0"], max_results=1000, include_spans=False)
    assert len(page) == 300
    one = client.get_trace(page[0].info.trace_id)
    assert sorted(s.name for s in one.data.spans) == ["_leaf", "_leaf", "_leaf", "_request"]


def test_a_failing_export_is_logged_on_the_export_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @trackyard.trace(trace_destination="4242")  # no such experiment
    def lost() -> str:
        return "still returns"

    with caplog.at_level(logging.WARNING, logger="trackyard.tracing"):
        assert lost() == "still returns"
        trackyard.flush_trace_async_logging()
    (record,) = [r for r in caplog.records if r.name == "trackyard.tracing"]
    assert record.threadName == "trackyard-trace-export"
    assert "could not be written" in record.getMessage() and record.exc_info is not None
    assert "4242" in record.getMessage()


def test_one_bad_trace_in_a_batch_loses_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    # Three finished traces of one experiment, written as one batch; the middle one is
    # broken (its spans name a trace that was never started), so the batch write fails and
    # the exporter retries trace by trace.
    with trackyard.start_span("first"):
        pass
    with trackyard.start_span("third"):
        pass
    with trackyard.start_span("second"):
        pass
    trackyard.flush_trace_async_logging()
    client = MlflowClient()
    stored = {t.info.tags["mlflow.traceName"]: t for t in client.search_traces(["0"])}
    client.delete_traces("0", trace_ids=[t.info.trace_id for t in stored.values()])
    good1, good3, bad = stored["first"], stored["third"], stored["second"]
    bad.data.spans[0].trace_id = "tr-" + "f" * 32  # spans of an unknown trace
    uri = trackyard.get_tracking_uri()
    batch = [(uri, t.info, t.data.spans) for t in (good1, bad, good3)]
    with caplog.at_level(logging.WARNING, logger="trackyard.tracing"):
        _export.exporter.write_batch(batch)  # never raises
    written = {t.info.tags["mlflow.traceName"]: t for t in client.search_traces(["0"])}
    assert [s.name for s in written["first"].data.spans] == ["first"]
    assert [s.name for s in written["third"].data.spans] == ["third"]
    assert written.get("second") is None or written["second"].data.spans == []
    assert [r.getMessage().split()[1] for r in caplog.records] == [bad.info.trace_id]


def test_synchronous_export_when_async_logging_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    submitted = _export.exporter._submitted
    with trackyard.start_span("now"):
        pass
    assert _export.exporter._submitted == submitted  # never queued
    store_traces = MlflowClient().search_traces(["0"])  # (search also flushes; nothing queued)
    assert [t.info.tags["mlflow.traceName"] for t in store_traces] == ["now"]


def _run(code: str) -> list[str]:
    env_code = textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", env_code],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in __import__("os").environ.items() if not k.startswith("MLFLOW_")},
            "TRACKYARD_PLUGINS": "trackyard,trackyard-memory",
        },
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_traces_are_flushed_at_interpreter_exit() -> None:
    # An atexit handler registered before trackyard's runs after it (atexit is LIFO), so it
    # sees what the exporter wrote during shutdown.
    out = _run(
        """
        import atexit

        def report():
            from trackyard import MlflowClient
            traces = MlflowClient("memory://at-exit").search_traces(["0"], max_results=500)
            print("written", len(traces))

        atexit.register(report)
        import trackyard
        trackyard.set_tracking_uri("memory://at-exit")

        @trackyard.trace
        def f(i):
            return i

        for i in range(50):
            f(i)
        print("done")
        """
    )
    assert out == ["done", "written 50"]


def test_import_and_decorating_stay_light() -> None:
    heavy = ("sqlalchemy", "duckdb", "fsspec", "pandas", "numpy", "pydantic", "yaml", "click")
    out = _run(
        f"""
        import json, sys
        import trackyard
        print(json.dumps("trackyard.tracing" in sys.modules))
        trackyard.set_tracking_uri("memory://light")

        @trackyard.trace
        def f(x):
            return x

        with trackyard.start_span("s"):
            f(1)
        trackyard.flush_trace_async_logging()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
        print(json.dumps(loaded + [m for m in sys.modules if m.startswith("opentelemetry")]))
        """
    )
    assert json.loads(out[0]) is False  # import trackyard does not load the tracing package
    assert json.loads(out[1]) == []


def test_a_full_queue_drops_traces_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    from trackyard.backends import get_tracking_store

    for name in ("t1", "t2", "t3", "t4"):
        with trackyard.start_span(name):
            pass
    trackyard.flush_trace_async_logging()
    client = MlflowClient()
    made = {t.info.tags["mlflow.traceName"]: t for t in client.search_traces(["0"])}
    client.delete_traces("0", trace_ids=[t.info.trace_id for t in made.values()])
    uri = trackyard.get_tracking_uri()

    monkeypatch.setenv("MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE", "2")
    exporter = _export.TraceExporter()
    store = get_tracking_store(uri)
    with caplog.at_level(logging.WARNING, logger="trackyard.tracing"):
        with store._lock:  # type: ignore[attr-defined] # the store is busy: writes wait
            exporter.submit(uri, made["t1"].info, made["t1"].data.spans)
            deadline = time.monotonic() + 10
            while exporter._queue and time.monotonic() < deadline:  # the worker took t1
                time.sleep(0.001)
            for name in ("t2", "t3", "t4"):
                exporter.submit(uri, made[name].info, made[name].data.spans)
        assert exporter.flush(timeout=30)
    assert exporter.dropped == 1
    names = sorted(t.info.tags["mlflow.traceName"] for t in client.search_traces(["0"]))
    assert names == ["t1", "t2", "t3"]
    assert "export queue is full (2 traces)" in caplog.text


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_exports_its_own_traces() -> None:
    import os

    _request(2)  # the parent's export thread is running
    trackyard.flush_trace_async_logging()
    pid = os.fork()
    if pid == 0:  # the child: a fresh queue and worker, the parent's are not here
        code = 1
        try:
            with trackyard.start_span("in-child"):
                _leaf(1)
            ok = trackyard.tracing.flush(timeout=30)
            names = [t.info.tags["mlflow.traceName"] for t in MlflowClient().search_traces(["0"])]
            code = 0 if ok and sorted(names) == ["_request", "in-child"] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    names = [t.info.tags["mlflow.traceName"] for t in MlflowClient().search_traces(["0"])]
    assert names == ["_request"]  # the child's memory store was its own
