"""Copying traces (info, tags, request metadata, spans and assessments) between stores."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from trackyard.copy._plan import Checkpoint, CopyReport, ExperimentPartCopier, pages
from trackyard.entities.trace import Span, SpanAttributeKey, TraceLocation, TraceTagKey
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities.trace import Trace, TraceInfo
    from trackyard.entities.trace_assessment import Assessment
    from trackyard.stores import TrackingStore

__all__ = [
    "STORE_METADATA",
    "STORE_TAGS",
    "TraceCopier",
    "assessment_order",
    "moved_spans",
    "portable_info",
    "source_traces",
]

# Keys a store writes about itself rather than about the trace: where its spans and
# artifacts live, and the SQL store's marker of a finished info. Neither copied nor compared.
STORE_TAGS = frozenset({TraceTagKey.ARTIFACT_LOCATION, TraceTagKey.SPANS_LOCATION})
STORE_METADATA = frozenset({"mlflow.trace.infoFinalized"})

_PAGE = 100


def portable_info(info: TraceInfo, experiment_id: str) -> TraceInfo:
    """``info`` placed in ``experiment_id``, without assessments and the store's own keys."""
    moved = copy.copy(info)
    moved.trace_location = TraceLocation(experiment_id)
    moved.tags = {k: v for k, v in info.tags.items() if k not in STORE_TAGS}
    moved.trace_metadata = {k: v for k, v in info.trace_metadata.items() if k not in STORE_METADATA}
    moved.assessments = []
    return moved


def moved_spans(spans: list[Span], experiment_id: str) -> list[Span]:
    """``spans`` with the root span's experiment attribute naming ``experiment_id``."""
    key = SpanAttributeKey.EXPERIMENT_ID
    value = json.dumps(experiment_id)
    result = []
    for span in spans:
        attributes = span.raw_attributes
        if key in attributes and attributes[key] != value:
            attributes[key] = value
            span = Span(
                span.trace_id,
                span.span_id,
                span.parent_id,
                span.name,
                span.start_time_ns,
                span.end_time_ns,
                span.status,
                attributes,
                span.events,
            )
        result.append(span)
    return result


def source_traces(store: TrackingStore, experiment_id: str) -> Iterator[Trace]:
    """Every trace of an experiment with its spans, oldest first, a page at a time."""
    from trackyard.search.request import TraceSearch

    yield from pages(
        lambda token: store.search_traces_with_spans(
            TraceSearch.parse(
                [experiment_id],
                max_results=_PAGE,
                order_by=["timestamp_ms ASC"],
                page_token=token,
            )
        )
    )


class TraceCopier(ExperimentPartCopier):
    """Copies the traces of copied experiments with their assessments; a trace the
    destination has is kept, and receives the assessments it lacks.
    """

    capability = "traces"

    def __init__(
        self, src: TrackingStore, dst: TrackingStore, checkpoint: Checkpoint, report: CopyReport
    ) -> None:
        super().__init__(src, dst, checkpoint, report)
        self.assessments = bool(
            self.enabled and self.src.capabilities.assessments and self.dst.capabilities.assessments
        )

    def copy_experiment(self, src_experiment_id: str, dst_experiment_id: str, active: bool) -> None:
        """Copy the traces of one experiment (counted as skipped when they cannot be written:
        the destination keeps no traces, or the experiment is deleted there).
        """
        if not self.src.capabilities.traces:
            return
        for trace in source_traces(self.src, src_experiment_id):
            trace_id = trace.info.trace_id
            if not (self.enabled and active):
                self.report.traces_skipped += 1
                continue
            if self.checkpoint.get("trace", trace_id) == dst_experiment_id:
                self.report.traces_unchanged += 1
                continue
            held = self._held_assessments(trace_id)
            if held is not None:
                self.report.traces_unchanged += 1
            else:
                held = set()
                self.dst.start_trace(portable_info(trace.info, dst_experiment_id))
                if trace.data.spans:
                    spans = moved_spans(trace.data.spans, dst_experiment_id)
                    self.dst.log_spans(dst_experiment_id, spans)
                self.report.traces += 1
            self._copy_assessments(trace.info.assessments, held)
            self.checkpoint.record("trace", trace_id, dst_experiment_id)

    def _held_assessments(self, trace_id: str) -> set[str] | None:
        """The assessment ids of the destination's trace ``trace_id`` (None: no such trace)."""
        try:
            info = self.dst.get_trace_info(trace_id)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
            return None
        return {a.assessment_id for a in info.assessments if a.assessment_id}

    def _copy_assessments(self, assessments: list[Assessment], held: set[str]) -> None:
        """Import the source assessments the destination trace lacks, oldest first."""
        for assessment in sorted(assessments, key=assessment_order):
            if assessment.assessment_id in held:
                continue
            if not self.assessments:
                self.report.assessments_skipped += 1
                continue
            if self.imported(functools.partial(self.dst.import_assessment, assessment)):
                self.report.assessments += 1
            else:
                self.assessments = False  # this destination cannot import them
                self.report.assessments_skipped += 1


def assessment_order(assessment: Assessment) -> tuple[int, str]:
    """Sort key of assessments: creation time, then id."""
    return (assessment.create_time_ms or 0, assessment.assessment_id or "")
