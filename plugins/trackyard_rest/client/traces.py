"""Traces and assessments of the http(s) tracking store, over MLflow 3's REST API.

The requests are the ones MLflow 3.17.2's own REST store sends, so they work against a real
``mlflow server`` as against trackyard's:

- a finished trace's info: ``POST /api/3.0/mlflow/traces`` (StartTraceV3); its spans:
  ``POST /v1/traces``, an OTLP protobuf export with the header ``x-mlflow-experiment-id``;
- reads: ``GET /api/3.0/mlflow/traces/<id>`` (info), ``GET .../traces/get`` (with spans),
  ``GET .../traces/batchGet``, ``POST .../traces/search`` (the filter and complete order
  printed from the parsed request for MLflow);
- tags and deletion through the 2.0 paths MLflow's client uses; assessments under
  ``/api/3.0/mlflow/traces/<id>/assessments``.

MLflow's API finds an assessment by its trace and its id. ``get_assessment(None, id)``
(trackyard's by-id form) works for assessments this store has written or read, whose trace it
remembers; for others it needs the trace id.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList
from trackyard.entities.trace_assessment import FEEDBACK
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import TrackingStoreMixin
from trackyard_rest.client.base import search_fields
from trackyard_rest.otlp import CONTENT_TYPE, EXPERIMENT_HEADER, OTLP_TRACES_PATH, encode_spans
from trackyard_rest.trace_wire import (
    assessment_from_json,
    assessment_json,
    trace_from_json,
    trace_info_from_json,
    trace_info_json,
)

if TYPE_CHECKING:
    from trackyard.entities.trace import Span, Trace, TraceInfo
    from trackyard.entities.trace_assessment import Assessment
    from trackyard.search.request import TraceSearch
    from trackyard_rest.client.http import RestSession

__all__ = ["RestTraceMixin"]

#: MLflow's v3 trace endpoints, and the 2.0 prefix its client uses for tags and deletion.
TRACES3 = "/api/3.0/mlflow/traces"
TRACES2 = "/api/2.0/mlflow/traces"
#: Trace ids per ``traces/batchGet`` request (they travel in the query string).
BATCH_GET_SIZE = 100
#: The most traces MLflow's ``traces/search`` returns in one request.
SEARCH_PAGE_SIZE = 500
#: How many assessment → trace pairs a store remembers for ``get_assessment(None, id)``.
REMEMBERED_ASSESSMENTS = 10_000


def _quoted(trace_id: str) -> str:
    return urllib.parse.quote(str(trace_id), safe="")


class RestTraceMixin(TrackingStoreMixin):
    """The trace and assessment methods of :class:`~.tracking.RestTrackingStore`."""

    session: RestSession
    _assessment_traces: dict[str, str]

    # -- traces ------------------------------------------------------------------------------
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        """POST /api/3.0/mlflow/traces (StartTraceV3) with the info and no spans."""
        info = trace_info_json(trace_info)
        info.pop("assessments", None)
        out = self.session.call("POST", TRACES3, {"trace": {"trace_info": info}})
        return trace_info_from_json(out["trace"]["trace_info"])

    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        """POST /v1/traces: the spans as an OTLP protobuf export to experiment ``location``."""
        if not spans:
            return []
        headers = {"Content-Type": CONTENT_TYPE, EXPERIMENT_HEADER: str(location)}
        self.session.request("POST", OTLP_TRACES_PATH, body=encode_spans(spans), headers=headers)
        return list(spans)

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """GET /api/3.0/mlflow/traces/<trace_id>."""
        out = self.session.call("GET", f"{TRACES3}/{_quoted(trace_id)}")
        info = trace_info_from_json(out["trace"]["trace_info"])
        self._remember(info.assessments)
        return info

    def get_trace(self, trace_id: str) -> Trace:
        """GET /api/3.0/mlflow/traces/get (spans ordered by start time)."""
        out = self.session.call("GET", f"{TRACES3}/get", {"trace_id": trace_id})
        return self._trace(out["trace"])

    def batch_get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """GET /api/3.0/mlflow/traces/batchGet, in the order of ``trace_ids``."""
        found: dict[str, Trace] = {}
        ids = list(dict.fromkeys(trace_ids))
        for i in range(0, len(ids), BATCH_GET_SIZE):
            chunk = ids[i : i + BATCH_GET_SIZE]
            out = self.session.call("GET", f"{TRACES3}/batchGet", {"trace_ids": chunk})
            for item in out.get("traces", ()):
                trace = self._trace(item)
                found[trace.info.trace_id] = trace
        return [found[t] for t in trace_ids if t in found]

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        """POST /api/3.0/mlflow/traces/search over the request's experiments.

        MLflow's server returns at most 500 traces a request: a bigger page is read in
        requests of 500 (the last one's page token continues after the whole page).
        """
        payload = search_fields(request)
        payload["locations"] = [
            {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": e}}
            for e in request.experiment_ids
        ]
        infos: list[TraceInfo] = []
        token = payload.get("page_token")
        while True:
            payload["max_results"] = min(request.max_results - len(infos), SEARCH_PAGE_SIZE)
            if token:
                payload["page_token"] = token
            out = self.session.call("POST", f"{TRACES3}/search", payload)
            infos += [trace_info_from_json(t) for t in out.get("traces", ())]
            token = out.get("next_page_token") or None
            if token is None or len(infos) >= request.max_results:
                break
        for info in infos:
            self._remember(info.assessments)
        return PagedList(infos, token)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """PATCH /api/2.0/mlflow/traces/<trace_id>/tags."""
        self.session.call(
            "PATCH", f"{TRACES2}/{_quoted(trace_id)}/tags", {"key": key, "value": value}
        )

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """DELETE /api/2.0/mlflow/traces/<trace_id>/tags."""
        self.session.call("DELETE", f"{TRACES2}/{_quoted(trace_id)}/tags", {"key": key})

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """POST /api/2.0/mlflow/traces/delete-traces → how many were deleted."""
        payload: dict[str, Any] = {"experiment_id": str(experiment_id)}
        if max_timestamp_millis is not None:
            payload["max_timestamp_millis"] = int(max_timestamp_millis)
        if max_traces is not None:
            payload["max_traces"] = int(max_traces)
        if trace_ids is not None:
            payload["request_ids"] = list(trace_ids)
        out = self.session.call("POST", f"{TRACES2}/delete-traces", payload)
        return int(out.get("traces_deleted", 0))

    # -- assessments -------------------------------------------------------------------------
    def create_assessment(self, assessment: Assessment) -> Assessment:
        """POST /api/3.0/mlflow/traces/<trace_id>/assessments."""
        body = assessment_json(assessment)
        for unset in ("assessment_id", "create_time", "last_update_time"):
            body.pop(unset, None)  # the server gives them
        path = f"{TRACES3}/{_quoted(str(assessment.trace_id))}/assessments"
        return self._assessment(self.session.call("POST", path, {"assessment": body}))

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        """GET /api/3.0/mlflow/traces/<trace_id>/assessments/<assessment_id>."""
        if trace_id is None:
            trace_id = self._remembered().get(assessment_id)
            if trace_id is None:
                raise TrackyardError(
                    f"Assessment {assessment_id!r} not found: over MLflow's REST API an "
                    "assessment is found by its trace, and this store has not seen it; "
                    "pass its trace id.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
        return self._assessment(self.session.call("GET", self._path(trace_id, assessment_id)))

    def update_assessment(self, assessment: Assessment) -> Assessment:
        """PATCH .../assessments/<assessment_id> with every mutable field in the mask."""
        body = assessment_json(assessment)
        value_field = "feedback" if assessment.kind == FEEDBACK else "expectation"
        sent = {
            "assessment_id": assessment.assessment_id,
            "trace_id": assessment.trace_id,
            "assessment_name": assessment.name,
            value_field: body[value_field],
            "metadata": dict(assessment.metadata or {}),
        }
        mask = ["assessmentName", value_field, "metadata"]
        if assessment.rationale is not None:
            sent["rationale"] = assessment.rationale
            mask.append("rationale")
        path = self._path(str(assessment.trace_id), str(assessment.assessment_id))
        out = self.session.call("PATCH", path, {"assessment": sent, "update_mask": ",".join(mask)})
        return self._assessment(out)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """DELETE /api/3.0/mlflow/traces/<trace_id>/assessments/<assessment_id>."""
        self.session.call("DELETE", self._path(trace_id, assessment_id))
        self._remembered().pop(assessment_id, None)

    # -- helpers -----------------------------------------------------------------------------
    def _path(self, trace_id: str, assessment_id: str) -> str:
        aid = urllib.parse.quote(str(assessment_id), safe="")
        return f"{TRACES3}/{_quoted(trace_id)}/assessments/{aid}"

    def _trace(self, d: dict[str, Any]) -> Trace:
        trace = trace_from_json(d)
        trace.data.spans.sort(key=lambda s: s.start_time_ns)
        self._remember(trace.info.assessments)
        return trace

    def _assessment(self, out: dict[str, Any]) -> Assessment:
        assessment = assessment_from_json(out["assessment"])
        self._remember([assessment])
        return assessment

    def _remembered(self) -> dict[str, str]:
        known = getattr(self, "_assessment_traces", None)
        if known is None:
            known = self._assessment_traces = {}
        return known

    def _remember(self, assessments: Sequence[Assessment]) -> None:
        known = self._remembered()
        for a in assessments:
            if a.assessment_id and a.trace_id:
                known[a.assessment_id] = a.trace_id
        while len(known) > REMEMBERED_ASSESSMENTS:
            try:  # the oldest first; another thread may be trimming too
                known.pop(next(iter(known)), None)
            except (RuntimeError, StopIteration):
                break
