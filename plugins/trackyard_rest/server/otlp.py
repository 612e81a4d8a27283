"""``POST /v1/traces``: OTLP/HTTP span ingest, as MLflow's server has it.

The body is a protobuf ``ExportTraceServiceRequest`` (:mod:`trackyard_rest.otlp`); the
header ``x-mlflow-experiment-id`` names the experiment. MLflow's client sends each span as it
ends and the trace's info (``POST /api/3.0/mlflow/traces``) once the root span ends, so
spans usually arrive before their trace exists: the route then records a provisional info
built from the spans (start, state, name), which the info sent later replaces.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard import validation
from trackyard.entities.trace import (
    Span,
    SpanStatusCode,
    TraceInfo,
    TraceLocation,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import TrackingStore
from trackyard_rest.otlp import CONTENT_TYPE, EXPERIMENT_HEADER, OTLP_TRACES_PATH, decode_spans
from trackyard_rest.server.traces import SPANS_IN_STORE, traces_backend

__all__ = ["PREFIXES", "router"]

#: Served at the root, as OTLP collectors are.
PREFIXES = ("",)

router = APIRouter(tags=["traces"])


def provisional_info(trace_id: str, experiment_id: str, spans: list[Span]) -> TraceInfo:
    """The info of a trace known only from some of its spans."""
    start_ns = min(s.start_time_ns for s in spans)
    root = next((s for s in spans if s.parent_id is None), None)
    state = TraceState.IN_PROGRESS
    duration = None
    if root is not None and root.end_time_ns is not None:
        failed = root.status.status_code is SpanStatusCode.ERROR
        state = TraceState.ERROR if failed else TraceState.OK
        duration = (root.end_time_ns - start_ns) // 1_000_000
    tags = {TraceTagKey.SPANS_LOCATION: SPANS_IN_STORE}
    if root is not None:
        tags[TraceTagKey.TRACE_NAME] = root.name
    return TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation(experiment_id),
        request_time=start_ns // 1_000_000,
        state=state,
        execution_duration=duration,
        trace_metadata={TraceMetadataKey.SCHEMA_VERSION: "3"},
        tags=tags,
    )


def _ensure_traces(store: TrackingStore, experiment_id: str, spans: list[Span]) -> None:
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    for trace_id, own in by_trace.items():
        try:
            info = store.get_trace_info(trace_id)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
            store.start_trace(provisional_info(trace_id, experiment_id, own))
            continue
        if info.experiment_id != experiment_id:
            raise TrackyardError.invalid_parameter_value(
                f"Trace {trace_id!r} belongs to experiment {info.experiment_id!r}, "
                f"not {experiment_id!r}."
            )
        if info.state == TraceState.IN_PROGRESS:  # provisional: the spans tell more now
            seen = provisional_info(trace_id, experiment_id, own)
            if seen.state != TraceState.IN_PROGRESS:
                store.start_trace(
                    dataclasses.replace(
                        info,
                        request_time=min(info.request_time, seen.request_time),
                        state=seen.state,
                        execution_duration=seen.execution_duration,
                        tags={**info.tags, **seen.tags},
                        assessments=[],
                    )
                )


@router.post(OTLP_TRACES_PATH)
async def export_traces(request: HttpRequest) -> Response:
    """Store the spans of an OTLP export → an empty ``ExportTraceServiceResponse``."""
    from starlette.concurrency import run_in_threadpool

    experiment_id = request.headers.get(EXPERIMENT_HEADER)
    if not experiment_id:
        raise TrackyardError.invalid_parameter_value(
            f"Missing header '{EXPERIMENT_HEADER}': it names the experiment of the spans."
        )
    experiment_id = validation.validate_experiment_id(experiment_id)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind != CONTENT_TYPE:
        raise TrackyardError.invalid_parameter_value(
            f"Unsupported content type {kind!r}: send {CONTENT_TYPE} (OTLP/HTTP protobuf)."
        )
    spans = decode_spans(await request.body())
    if spans:
        store = traces_backend(request).tracking

        def write() -> None:
            _ensure_traces(store, experiment_id, spans)
            store.log_spans(experiment_id, spans)

        await run_in_threadpool(write)
    return Response(b"", media_type=CONTENT_TYPE)
