"""Code written for ``mlflow.trace`` / ``mlflow.start_span`` records the same spans here.

One scenario (decorated methods, classmethods, generators, async functions under
``asyncio.gather``, ``start_span`` blocks, exceptions) runs with ``lib = mlflow`` in MLflow
3.17.2 (the peer, on SQLite) and with ``lib = trackyard`` in this process (on the memory
store); the traces it leaves are summarized the same way and compared: span names, tree,
types, inputs, outputs, statuses, event names, exception details, user attributes, and each
trace's name, state and previews.

Needs ``TRACKYARD_TEST_MLFLOW_PYTHON`` (an interpreter with mlflow 3.17.2); skips otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow

pytestmark = [pytest.mark.compat, requires_mlflow]

SCENARIO = r"""
import asyncio


def scenario(lib):
    class Service:
        @lib.trace(span_type="TOOL", attributes={"unit": "cm"})
        def add(self, a, b=2, *rest, scale=1, **extra):
            return {"sum": (a + b + sum(rest)) * scale}

        @lib.trace
        @classmethod
        def make(cls, x):
            return x * 2

    @lib.trace(name="renamed", span_type="RETRIEVER")
    def retrieve(q, k=2):
        return [q] * k

    @lib.trace
    def stream(n):
        for i in range(n):
            yield {"i": i}

    @lib.trace(output_reducer=lambda items: "".join(items))
    def words():
        yield "a"
        yield "b"

    @lib.trace
    async def leaf(i):
        await asyncio.sleep(0)
        return i * 10

    @lib.trace
    async def fan(n):
        return list(await asyncio.gather(*(leaf(i) for i in range(n))))

    @lib.trace
    def fails(x):
        raise ValueError(f"bad {x}")

    @lib.trace(span_type="CHAIN")
    def main(q):
        Service().add(1, 5, 7, z=9)
        Service.make(3)
        retrieve(q)
        list(stream(2))
        list(words())
        with lib.start_span("manual", span_type="LLM", attributes={"m": 1}) as span:
            span.set_inputs({"q": q})
            span.set_attribute("k", [1, 2])
            span.set_outputs("x")
        try:
            fails(1)
        except ValueError:
            pass
        return "done"

    main("q")
    asyncio.run(fan(2))
    try:
        fails(2)
    except ValueError:
        pass
    try:
        with lib.start_span("block") as span:
            span.set_inputs([1])
            raise KeyError("k")
    except KeyError:
        pass
    lib.flush_trace_async_logging()


def summarize(traces):
    out = []
    for trace in sorted(traces, key=lambda t: min(s.start_time_ns for s in t.data.spans)):
        spans = sorted(trace.data.spans, key=lambda s: s.start_time_ns)
        names = {s.span_id: s.name for s in spans}
        rows = []
        for s in spans:
            exception = {
                k: v
                for e in s.events
                if e.name == "exception"
                for k, v in e.attributes.items()
                if k in ("exception.type", "exception.message")
            }
            rows.append({
                "name": s.name,
                "parent": names.get(s.parent_id),
                "type": s.span_type,
                "inputs": s.inputs,
                "outputs": s.outputs,
                "status": str(getattr(s.status.status_code, "value", s.status.status_code)),
                "message": s.status.description,
                "events": [e.name for e in s.events],
                "exception": exception,
                "user_attributes": {
                    k: v for k, v in s.attributes.items() if not k.startswith("mlflow.")
                },
            })
        info = trace.info
        out.append({
            "name": info.tags.get("mlflow.traceName"),
            "state": str(getattr(info.state, "value", info.state)),
            "request_preview": info.request_preview,
            "response_preview": info.response_preview,
            "spans": rows,
        })
    return out
"""


def _trackyard_summary(monkeypatch: pytest.MonkeyPatch) -> Any:
    pytest.importorskip("trackyard_memory", reason="the contrib memory store keeps the traces")
    from trackyard_memory import fresh_uri, reset

    import trackyard
    from trackyard.plugins import manager

    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
    manager.reset_plugin_manager()
    uri = fresh_uri("decorator-compat")
    trackyard.set_tracking_uri(uri)
    namespace: dict[str, Any] = {}
    exec(compile(SCENARIO, "scenario", "exec"), namespace)
    try:
        namespace["scenario"](trackyard)
        traces = trackyard.MlflowClient().search_traces(["0"])
        return namespace["summarize"](traces)
    finally:
        reset(uri)


def test_the_same_code_records_the_same_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _trackyard_summary(monkeypatch)
    theirs = run_mlflow(
        SCENARIO
        + """
import mlflow

mlflow.set_tracking_uri("sqlite:///peer.db")
scenario(mlflow)
emit(summarize(mlflow.MlflowClient().search_traces(locations=["0"])))
"""
    )
    assert [t["name"] for t in ours] == [t["name"] for t in theirs]
    for mine, peer in zip(ours, theirs, strict=True):
        assert mine == peer, mine["name"]
