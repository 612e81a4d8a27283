"""Traces through a tee: written to the primary, then forwarded to each secondary like runs.

Only when every target keeps traces (and assessments) does the tee declare those
capabilities; reads use the primary. Trace and span ids are the caller's (``tr-...``), so
they are the same everywhere; experiment and run ids go through the tee's id map, and so do
assessment ids (each store makes its own; the map's kind ``"a"``). Replayed writes are
idempotent: trace infos, spans and tags overwrite, deletions check first, and a created
assessment already in the map is skipped.

The tags each store sets itself (``mlflow.artifactLocation``, ``mlflow.trace.spansLocation``)
are not forwarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList
from trackyard.entities.trace import Span, Trace, TraceInfo, TraceLocation, TraceMetadataKey
from trackyard.entities.trace_assessment import Assessment
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import Comparison, Entity, Op, OrderKey
from trackyard.search.request import TraceSearch

from trackyard_tee._host import TeeHost

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

    from trackyard_tee.store import _Secondary

__all__ = ["STORE_OWN_TRACE_TAGS", "TRACE_OPS", "TeeTraces"]

_PAGE = 50000

#: Trace tags each store sets for itself; never forwarded nor compared.
STORE_OWN_TRACE_TAGS = frozenset({"mlflow.artifactLocation", "mlflow.trace.spansLocation"})
TRACE_OPS = frozenset(
    {
        "start_trace",
        "log_spans",
        "set_trace_tag",
        "delete_trace_tag",
        "delete_traces",
        "create_assessment",
        "update_assessment",
        "delete_assessment",
    }
)


class TeeTraces(TeeHost):
    """The trace methods of :class:`~trackyard_tee.store.TeeTrackingStore`."""

    # -- reads: the primary ----------------------------------------------------------------
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        return self.primary.get_trace_info(trace_id)

    def get_trace(self, trace_id: str) -> Trace:
        return self.primary.get_trace(trace_id)

    def batch_get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        return self.primary.batch_get_traces(trace_ids)

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        return self.primary.search_traces(request)

    def search_traces_with_spans(self, request: TraceSearch) -> PagedList[Trace]:
        return self.primary.search_traces_with_spans(request)

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        return self.primary.get_assessment(trace_id, assessment_id)

    # -- writes ----------------------------------------------------------------------------
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        return self._write(
            "start_trace",
            lambda: self.primary.start_trace(trace_info),
            lambda info: {"info": {**info.to_dict(), "assessments": []}},
        )

    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        return self._write(
            "log_spans",
            lambda: self.primary.log_spans(location, spans),
            lambda _: {"experiment_id": location, "spans": [s.to_dict() for s in spans]},
        )

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        self._write(
            "set_trace_tag",
            lambda: self.primary.set_trace_tag(trace_id, key, value),
            lambda _: {"trace_id": trace_id, "key": key, "value": value},
        )

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        self._write(
            "delete_trace_tag",
            lambda: self.primary.delete_trace_tag(trace_id, key),
            lambda _: {"trace_id": trace_id, "key": key},
        )

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete on the primary; secondaries delete the same traces, by id."""
        doomed: list[str] = []

        def primary() -> int:
            if trace_ids is not None:
                doomed.extend(trace_ids)
            else:
                doomed.extend(self._oldest(experiment_id, max_timestamp_millis, max_traces))
            if not doomed:
                return 0
            return self.primary.delete_traces(experiment_id, None, None, doomed)

        return self._write(
            "delete_traces",
            primary,
            lambda _: {"experiment_id": experiment_id, "trace_ids": doomed},
        )

    def _oldest(self, experiment_id: str, bound: int | None, limit: int | None) -> list[str]:
        """The primary's traces that started at or before ``bound``, oldest first."""
        ids: list[str] = []
        page: TraceSearch | None = TraceSearch(
            experiment_ids=(experiment_id,),
            filter=Comparison(Entity.ATTRIBUTE, "timestamp_ms", Op.LE, bound),
            order_by=(
                OrderKey(Entity.ATTRIBUTE, "timestamp_ms"),
                OrderKey(Entity.ATTRIBUTE, "request_id"),
            ),
            max_results=min(limit or _PAGE, _PAGE),
        )
        while page is not None:
            found = self.primary.search_traces(page)
            ids.extend(i.trace_id for i in found)
            if limit is not None and len(ids) >= limit:
                return ids[:limit]
            page = page.next_page(found)
        return ids

    def create_assessment(self, assessment: Assessment) -> Assessment:
        return self._write(
            "create_assessment",
            lambda: self.primary.create_assessment(assessment),
            lambda made: {"assessment": made.to_dictionary()},
        )

    def update_assessment(self, assessment: Assessment) -> Assessment:
        return self._write(
            "update_assessment",
            lambda: self.primary.update_assessment(assessment),
            lambda made: {"assessment": made.to_dictionary()},
        )

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self._write(
            "delete_assessment",
            lambda: self.primary.delete_assessment(trace_id, assessment_id),
            lambda _: {"trace_id": trace_id, "assessment_id": assessment_id},
        )

    # -- applying one write to one secondary -----------------------------------------------
    def _apply_trace_op(
        self, s: _Secondary, store: TrackingStore, op: str, a: dict[str, Any], *, replay: bool
    ) -> None:
        ids = s.queue.ids
        if op == "start_trace":
            info = TraceInfo.from_dict(a["info"])
            info.trace_location = TraceLocation(self._experiment_id(s, store, info.experiment_id))
            info.tags = {k: v for k, v in info.tags.items() if k not in STORE_OWN_TRACE_TAGS}
            run_id = info.trace_metadata.get(TraceMetadataKey.SOURCE_RUN)
            if run_id is not None:
                info.trace_metadata[TraceMetadataKey.SOURCE_RUN] = self._run_id(s, store, run_id)
            store.start_trace(info)
        elif op == "log_spans":
            spans = [Span.from_dict(d) for d in a["spans"]]
            store.log_spans(self._experiment_id(s, store, a["experiment_id"]), spans)
        elif op == "set_trace_tag":
            store.set_trace_tag(a["trace_id"], a["key"], a["value"])
        elif op == "delete_trace_tag":
            if replay and a["key"] not in store.get_trace_info(a["trace_id"]).tags:
                return
            store.delete_trace_tag(a["trace_id"], a["key"])
        elif op == "delete_traces":
            if a["trace_ids"]:
                eid = self._experiment_id(s, store, a["experiment_id"])
                store.delete_traces(eid, None, None, a["trace_ids"])
        elif op == "create_assessment":
            made = Assessment.from_dictionary(a["assessment"])
            pid = str(made.assessment_id)
            if ids.get("a", pid) is not None:
                return
            if made.overrides is not None:
                made.overrides = ids.get("a", made.overrides) or made.overrides
            if made.run_id is not None:
                made.run_id = self._run_id(s, store, made.run_id)
            made.assessment_id = None
            ids.add("a", pid, str(store.create_assessment(made).assessment_id))
        elif op == "update_assessment":
            made = Assessment.from_dictionary(a["assessment"])
            pid = str(made.assessment_id)
            made.assessment_id = ids.get("a", pid) or pid
            made.overrides = None if made.overrides is None else ids.get("a", made.overrides)
            store.update_assessment(made)
        elif op == "delete_assessment":
            sid = ids.get("a", a["assessment_id"]) or a["assessment_id"]
            if replay:
                try:
                    store.get_assessment(a["trace_id"], sid)
                except TrackyardError as exc:
                    if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                        return
                    raise
            store.delete_assessment(a["trace_id"], sid)
        else:
            raise TrackyardError(f"Unknown tee journal operation {op!r}", ErrorCode.DATA_LOSS)
