"""Traces in progress in this process, and how a finished one is written.

A trace is held here from its start until its root span ends; then its info is computed
(state, duration, previews, metadata) and it is written to its store in two calls, as MLflow
exports: ``store.start_trace(info)`` then ``store.log_spans(experiment_id, spans)``.
The table is process-wide, so any client (or the ``@trackyard.trace`` decorator) can add
spans to a trace another started.
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trackyard.entities.trace import (
    METADATA_MAX_LENGTH,
    LiveSpan,
    Span,
    SpanAttributeKey,
    SpanStatus,
    SpanStatusCode,
    TraceInfo,
    TraceLocation,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
    encode_attribute,
    new_span_id,
    new_trace_id,
    truncate_preview,
)
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

__all__ = ["LiveTrace", "LiveTraces", "live_traces", "new_live_span", "trace_info_for"]

_OPEN_AT_END = "The span was still open when its trace ended."
_OK = SpanStatus(SpanStatusCode.OK)
_user: str | None = None


def _current_user() -> str:
    global _user
    if _user is None:
        try:
            _user = getpass.getuser()
        except Exception:
            _user = "unknown"
    return _user


class LiveTrace:
    """One trace in progress: its spans, tags and metadata until it ends."""

    __slots__ = (
        "experiment_id",
        "lock",
        "metadata",
        "on_end",
        "overrides",
        "root",
        "spans",
        "store",
        "tags",
        "trace_id",
        "tracking_uri",
    )

    def __init__(
        self,
        store: TrackingStore | None,
        experiment_id: str,
        trace_id: str,
        tags: dict[str, str],
        metadata: dict[str, str],
        tracking_uri: str | None = None,
    ) -> None:
        #: None for traces of the fluent API: they are written off-thread to ``tracking_uri``.
        self.store = store
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.trace_id = trace_id
        self.tags = tags
        self.metadata = metadata
        #: TraceInfo fields set by ``update_current_trace`` (client_request_id, previews, state).
        self.overrides: dict[str, str] = {}
        self.spans: dict[str, LiveSpan] = {}
        self.lock = threading.Lock()
        self.root: LiveSpan = None  # type: ignore[assignment] # set by LiveTraces.start
        self.on_end = _end_callback(self)  # what LiveSpan.end() of this trace's spans calls

    def set_tag(self, key: str, value: str) -> None:
        with self.lock:
            self.tags[key] = value

    def delete_tag(self, key: str) -> None:
        with self.lock:
            if key not in self.tags:
                raise TrackyardError(
                    f"Tag with key {key} not found in trace with ID {self.trace_id}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            del self.tags[key]

    def _open_span(self, span_id: str) -> LiveSpan:
        span = self.spans.get(span_id)
        if span is None:
            raise TrackyardError(
                f"Span with ID {span_id!r} not found in trace {self.trace_id!r}.",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        if span.end_time_ns is not None:
            raise TrackyardError(
                f"Span {span_id!r} of trace {self.trace_id!r} has already ended.",
                ErrorCode.INVALID_STATE,
            )
        return span

    @staticmethod
    def _close(
        span: LiveSpan,
        outputs: Any,
        attributes: Mapping[str, Any] | None,
        status: SpanStatus | None,
        end_time_ns: int | None,
    ) -> None:
        end = time.time_ns() if end_time_ns is None else end_time_ns
        if end < span.start_time_ns:
            raise TrackyardError.invalid_parameter_value(
                f"end_time_ns {end} is before the span's start {span.start_time_ns}"
            )
        encoded = {k: encode_attribute(v) for k, v in (attributes or {}).items()}
        if outputs is not None:
            encoded[SpanAttributeKey.OUTPUTS] = encode_attribute(outputs)
        span._attributes.update(encoded)
        if status is not None:
            span.status = status
        elif span.status.status_code is SpanStatusCode.UNSET:
            span.status = _OK
        span.end_time_ns = end

    def end_span(
        self,
        span_id: str,
        outputs: Any,
        attributes: Mapping[str, Any] | None,
        status: SpanStatus | None,
        end_time_ns: int | None,
    ) -> None:
        """End one open span (not the root)."""
        with self.lock:
            self._close(self._open_span(span_id), outputs, attributes, status, end_time_ns)

    def finish(
        self,
        outputs: Any,
        attributes: Mapping[str, Any] | None,
        status: SpanStatus | None,
        end_time_ns: int | None,
    ) -> tuple[TraceInfo, list[Span]]:
        """End the root span (and any span still open, with ERROR); return what to write."""
        with self.lock:
            root = self._open_span(self.root.span_id)
            end = time.time_ns() if end_time_ns is None else end_time_ns
            self._close(root, outputs, attributes, status, end)
            live_traces.discard(self.trace_id)
            for span in self.spans.values():
                if span.end_time_ns is None:
                    span.status = SpanStatus(SpanStatusCode.ERROR, _OPEN_AT_END)
                    span.end_time_ns = max(end, span.start_time_ns)
            spans: list[Span] = list(self.spans.values())
            info = trace_info_for(self.trace_id, self.experiment_id, root, self.tags, self.metadata)
            for key, value in self.overrides.items():
                setattr(info, key, value)
            return info, spans

    def export(self, info: TraceInfo, spans: list[Span]) -> None:
        """Write the finished trace to its store (queue it, for a trace of the fluent API)."""
        live_traces.note_ended(self.trace_id)
        if self.store is None:
            from trackyard.tracing._export import submit

            submit(self.tracking_uri, info, spans)
            return
        self.store.start_trace(info)
        self.store.log_spans(self.experiment_id, spans)


def trace_info_for(
    trace_id: str,
    experiment_id: str,
    root: Span,
    tags: Mapping[str, str],
    metadata: Mapping[str, str],
) -> TraceInfo:
    """The info of a finished trace whose root span is ``root`` (state, previews, metadata)."""
    raw = root.raw_attributes
    inputs = raw.get(SpanAttributeKey.INPUTS)
    outputs = raw.get(SpanAttributeKey.OUTPUTS)
    meta = {
        TraceMetadataKey.SCHEMA_VERSION: "3",
        TraceMetadataKey.USER: _current_user(),
        **metadata,
    }
    if inputs is not None:
        meta[TraceMetadataKey.INPUTS] = str(truncate_preview(inputs, METADATA_MAX_LENGTH))
    if outputs is not None:
        meta[TraceMetadataKey.OUTPUTS] = str(truncate_preview(outputs, METADATA_MAX_LENGTH))
    all_tags = {TraceTagKey.TRACE_NAME: root.name, **tags}
    end_ns = root.end_time_ns if root.end_time_ns is not None else root.start_time_ns
    start_ms = root.start_time_ns // 1_000_000
    state = TraceState.ERROR if root.status.status_code is SpanStatusCode.ERROR else TraceState.OK
    return TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation(experiment_id),
        request_time=start_ms,
        state=state,
        request_preview=truncate_preview(inputs),
        response_preview=truncate_preview(outputs),
        execution_duration=end_ns // 1_000_000 - start_ms,
        trace_metadata=meta,
        tags=all_tags,
    )


def _end_callback(live: LiveTrace) -> Callable[..., None]:
    def end(
        span: LiveSpan,
        outputs: Any,
        attributes: Mapping[str, Any] | None,
        status: SpanStatus | str | None,
        end_time_ns: int | None,
    ) -> None:
        st = None if status is None else SpanStatus.of(status)
        if span is live.root:
            info, spans = live.finish(outputs, attributes, st, end_time_ns)
            live.export(info, spans)
        else:
            live.end_span(span.span_id, outputs, attributes, st, end_time_ns)

    return end


def _span_attributes(
    trace_id: str,
    span_type: str,
    inputs: Any,
    attributes: Mapping[str, Any],
    encoded: Mapping[str, str] | None,
) -> dict[str, str]:
    raw = {
        SpanAttributeKey.REQUEST_ID: encode_attribute(trace_id),
        SpanAttributeKey.SPAN_TYPE: encode_attribute(span_type),
    }
    if inputs is not None:
        raw[SpanAttributeKey.INPUTS] = encode_attribute(inputs)
    for key, value in attributes.items():
        raw[key] = encode_attribute(value)
    if encoded:
        raw.update(encoded)
    return raw


def new_live_span(
    live: LiveTrace,
    name: str,
    parent_id: str,
    span_type: str,
    inputs: Any,
    attributes: Mapping[str, Any],
    start_time_ns: int | None,
    encoded: Mapping[str, str] | None = None,
) -> LiveSpan:
    """Start a span under ``parent_id`` in ``live`` and return it.

    ``encoded`` are attributes already JSON-encoded (the decorator encodes its once).
    """
    raw = _span_attributes(live.trace_id, span_type, inputs, attributes, encoded)
    with live.lock:
        if parent_id not in live.spans:
            raise TrackyardError(
                f"Parent span with ID {parent_id!r} not found in trace {live.trace_id!r}.",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        if live_traces.get(live.trace_id) is None:
            raise TrackyardError(
                f"Trace {live.trace_id!r} has already ended.", ErrorCode.INVALID_STATE
            )
        span = LiveSpan(
            live.trace_id,
            new_span_id(),
            parent_id,
            name,
            time.time_ns() if start_time_ns is None else start_time_ns,
            attributes=raw,
        )
        span._on_end = live.on_end
        live.spans[span.span_id] = span
    return span


class LiveTraces:
    """The process-wide table of traces in progress."""

    def __init__(self) -> None:
        self._traces: dict[str, LiveTrace] = {}
        self._lock = threading.Lock()
        self.exporter: Any = None  # set by trackyard's background exporter when it runs
        self.last_trace_id: str | None = None
        self._thread_last = threading.local()

    def note_ended(self, trace_id: str) -> None:
        """Remember the last trace that ended (process-wide and in this thread)."""
        self.last_trace_id = trace_id
        self._thread_last.trace_id = trace_id

    def thread_last_trace_id(self) -> str | None:
        """The last trace that ended in this thread."""
        return getattr(self._thread_last, "trace_id", None)

    def start(
        self,
        store: TrackingStore | None,
        experiment_id: str,
        name: str,
        span_type: str,
        inputs: Any,
        attributes: Mapping[str, Any],
        tags: dict[str, str],
        metadata: dict[str, str],
        start_time_ns: int | None,
        tracking_uri: str | None = None,
        encoded: Mapping[str, str] | None = None,
    ) -> LiveTrace:
        """Start a trace and its root span.

        With ``store=None`` the finished trace is queued for the background exporter, which
        writes it to the store of ``tracking_uri``.
        """
        trace_id = new_trace_id()
        live = LiveTrace(store, experiment_id, trace_id, tags, metadata, tracking_uri)
        raw = _span_attributes(trace_id, span_type, inputs, attributes, encoded)
        raw[SpanAttributeKey.EXPERIMENT_ID] = encode_attribute(experiment_id)
        root = LiveSpan(
            trace_id,
            new_span_id(),
            None,
            name,
            time.time_ns() if start_time_ns is None else start_time_ns,
            attributes=raw,
        )
        root._on_end = live.on_end
        live.root = root
        live.spans[root.span_id] = root
        with self._lock:
            self._traces[trace_id] = live
        return live

    def get(self, trace_id: str) -> LiveTrace | None:
        return self._traces.get(trace_id)

    def discard(self, trace_id: str) -> None:
        with self._lock:
            self._traces.pop(trace_id, None)

    def flush(self) -> None:
        """Wait until traces handed to the background exporter are written."""
        exporter = self.exporter
        if exporter is not None:
            exporter.flush()


live_traces = LiveTraces()
