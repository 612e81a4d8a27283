"""The OpenTelemetry exporter with the real ``opentelemetry-sdk``, into the memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the trackyard[otel] extra is not installed")
pytest.importorskip("trackyard_memory", reason="the contrib memory store keeps the traces")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from trackyard import MlflowClient
from trackyard.entities.trace import Trace
from trackyard.tracing.otel import TrackyardSpanExporter


@pytest.fixture
def uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from trackyard_memory import fresh_uri, reset

    from trackyard.plugins import manager

    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
    manager.reset_plugin_manager()
    name = fresh_uri("otel")
    yield name
    reset(name)


def _provider(exporter: TrackyardSpanExporter, batch: bool = False) -> TracerProvider:
    provider = TracerProvider()
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def _traces(uri: str, experiment: str = "0") -> list[Trace]:
    traces = MlflowClient(uri).search_traces([experiment])
    return sorted(traces, key=lambda t: min(s.start_time_ns for s in t.data.spans))


def test_an_otel_trace_becomes_a_trackyard_trace(uri: str) -> None:
    provider = _provider(TrackyardSpanExporter(uri))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle", attributes={"http.route": "/ask"}) as root:
        root.set_attribute("input.value", '{"q": "hi"}')
        with tracer.start_as_current_span(
            "chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 7}
        ) as llm:
            llm.add_event("token", {"index": 0, "ids": (1, 2)})
        with tracer.start_as_current_span(
            "lookup", attributes={"openinference.span.kind": "RETRIEVER"}
        ):
            pass
        root.set_attribute("output.value", "hello")
    provider.shutdown()

    (trace,) = _traces(uri)
    ctx = root.get_span_context()
    assert trace.info.trace_id == f"tr-{ctx.trace_id:032x}"
    assert trace.info.tags["mlflow.traceName"] == "handle"
    assert trace.info.state == "OK"
    assert trace.info.request_preview == '{"q": "hi"}'
    assert trace.info.response_preview == '"hello"'
    spans = {s.name: s for s in trace.data.spans}
    assert spans["handle"].span_id == f"{ctx.span_id:016x}" and spans["handle"].parent_id is None
    assert spans["chat"].parent_id == spans["lookup"].parent_id == spans["handle"].span_id
    assert spans["handle"].inputs == {"q": "hi"} and spans["handle"].outputs == "hello"
    assert spans["handle"].attributes["http.route"] == "/ask"
    assert spans["chat"].span_type == "CHAT_MODEL" and spans["lookup"].span_type == "RETRIEVER"
    assert spans["handle"].span_type == "UNKNOWN"
    assert spans["chat"].attributes["gen_ai.usage.input_tokens"] == 7
    assert spans["chat"].raw_attributes["gen_ai.usage.input_tokens"] == "7"
    (event,) = spans["chat"].events
    assert (event.name, event.attributes) == ("token", {"index": 0, "ids": [1, 2]})
    assert all(s.trace_id == trace.info.trace_id for s in trace.data.spans)
    found = MlflowClient(uri).search_traces(["0"], "span.type = 'CHAT_MODEL'")
    assert [t.info.trace_id for t in found] == [trace.info.trace_id]


def test_errors_and_batches_and_an_experiment(uri: str) -> None:
    client = MlflowClient(uri)
    exp = client.create_experiment("otel")
    provider = _provider(TrackyardSpanExporter(uri, experiment_id=exp), batch=True)
    tracer = provider.get_tracer("app")
    for i in range(20):
        with tracer.start_as_current_span(f"req-{i}"), tracer.start_as_current_span("step"):
            pass
    with pytest.raises(RuntimeError), tracer.start_as_current_span("fails"):
        raise RuntimeError("boom")
    with tracer.start_as_current_span("explicit") as span:
        span.set_status(Status(StatusCode.ERROR, "went wrong"))
    provider.force_flush()
    provider.shutdown()

    traces = {t.info.tags["mlflow.traceName"]: t for t in _traces(uri, exp)}
    assert len(traces) == 22 and _traces(uri) == []
    assert all(len(traces[f"req-{i}"].data.spans) == 2 for i in range(20))
    failed = traces["fails"]
    assert failed.info.state == "ERROR"
    root = failed.data.spans[0]
    assert root.status.status_code.value == "ERROR"
    assert "boom" in root.status.description
    assert root.events[0].name == "exception"
    assert root.events[0].attributes["exception.type"] == "RuntimeError"
    explicit = traces["explicit"].data.spans[0]
    assert (explicit.status.status_code.value, explicit.status.description) == (
        "ERROR",
        "went wrong",
    )


def test_late_and_remote_parent_spans(uri: str) -> None:
    exporter = TrackyardSpanExporter(uri)
    provider = _provider(exporter)
    tracer = provider.get_tracer("app")
    # A child that outlives its parent arrives after the trace was written.
    parent = tracer.start_span("parent")
    child = tracer.start_span("child", context=set_span_in_context(parent))
    parent.end()
    child.end()
    # A span whose parent lives in another process is the root of its trace here.
    remote = SpanContext(
        trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    with tracer.start_as_current_span(
        "server", context=set_span_in_context(NonRecordingSpan(remote))
    ):
        pass
    provider.shutdown()

    late, served = _traces(uri)
    assert sorted(s.name for s in late.data.spans) == ["child", "parent"]
    assert served.info.trace_id == f"tr-{0xABC:032x}"
    assert served.data.spans[0].parent_id is None


def test_unfinished_traces_are_written_at_shutdown(uri: str) -> None:
    exporter = TrackyardSpanExporter(uri)
    provider = _provider(exporter)
    tracer = provider.get_tracer("app")
    root = tracer.start_span("never-ends")
    child = tracer.start_span("done-child", context=set_span_in_context(root))
    child.end()
    assert _traces(uri) == []  # waiting for the root span
    provider.shutdown()
    (trace,) = _traces(uri)
    assert [s.name for s in trace.data.spans] == ["done-child"]
    assert trace.info.tags["mlflow.traceName"] == "done-child"


def test_mlflow_style_attributes_are_kept_and_failures_reported(
    uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = TrackyardSpanExporter(uri)
    provider = _provider(exporter)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span(
        "typed", attributes={"mlflow.spanType": '"AGENT"', "mlflow.spanInputs": '{"a": 1}'}
    ):
        pass
    (trace,) = _traces(uri)
    span = trace.data.spans[0]
    assert span.span_type == "AGENT" and span.inputs == {"a": 1}

    broken = TrackyardSpanExporter(uri, experiment_id="999")  # no such experiment
    provider2 = _provider(broken)
    with provider2.get_tracer("app").start_as_current_span("lost"):
        pass  # the processor reports the failure; the traced code is not disturbed
    assert "Exporting 1 OTel spans to trackyard failed" in caplog.text
    provider2.shutdown()
    provider.shutdown()


def test_asyncio_tasks_nest_through_otel_context(uri: str) -> None:
    provider = _provider(TrackyardSpanExporter(uri))
    tracer = provider.get_tracer("app")

    async def leaf(i: int) -> None:
        with tracer.start_as_current_span(f"leaf-{i}"):
            await asyncio.sleep(0)

    async def main() -> None:
        with tracer.start_as_current_span("root"):
            await asyncio.gather(*(leaf(i) for i in range(3)))

    asyncio.run(main())
    provider.shutdown()
    (trace,) = _traces(uri)
    spans: dict[str, Any] = {s.name: s for s in trace.data.spans}
    assert all(spans[f"leaf-{i}"].parent_id == spans["root"].span_id for i in range(3))
