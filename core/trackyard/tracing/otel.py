"""An OpenTelemetry ``SpanExporter`` that writes OTel spans into any trackyard store.

Needs the ``trackyard[otel]`` extra (``opentelemetry-sdk``)::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from trackyard.tracing.otel import TrackyardSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(TrackyardSpanExporter("sqlite:///t.db")))
    trace.set_tracer_provider(provider)

OTel delivers spans as they end, a trace's spans possibly over several ``export`` calls.
The exporter keeps a trace's spans until its root span (no parent, or a parent in another
process) arrives, then writes the trace as MLflow does: its info (``store.start_trace``),
then its spans (``store.log_spans``). A span arriving after its trace was written is added
to it. At ``shutdown`` traces still without a root are written with their earliest span as
the root.

Conversion: ids become ``tr-`` + 32 hex and 16 hex; attribute values are JSON-encoded as
MLflow stores them (``mlflow.*`` string values that already are JSON are kept as they are);
OpenInference's ``input.value`` / ``output.value`` become the span's inputs and outputs; the
span type is ``mlflow.spanType`` if set, else derived from ``openinference.span.kind`` or
``gen_ai.operation.name``, else ``UNKNOWN``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from trackyard._tracing_live import trace_info_for
from trackyard.entities.trace import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    encode_attribute,
)

__all__ = ["TrackyardSpanExporter", "convert_span"]

_log = logging.getLogger("trackyard.tracing")

#: How many written trace ids are remembered, so that late spans join their trace.
_REMEMBERED_TRACES = 10_000

_OPENINFERENCE_KINDS = {
    "LLM": SpanType.LLM,
    "CHAIN": SpanType.CHAIN,
    "AGENT": SpanType.AGENT,
    "TOOL": SpanType.TOOL,
    "RETRIEVER": SpanType.RETRIEVER,
    "EMBEDDING": SpanType.EMBEDDING,
    "RERANKER": SpanType.RERANKER,
    "GUARDRAIL": SpanType.GUARDRAIL,
    "EVALUATOR": SpanType.EVALUATOR,
}
_GEN_AI_OPERATIONS = {
    "chat": SpanType.CHAT_MODEL,
    "text_completion": SpanType.LLM,
    "generate_content": SpanType.LLM,
    "embeddings": SpanType.EMBEDDING,
    "execute_tool": SpanType.TOOL,
    "invoke_agent": SpanType.AGENT,
    "create_agent": SpanType.AGENT,
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _encoded_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in attributes.items():
        if key.startswith("mlflow.") and isinstance(value, str) and _is_json(value):
            out[key] = value  # written by MLflow-style instrumentation: already encoded
        elif key in ("input.value", "output.value") and isinstance(value, str):
            out[key] = encode_attribute(value)
            target = SpanAttributeKey.INPUTS if key == "input.value" else SpanAttributeKey.OUTPUTS
            out.setdefault(target, value if _is_json(value) else encode_attribute(value))
        else:
            out[key] = encode_attribute(_plain(value))
    return out


def _span_type(attributes: Mapping[str, Any]) -> str:
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[kind.upper()]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GEN_AI_OPERATIONS:
        return _GEN_AI_OPERATIONS[operation]
    return SpanType.UNKNOWN


def convert_span(span: ReadableSpan) -> Span:
    """A trackyard :class:`~trackyard.entities.trace.Span` with ``span``'s data."""
    context = span.context
    if context is None:
        raise ValueError(f"OTel span {span.name!r} has no span context")
    trace_id = f"tr-{context.trace_id:032x}"
    parent = span.parent
    parent_id = None if parent is None or parent.is_remote else f"{parent.span_id:016x}"
    source = dict(span.attributes or {})
    attributes = _encoded_attributes(source)
    attributes[SpanAttributeKey.REQUEST_ID] = encode_attribute(trace_id)
    attributes.setdefault(SpanAttributeKey.SPAN_TYPE, encode_attribute(_span_type(source)))
    code = span.status.status_code.name  # UNSET, OK, ERROR
    start = span.start_time or 0
    return Span(
        trace_id=trace_id,
        span_id=f"{context.span_id:016x}",
        parent_id=parent_id,
        name=span.name,
        start_time_ns=start,
        end_time_ns=span.end_time if span.end_time is not None else start,
        status=SpanStatus(SpanStatusCode(code), span.status.description or ""),
        attributes=attributes,
        events=[
            SpanEvent(e.name, e.timestamp, {k: _plain(v) for k, v in (e.attributes or {}).items()})
            for e in span.events
        ],
    )


class TrackyardSpanExporter(SpanExporter):
    """Write OTel spans into the trackyard store of ``tracking_uri``, as MLflow traces.

    Args:
        tracking_uri: the store; default: the tracking URI in effect at each export.
        experiment_id: the experiment of the traces; default ``MLFLOW_EXPERIMENT_ID``, else
            ``"0"``.
    """

    def __init__(self, tracking_uri: str | None = None, experiment_id: str | None = None) -> None:
        from trackyard import validation

        self._uri = tracking_uri
        self._experiment_id = (
            None if experiment_id is None else validation.validate_experiment_id(experiment_id)
        )
        self._pending: dict[str, list[Span]] = {}
        self._written: OrderedDict[str, str] = OrderedDict()  # trace id -> experiment id
        self._lock = threading.Lock()
        self._closed = False

    def _store(self) -> Any:
        from trackyard.backends import get_tracking_store
        from trackyard.config import get_tracking_uri

        store = get_tracking_store(self._uri or get_tracking_uri())
        if not store.capabilities.traces:
            from trackyard.stores import unsupported

            raise unsupported(store, "traces")
        return store

    def _experiment(self) -> str:
        if self._experiment_id is not None:
            return self._experiment_id
        from trackyard._tracing_client import default_experiment_id

        return default_experiment_id()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Convert ``spans``; write every trace whose root span has arrived."""
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            with self._lock:
                self._export(spans)
        except Exception:
            _log.warning("Exporting %d OTel spans to trackyard failed.", len(spans), exc_info=True)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _export(self, otel_spans: Sequence[ReadableSpan]) -> None:
        converted = [convert_span(s) for s in otel_spans]
        late: dict[str, list[Span]] = {}
        complete: list[tuple[Span, list[Span]]] = []
        for span in converted:
            experiment = self._written.get(span.trace_id)
            if experiment is not None:
                late.setdefault(experiment, []).append(span)
                continue
            self._pending.setdefault(span.trace_id, []).append(span)
            if span.parent_id is None:
                complete.append((span, self._pending.pop(span.trace_id)))
        if not late and not complete:
            return
        store = self._store()
        for experiment, spans in late.items():
            store.log_spans(experiment, spans)
        for root, spans in complete:
            self._write(store, root, spans)

    def _write(self, store: Any, root: Span, spans: list[Span]) -> None:
        experiment = self._experiment()
        info = trace_info_for(root.trace_id, experiment, root, {}, {})
        store.start_trace(info)
        store.log_spans(experiment, spans)
        self._written[root.trace_id] = experiment
        while len(self._written) > _REMEMBERED_TRACES:
            self._written.popitem(last=False)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered but traces still waiting for their root span: True."""
        return True

    def shutdown(self) -> None:
        """Write the traces still waiting for their root span, then refuse further spans."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                store = self._store()
                for spans in pending.values():
                    ids = {s.span_id for s in spans}
                    orphans = [s for s in spans if s.parent_id not in ids]
                    root = min(orphans or spans, key=lambda s: s.start_time_ns)
                    self._write(store, root, spans)
            except Exception:
                _log.warning("Writing unfinished OTel traces failed.", exc_info=True)
