"""Traces, spans and assessments of the memory tracking store.

Kept in the ``traces`` part of the store's space, under the space's lock; reads return
copies. Search is trackyard's reference evaluator for traces, so by definition the results
every backend must return.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList
from trackyard.entities.trace import Span, Trace, TraceData, TraceInfo, TraceTagKey
from trackyard.entities.trace_assessment import Assessment, new_assessment_id
from trackyard.errors import ErrorCode, TrackyardError, already_exists
from trackyard.search.request import TraceSearch
from trackyard.search.trace_evaluator import SpanFields, search_traces_in_memory
from trackyard.stores import now_ms

if TYPE_CHECKING:
    import threading

    from trackyard_memory._spaces import Space

__all__ = ["MemoryTraceMixin"]

_TRACES = "traces"


@dataclass
class _StoredTrace:
    info: TraceInfo
    spans: dict[str, Span] = field(default_factory=dict)
    assessments: dict[str, Assessment] = field(default_factory=dict)

    def span_fields(self) -> list[SpanFields]:
        return [
            SpanFields(s.name, s.span_type, s.status.status_code.value) for s in self.spans.values()
        ]


def _not_found(trace_id: str) -> TrackyardError:
    return TrackyardError(
        f"Trace with ID {trace_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _assessment_not_found(assessment_id: str) -> TrackyardError:
    return TrackyardError(
        f"Assessment with ID {assessment_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


class MemoryTraceMixin:
    """The trace methods of :class:`~trackyard_memory.tracking.MemoryTrackingStore`."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        _space: Space

        def _data(self) -> Any: ...
        def _active_experiment(self, data: Any, experiment_id: str) -> Any: ...

    def _traces(self) -> dict[str, _StoredTrace]:
        return self._space.part(_TRACES, dict)

    def _stored(self, trace_id: str) -> _StoredTrace:
        stored = self._traces().get(trace_id)
        if stored is None:
            raise _not_found(trace_id)
        return stored

    def _info_copy(self, stored: _StoredTrace) -> TraceInfo:
        info = copy.deepcopy(stored.info)
        info.assessments = [copy.deepcopy(a) for a in stored.assessments.values()]
        return info

    # -- traces ------------------------------------------------------------------------------
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        with self._lock:
            exp = self._active_experiment(self._data(), trace_info.experiment_id)
            info = copy.deepcopy(trace_info)
            info.assessments = []
            info.tags.setdefault(
                TraceTagKey.ARTIFACT_LOCATION,
                f"{exp.artifact_location}/traces/{info.trace_id}/artifacts",
            )
            traces = self._traces()
            stored = traces.get(info.trace_id)
            if stored is None:
                traces[info.trace_id] = _StoredTrace(info)
            else:
                info.tags = {**stored.info.tags, **info.tags}
                info.trace_metadata = {**stored.info.trace_metadata, **info.trace_metadata}
                stored.info = info
            return self._info_copy(traces[info.trace_id])

    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        with self._lock:
            self._active_experiment(self._data(), location)
            traces = self._traces()
            for span in spans:  # check every span first: all or nothing
                if span.trace_id not in traces:
                    raise _not_found(span.trace_id)
            for span in spans:
                traces[span.trace_id].spans[span.span_id] = Span.from_dict(span.to_dict())
            return list(spans)

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        with self._lock:
            return self._info_copy(self._stored(trace_id))

    def get_trace(self, trace_id: str) -> Trace:
        with self._lock:
            stored = self._stored(trace_id)
            spans = sorted(stored.spans.values(), key=lambda s: (s.start_time_ns, s.span_id))
            return Trace(
                self._info_copy(stored), TraceData([Span.from_dict(s.to_dict()) for s in spans])
            )

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        with self._lock:
            stored = list(self._traces().values())
            page = search_traces_in_memory(((s.info, s.span_fields()) for s in stored), request)
            by_id = {s.info.trace_id: s for s in stored}
            return PagedList([self._info_copy(by_id[i.trace_id]) for i in page], page.token)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        with self._lock:
            self._stored(trace_id).info.tags[key] = value

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        with self._lock:
            tags = self._stored(trace_id).info.tags
            if key not in tags:
                raise TrackyardError(
                    f"Tag with key {key} not found in trace with ID {trace_id}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            del tags[key]

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        with self._lock:
            traces = self._traces()
            mine = [s.info for s in traces.values() if s.info.experiment_id == experiment_id]
            if trace_ids is not None:
                wanted = set(trace_ids)
                doomed = [i.trace_id for i in mine if i.trace_id in wanted]
            else:
                assert max_timestamp_millis is not None
                old = sorted(
                    (i for i in mine if i.request_time <= max_timestamp_millis),
                    key=lambda i: (i.request_time, i.trace_id),
                )
                doomed = [i.trace_id for i in old[:max_traces]]
            for trace_id in doomed:
                del traces[trace_id]
            return len(doomed)

    # -- assessments -------------------------------------------------------------------------
    def _find_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        if trace_id is not None:
            found = self._stored(trace_id).assessments.get(assessment_id)
        else:
            found = next(
                (
                    s.assessments[assessment_id]
                    for s in self._traces().values()
                    if assessment_id in s.assessments
                ),
                None,
            )
        if found is None:
            raise _assessment_not_found(assessment_id)
        return found

    def create_assessment(self, assessment: Assessment) -> Assessment:
        with self._lock:
            assert assessment.trace_id is not None
            stored = self._stored(assessment.trace_id)
            overridden = None
            if assessment.overrides is not None:
                overridden = stored.assessments.get(assessment.overrides)
                if overridden is None:
                    raise _assessment_not_found(assessment.overrides)
            now = now_ms()
            new = copy.deepcopy(assessment)
            new.assessment_id = new_assessment_id()
            new.create_time_ms = new.create_time_ms or now
            new.last_update_time_ms = new.last_update_time_ms or new.create_time_ms
            new.valid = True
            if overridden is not None:
                overridden.valid = False
            stored.assessments[new.assessment_id] = new
            return copy.deepcopy(new)

    def import_assessment(self, assessment: Assessment) -> None:
        """Write an assessment exactly as given (id, times, validity and link kept)."""
        with self._lock:
            assert assessment.trace_id is not None and assessment.assessment_id is not None
            stored = self._stored(assessment.trace_id)
            if assessment.assessment_id in stored.assessments:
                raise already_exists(f"Assessment {assessment.assessment_id!r}")
            new = copy.deepcopy(assessment)
            new.create_time_ms = new.create_time_ms or now_ms()
            new.last_update_time_ms = new.last_update_time_ms or new.create_time_ms
            stored.assessments[assessment.assessment_id] = new

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        with self._lock:
            return copy.deepcopy(self._find_assessment(trace_id, assessment_id))

    def update_assessment(self, assessment: Assessment) -> Assessment:
        with self._lock:
            assert assessment.assessment_id is not None
            current = self._find_assessment(assessment.trace_id, assessment.assessment_id)
            updated = dataclasses.replace(
                copy.deepcopy(assessment),
                create_time_ms=current.create_time_ms,
                last_update_time_ms=max(now_ms(), current.create_time_ms or 0),
                valid=current.valid,
                overrides=current.overrides,
            )
            assert current.trace_id is not None
            self._stored(current.trace_id).assessments[current.assessment_id or ""] = updated
            return copy.deepcopy(updated)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        with self._lock:
            stored = self._stored(trace_id)
            current = stored.assessments.pop(assessment_id, None)
            if current is None:
                raise _assessment_not_found(assessment_id)
            if current.overrides and current.overrides in stored.assessments:
                stored.assessments[current.overrides].valid = True
