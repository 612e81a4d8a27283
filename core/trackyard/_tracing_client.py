"""``MlflowClient``'s tracing methods: traces, spans, trace tags, search and assessments.

Open traces live in this process (:mod:`trackyard._tracing_live`), as in MLflow: the store
sees a trace once, complete, when it ends (``start_trace`` with its info, then ``log_spans``).
Every argument is checked before anything is recorded or written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trackyard import validation
from trackyard._tracing_live import LiveTrace, live_traces, new_live_span
from trackyard.entities import PagedList
from trackyard.entities.trace import (
    LiveSpan,
    SpanStatus,
    SpanType,
    Trace,
    TraceMetadataKey,
)
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities.trace_assessment import Assessment
    from trackyard.stores import TrackingStore

__all__ = ["TracingClientMixin", "default_experiment_id"]


def default_experiment_id() -> str:
    """The experiment of traces started without one: ``MLFLOW_EXPERIMENT_ID``, else "0"."""
    return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"


def _trace_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise TrackyardError.invalid_parameter_value(f"Trace tags must be a dict, got {tags!r}")
    return dict(validation.validate_trace_tag(k, v) for k, v in tags.items())


def _attributes(attributes: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping) or not all(isinstance(k, str) and k for k in attributes):
        raise TrackyardError.invalid_parameter_value(
            f"Span attributes must be a dict with non-empty string keys, got {attributes!r}"
        )
    return attributes


def _name(name: object, what: str = "span") -> str:
    if not isinstance(name, str) or not name:
        raise TrackyardError.invalid_parameter_value(
            f"A {what} name must be a non-empty string, got {name!r}"
        )
    return name


def _time_ns(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TrackyardError.invalid_parameter_value(
            f"{what} must be epoch nanoseconds (an int >= 0), got {value!r}"
        )
    return value


def _status(status: object) -> SpanStatus:
    return SpanStatus.of(status)  # type: ignore[arg-type]


class TracingClientMixin:
    """Tracing methods of :class:`trackyard.MlflowClient` (MLflow 3.17.2's signatures)."""

    if TYPE_CHECKING:

        @property
        def _tracking_store(self) -> TrackingStore: ...

    # -- helpers ---------------------------------------------------------------------------
    def _trace_store(self) -> TrackingStore:
        store = self._tracking_store
        if not store.capabilities.traces:
            from trackyard.stores import unsupported

            raise unsupported(store, "traces")
        return store

    def _assessment_store(self) -> TrackingStore:
        store = self._tracking_store
        if not store.capabilities.assessments:
            from trackyard.stores import unsupported

            raise unsupported(store, "assessments")
        return store

    def _live(self, trace_id: object) -> LiveTrace:
        trace_id = validation.validate_trace_id(trace_id)
        live = live_traces.get(trace_id)
        if live is not None:
            return live
        try:
            self._trace_store().get_trace_info(trace_id)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
            raise TrackyardError(
                f"Trace with ID {trace_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
            ) from None
        raise TrackyardError(
            f"Trace {trace_id!r} has already ended; spans can only be added to, and ended in, "
            "a trace that is in progress.",
            ErrorCode.INVALID_STATE,
        )

    # -- traces and spans ------------------------------------------------------------------
    def start_trace(
        self,
        name: str,
        span_type: str = SpanType.UNKNOWN,
        inputs: Any = None,
        attributes: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        experiment_id: str | None = None,
        start_time_ns: int | None = None,
        run_id: str | None = None,
        links: list[Any] | None = None,
    ) -> LiveSpan:
        """Start a trace and its root span; return the root span (a :class:`LiveSpan`).

        The trace stays in this process until :meth:`end_trace` writes it, complete, to the
        store. ``experiment_id`` defaults to ``MLFLOW_EXPERIMENT_ID``, else ``"0"``; it must
        be an active experiment. ``run_id`` is recorded as the metadata ``mlflow.sourceRun``.
        """
        store = self._trace_store()
        name = _name(name, "trace")
        span_type = _name(span_type, "span type")
        attrs = _attributes(attributes)
        tag_map = _trace_tags(tags)
        start = _time_ns(start_time_ns, "start_time_ns")
        eid = validation.validate_experiment_id(
            default_experiment_id() if experiment_id is None else experiment_id
        )
        metadata: dict[str, str] = {}
        if run_id is not None:
            metadata[TraceMetadataKey.SOURCE_RUN] = validation.validate_run_id(run_id)
        experiment = store.get_experiment(eid)
        if experiment.lifecycle_stage != "active":
            raise TrackyardError(
                f"Cannot start a trace in experiment {eid!r}: it is deleted.",
                ErrorCode.INVALID_STATE,
            )
        live = live_traces.start(
            store, eid, name, span_type, inputs, attrs, tag_map, metadata, start
        )
        return live.root

    def start_span(
        self,
        name: str,
        trace_id: str,
        parent_id: str,
        span_type: str = SpanType.UNKNOWN,
        inputs: Any = None,
        attributes: dict[str, Any] | None = None,
        start_time_ns: int | None = None,
        links: list[Any] | None = None,
    ) -> LiveSpan:
        """Start a span under ``parent_id`` in an in-progress trace and return it.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST for an unknown trace or a parent that is
                not a span of this trace; INVALID_STATE when the trace has ended.
        """
        name = _name(name)
        span_type = _name(span_type, "span type")
        attrs = _attributes(attributes)
        start = _time_ns(start_time_ns, "start_time_ns")
        parent_id = validation.validate_span_id(parent_id, "parent span")
        live = self._live(trace_id)
        return new_live_span(live, name, parent_id, span_type, inputs, attrs, start)

    def end_span(
        self,
        trace_id: str,
        span_id: str,
        outputs: Any = None,
        attributes: dict[str, Any] | None = None,
        status: SpanStatus | str = "OK",
        end_time_ns: int | None = None,
    ) -> None:
        """End an open span of an in-progress trace (ending the root span ends the trace).

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST for an unknown trace or span;
                INVALID_STATE when the span (or its trace) has already ended.
        """
        span_id = validation.validate_span_id(span_id)
        attrs = _attributes(attributes)
        span_status = _status(status)
        end = _time_ns(end_time_ns, "end_time_ns")
        live = self._live(trace_id)
        if span_id == live.root.span_id:
            self.end_trace(live.trace_id, outputs, attributes, span_status, end_time_ns)
            return
        live.end_span(span_id, outputs, attrs, span_status, end)

    def end_trace(
        self,
        trace_id: str,
        outputs: Any = None,
        attributes: dict[str, Any] | None = None,
        status: SpanStatus | str = "OK",
        end_time_ns: int | None = None,
    ) -> None:
        """End a trace's root span and write the trace to the store.

        Spans still open are ended first with status ERROR (they are kept). The trace's
        state is ERROR when the root span's status is ERROR, else OK.
        """
        attrs = _attributes(attributes)
        span_status = _status(status)
        end = _time_ns(end_time_ns, "end_time_ns")
        live = self._live(trace_id)
        info, spans = live.finish(outputs, attrs, span_status, end)
        live.export(info, spans)

    def get_trace(self, trace_id: str, display: bool = True, flush: bool = False) -> Trace:
        """Return a trace with its spans and assessments (RESOURCE_DOES_NOT_EXIST if absent)."""
        trace_id = validation.validate_trace_id(trace_id)
        live_traces.flush()
        return self._trace_store().get_trace(trace_id)

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
        run_id: str | None = None,
        include_spans: bool = True,
        model_id: str | None = None,
        locations: list[str] | None = None,
        flush: bool = False,
        *,
        sql_warehouse_id: str | None = None,
    ) -> PagedList[Trace]:
        """Return one page of traces matching ``filter_string`` (MLflow's trace grammar).

        ``experiment_ids`` (or ``locations``, MLflow's newer name) default to the default
        experiment; ``run_id`` and ``model_id`` add conditions on the metadata
        ``mlflow.sourceRun`` / ``mlflow.modelId``. Default order: newest first. With
        ``include_spans=False`` the traces carry no spans (faster). ``sql_warehouse_id`` (the
        client document's argument, for traces kept in a Databricks SQL warehouse) is
        accepted and ignored: no trackyard store keeps traces there.
        """
        del sql_warehouse_id
        from trackyard.search.ast import Comparison, Entity, Op
        from trackyard.search.request import TraceSearch

        store = self._trace_store()
        ids = experiment_ids if experiment_ids is not None else locations
        if ids is None:
            ids = [default_experiment_id()]
        if isinstance(ids, (str, int)):
            ids = [ids]
        checked = [validation.validate_experiment_id(e) for e in ids]
        if isinstance(order_by, str):
            order_by = [order_by]
        request = TraceSearch.parse(checked, filter_string, max_results, order_by, page_token)
        extra = []
        if run_id is not None:
            rid = validation.validate_run_id(run_id)
            extra.append(Comparison(Entity.METADATA, TraceMetadataKey.SOURCE_RUN, Op.EQ, rid))
        if model_id is not None:
            if not isinstance(model_id, str):
                raise TrackyardError.invalid_parameter_value(f"Invalid model id {model_id!r}")
            extra.append(Comparison(Entity.METADATA, "mlflow.modelId", Op.EQ, model_id))
        if extra:
            request = request.and_also(*extra)
        live_traces.flush()
        if include_spans:
            return store.search_traces_with_spans(request)
        from trackyard.entities.trace import TraceData

        infos = store.search_traces(request)
        return PagedList([Trace(info, TraceData()) for info in infos], infos.token)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: list[str] | None = None,
    ) -> int:
        """Delete traces of an experiment; return how many were deleted.

        Give either ``trace_ids`` or ``max_timestamp_millis`` (traces that started at or
        before it, oldest first, at most ``max_traces`` of them).
        """
        store = self._trace_store()
        eid = validation.validate_experiment_id(experiment_id)
        if max_timestamp_millis is None and trace_ids is None:
            raise TrackyardError.invalid_parameter_value(
                "Either `max_timestamp_millis` or `trace_ids` must be specified."
            )
        if max_timestamp_millis is not None and trace_ids is not None:
            raise TrackyardError.invalid_parameter_value(
                "Only one of `max_timestamp_millis` and `trace_ids` can be specified."
            )
        if trace_ids is not None and max_traces is not None:
            raise TrackyardError.invalid_parameter_value(
                "`max_traces` can't be specified if `trace_ids` is specified."
            )
        if max_traces is not None and (
            isinstance(max_traces, bool) or not isinstance(max_traces, int) or max_traces < 1
        ):
            raise TrackyardError.invalid_parameter_value(
                f"`max_traces` must be a positive integer, got {max_traces!r}"
            )
        ids = None
        if trace_ids is not None:
            if isinstance(trace_ids, str):
                trace_ids = [trace_ids]
            ids = [validation.validate_trace_id(t) for t in trace_ids]
        ts = None
        if max_timestamp_millis is not None:
            ts = validation.validate_timestamp(max_timestamp_millis, "max_timestamp_millis")
        live_traces.flush()
        return store.delete_traces(eid, ts, max_traces, ids)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a tag on a trace (an in-progress one keeps it until it is written)."""
        trace_id = validation.validate_trace_id(trace_id)
        k, v = validation.validate_trace_tag(key, value)
        store = self._trace_store()
        live = live_traces.get(trace_id)
        if live is not None:
            live.set_tag(k, v)
            return
        live_traces.flush()
        store.set_trace_tag(trace_id, k, v)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a tag from a trace (RESOURCE_DOES_NOT_EXIST if it has none)."""
        trace_id = validation.validate_trace_id(trace_id)
        validation.validate_key(key, "trace tag")
        store = self._trace_store()
        live = live_traces.get(trace_id)
        if live is not None:
            live.delete_tag(key)
            return
        live_traces.flush()
        store.delete_trace_tag(trace_id, key)

    # -- assessments -----------------------------------------------------------------------
    def log_assessment(
        self,
        assessment: Assessment,
        request_id: str | None = None,
        run_id: str | None = None,
        timestamp_ms: int | None = None,
    ) -> Assessment:
        """Log a feedback or expectation on a trace and return it as stored (with its id).

        The trace is ``request_id`` or ``assessment.trace_id``.
        """
        from trackyard._tracing_assessments import prepare_new

        store = self._assessment_store()
        prepared = prepare_new(assessment, request_id, run_id, timestamp_ms)
        live_traces.flush()
        return store.create_assessment(prepared)

    def get_assessment(self, trace_id: str, assessment_id: str | None = None) -> Assessment:
        """Return an assessment: ``get_assessment(assessment_id)`` or ``(trace_id, id)``."""
        from trackyard._tracing_assessments import ids

        store = self._assessment_store()
        tid, aid = ids(trace_id, assessment_id)
        live_traces.flush()
        return store.get_assessment(tid, aid)

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: Any = None,
        assessment: Assessment | None = None,
        **changes: Any,
    ) -> Assessment:
        """Change an assessment's name, value, rationale or metadata; return it.

        Forms: ``update_assessment(assessment_id, value=..., rationale=...)`` and MLflow's
        ``update_assessment(trace_id, assessment_id, assessment)``.
        """
        from trackyard._tracing_assessments import apply_changes, ids

        store = self._assessment_store()
        if assessment_id is not None and not isinstance(assessment_id, str):
            assessment, assessment_id = assessment_id, None
        tid, aid = ids(trace_id, assessment_id)
        live_traces.flush()
        current = store.get_assessment(tid, aid)
        updated = apply_changes(current, assessment, changes)
        return store.update_assessment(updated)

    def delete_assessment(self, trace_id: str, assessment_id: str | None = None) -> None:
        """Delete an assessment: ``delete_assessment(assessment_id)`` or ``(trace_id, id)``."""
        from trackyard._tracing_assessments import ids

        store = self._assessment_store()
        tid, aid = ids(trace_id, assessment_id)
        live_traces.flush()
        current = store.get_assessment(tid, aid)
        store.delete_assessment(str(current.trace_id), aid)


def _now_ns() -> int:
    return time.time_ns()
