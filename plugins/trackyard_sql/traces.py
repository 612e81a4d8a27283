"""Traces, spans and assessments in MLflow's tables (mixed into the SQL tracking store).

Rows are MLflow 3.17.2's, so MLflow and trackyard read each other's traces:

- ``trace_info`` holds the summary; the trace name (tag ``mlflow.traceName``) is its
  ``trace_name`` column and never a ``trace_tags`` row, the session (metadata
  ``mlflow.trace.session``) its ``session_id`` column, and the token usage and cost metadata
  (``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost``, JSON objects) its number columns,
  rebuilt as JSON on read, as MLflow does;
- ``start_trace`` records the metadata ``mlflow.trace.infoFinalized = "true"`` and the tag
  ``mlflow.artifactLocation``; ``log_spans`` writes ``spans`` rows (``content`` is the span's
  JSON, with its name, type, status and times denormalized) and tags the trace
  ``mlflow.trace.spansLocation = TRACKING_STORE``, which is where MLflow looks for spans;
- ``assessments`` rows keep the value, error and metadata as JSON, with MLflow's numeric
  ``aggregate_value`` / ``is_numeric_value`` and the trace's experiment and start time.

Every operation is one transaction; child rows are deleted explicitly (SQLite does not
enforce the foreign keys' cascades). Search is :mod:`trackyard_sql.trace_search`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage, PagedList
from trackyard.entities.trace import (
    Span,
    SpanEvent,
    SpanStatus,
    Trace,
    TraceData,
    TraceInfo,
    TraceLocation,
    TraceTagKey,
)
from trackyard.entities.trace_assessment import Assessment, AssessmentError, AssessmentSource
from trackyard.entities.trace_assessment import new_assessment_id as _new_assessment_id
from trackyard.errors import ErrorCode, TrackyardError, already_exists
from trackyard.errors import not_active as _not_active
from trackyard.search.request import TraceSearch
from trackyard.stores import now_ms, unsupported
from trackyard_sql.database import chunks
from trackyard_sql.trace_search import (
    NUMBER_METADATA,
    SESSION_KEY,
    TRACE_NAME_KEY,
    compile_trace_search,
)

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect

__all__ = ["TRACE_REQUIRED_COLUMNS", "SqlTraces"]

_TOKEN_KEY = "mlflow.trace.tokenUsage"
_COST_KEY = "mlflow.trace.cost"
_INFO_FINALIZED = "mlflow.trace.infoFinalized"
_TRACKING_STORE = "TRACKING_STORE"
# Keys of the token usage and cost JSON objects; each is also its trace_info column's name.
_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
)
_COST_COLUMNS = ("input_cost", "output_cost", "total_cost")
TRACE_COLUMNS = (
    "request_id",
    "experiment_id",
    "timestamp_ms",
    "execution_time_ms",
    "status",
    "client_request_id",
    "request_preview",
    "response_preview",
    "trace_name",
    "session_id",
    *_TOKEN_COLUMNS,
    *_COST_COLUMNS,
)
_SPAN_COLUMNS = (
    "trace_id",
    "experiment_id",
    "span_id",
    "parent_span_id",
    "name",
    "type",
    "status",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "content",
)
ASSESSMENT_COLUMNS = (
    "assessment_id",
    "trace_id",
    "name",
    "assessment_type",
    "value",
    "error",
    "created_timestamp",
    "last_updated_timestamp",
    "source_type",
    "source_id",
    "run_id",
    "span_id",
    "rationale",
    "overrides",
    "valid",
    "assessment_metadata",
    "experiment_id",
    "trace_timestamp_ms",
    "aggregate_value",
    "is_numeric_value",
)
#: The columns the trace methods need; a database without them does not keep traces.
TRACE_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "trace_info": TRACE_COLUMNS,
    "trace_tags": ("key", "value", "request_id"),
    "trace_request_metadata": ("key", "value", "request_id"),
    "spans": _SPAN_COLUMNS,
    "assessments": ASSESSMENT_COLUMNS,
}
# Children of trace_info, deleted before it (grandchildren first).
_TRACE_CHILDREN = (
    ("span_metrics", "trace_id"),
    ("spans", "trace_id"),
    ("assessments", "trace_id"),
    ("trace_tags", "request_id"),
    ("trace_request_metadata", "request_id"),
    ("trace_metrics", "request_id"),
)
_BIGINT = 2**63
_KEY = '"key"'  # the quoted column name
_IN_CHUNK = 500


def _trace_not_found(trace_id: str) -> TrackyardError:
    return TrackyardError(
        f"Trace with ID {trace_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _assessment_not_found(assessment_id: str) -> TrackyardError:
    return TrackyardError(
        f"Assessment with ID {assessment_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


# -- MLflow's number columns ------------------------------------------------------------------
def _token_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if -_BIGINT <= number < _BIGINT else None


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number_columns(metadata: dict[str, str]) -> dict[str, Any]:
    """The ``trace_info`` columns MLflow fills from token usage and cost metadata (popped)."""
    columns: dict[str, Any] = {}
    usage = metadata.pop(_TOKEN_KEY, None)
    if usage is not None:
        found = _json_object(usage)
        columns.update({k: _token_count(found[k]) for k in _TOKEN_COLUMNS if k in found})
    cost = metadata.pop(_COST_KEY, None)
    if cost is not None:
        found = _json_object(cost)
        columns.update({k: _finite(found[k]) for k in _COST_COLUMNS if k in found})
    return columns


def _metadata_from_columns(row: Sequence[Any]) -> dict[str, str]:
    """Session, token usage and cost metadata from a ``trace_info`` row (MLflow's JSON)."""
    metadata: dict[str, str] = {}
    if row[9] is not None:
        metadata[SESSION_KEY] = str(row[9])
    tokens = {k: _token_count(v) for k, v in zip(_TOKEN_COLUMNS, row[10:16], strict=True)}
    usage = {k: v for k, v in tokens.items() if v is not None}
    if usage:
        metadata[_TOKEN_KEY] = json.dumps(usage)
    cost = {k: float(v) for k, v in zip(_COST_COLUMNS, row[16:19], strict=True) if v is not None}
    if cost:
        metadata[_COST_KEY] = json.dumps(cost)
    return metadata


def _aggregate(value: Any) -> tuple[float | None, bool]:
    """MLflow's ``aggregate_value`` and ``is_numeric_value`` of an assessment value."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), False
    if isinstance(value, (int, float)):
        number = _finite(value)
        return (number, True) if number is not None else (None, False)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return (1.0 if value.strip().lower() == "yes" else 0.0), False
    return None, False


def _assessment_from_row(row: Sequence[Any]) -> Assessment:
    error = None
    if row[5] is not None:
        error = AssessmentError.from_dictionary(_json_object(row[5]))
    metadata = None
    if row[15] is not None:
        metadata = {str(k): str(v) for k, v in _json_object(row[15]).items()} or None
    try:
        value = json.loads(row[4])
    except (TypeError, ValueError):
        value = row[4]
    return Assessment(
        name=row[2],
        source=AssessmentSource(row[8] or "SOURCE_TYPE_UNSPECIFIED", row[9]),
        trace_id=row[1],
        kind=row[3],
        value=value,
        error=error,
        rationale=row[12],
        metadata=metadata,
        span_id=row[11],
        overrides=row[13],
        valid=bool(row[14]),
        create_time_ms=int(row[6]),
        last_update_time_ms=int(row[7]),
        assessment_id=row[0],
        run_id=row[10],
    )


_STATUSES: dict[tuple[str, str], SpanStatus] = {}


def _span_status(code: Any, message: Any) -> SpanStatus:
    key = (str(code or "UNSET"), str(message or ""))
    status = _STATUSES.get(key)
    if status is None:
        status = SpanStatus(SpanStatus.of(key[0]).status_code, key[1])
        if len(_STATUSES) < 64:
            _STATUSES[key] = status
    return status


def _span_from_row(row: Sequence[Any], d: dict[str, Any]) -> Span:
    """A span from ``(trace_id, span_id, parent_span_id, start, end, content)`` and the
    parsed ``content``.

    The ids and times come from the columns (hex already), the rest from the span JSON;
    content :meth:`Span.from_dict` would have to normalize (attribute values that are not
    JSON-encoded strings) goes through it instead.
    """
    attributes = d.get("attributes") or {}
    if not all(isinstance(v, str) for v in attributes.values()):
        return Span.from_dict(d)
    status = d.get("status") or {}
    end = row[4]
    return Span(
        trace_id=row[0],
        span_id=row[1],
        parent_id=row[2] or None,
        name=str(d.get("name") or ""),
        start_time_ns=int(row[3]),
        end_time_ns=None if end is None else int(end),
        status=_span_status(status.get("code"), status.get("message")),
        attributes=attributes,
        events=[SpanEvent.from_dict(e) for e in d.get("events") or ()],
    )


def _span_content(span: Span) -> str:
    return json.dumps(span.to_dict(), ensure_ascii=False)


class SqlTraces:
    """The trace and assessment methods of the SQL tracking store."""

    _db: Database
    _dialect: Dialect
    #: False on a database whose trace tables are missing or too old (MLflow before 3.x):
    #: every trace method then raises FEATURE_DISABLED.
    _trace_tables: bool = True

    if TYPE_CHECKING:

        def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...

    def _need_traces(self) -> None:
        if not self._trace_tables:
            raise unsupported(self, "traces")

    # -- reading ---------------------------------------------------------------------------
    def _trace_head(self, cur: Any, trace_id: str) -> tuple[Any, ...]:
        """``(experiment_id, timestamp_ms, trace_name)`` of a trace, or RESOURCE_DOES_NOT_EXIST."""
        cur.execute(
            self._dialect.sql(
                "SELECT experiment_id, timestamp_ms, trace_name FROM trace_info "
                "WHERE request_id = ?"
            ),
            (trace_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise _trace_not_found(trace_id)
        return tuple(row)

    def _select_in(self, cur: Any, head: str, ids: Sequence[str], tail: str = "") -> list[Any]:
        rows: list[Any] = []
        for chunk in chunks(ids, _IN_CHUNK):
            cur.execute(
                self._dialect.sql(f"{head} IN ({self._dialect.marks(len(chunk))}){tail}"), chunk
            )
            rows.extend(cur.fetchall())
        return rows

    def _load_infos(self, cur: Any, trace_ids: Sequence[str]) -> list[TraceInfo]:
        """The infos of the ``trace_ids`` that exist, in order, with tags, metadata, assessments."""
        ids = list(dict.fromkeys(trace_ids))
        if not ids:
            return []
        columns = ", ".join(TRACE_COLUMNS)
        rows = {
            r[0]: r
            for r in self._select_in(cur, f"SELECT {columns} FROM trace_info WHERE request_id", ids)
        }
        found = [i for i in ids if i in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in found}
        metadata: dict[str, dict[str, str]] = {i: {} for i in found}
        assessments: dict[str, list[Assessment]] = {i: [] for i in found}
        for rid, key, value in self._select_in(
            cur, 'SELECT request_id, "key", value FROM trace_tags WHERE request_id', found
        ):
            if key != TRACE_NAME_KEY and value is not None:
                tags[rid][key] = value
        for rid, key, value in self._select_in(
            cur,
            'SELECT request_id, "key", value FROM trace_request_metadata WHERE request_id',
            found,
        ):
            if key != SESSION_KEY and key not in NUMBER_METADATA and value is not None:
                metadata[rid][key] = value
        for row in self._select_in(
            cur,
            f"SELECT {', '.join(ASSESSMENT_COLUMNS)} FROM assessments WHERE trace_id",
            found,
            " ORDER BY created_timestamp, assessment_id",
        ):
            assessments[row[1]].append(_assessment_from_row(row))
        infos = []
        for trace_id in found:
            r = rows[trace_id]
            if r[8] is not None:
                tags[trace_id][TRACE_NAME_KEY] = r[8]
            metadata[trace_id].update(_metadata_from_columns(r))
            infos.append(
                TraceInfo(
                    trace_id=r[0],
                    trace_location=TraceLocation.from_experiment_id(str(r[1])),
                    request_time=int(r[2]),
                    state=str(r[4]),
                    request_preview=r[6],
                    response_preview=r[7],
                    client_request_id=r[5],
                    execution_duration=None if r[3] is None else int(r[3]),
                    trace_metadata=metadata[trace_id],
                    tags=tags[trace_id],
                    assessments=assessments[trace_id],
                )
            )
        return infos

    def _load_spans(self, cur: Any, trace_ids: Sequence[str]) -> dict[str, list[Span]]:
        spans: dict[str, list[Span]] = {i: [] for i in trace_ids}
        rows = self._select_in(
            cur,
            "SELECT trace_id, span_id, parent_span_id, start_time_unix_nano, "
            "end_time_unix_nano, content FROM spans WHERE trace_id",
            list(trace_ids),
            " ORDER BY trace_id, start_time_unix_nano, span_id",
        )
        rows = [r for r in rows if r[5]]  # MLflow empties the content of archived spans
        try:  # one parse for the page: a third faster than one per span (measured)
            parsed = json.loads("[" + ",".join(r[5] for r in rows) + "]")
        except ValueError:
            parsed = [json.loads(r[5]) for r in rows]  # raises for the malformed one
        for row, d in zip(rows, parsed, strict=True):
            spans[row[0]].append(_span_from_row(row, d))
        return spans

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """Return a trace's info with its assessments (RESOURCE_DOES_NOT_EXIST if absent)."""
        self._need_traces()

        def read(cur: Any) -> TraceInfo:
            infos = self._load_infos(cur, [trace_id])
            if not infos:
                raise _trace_not_found(trace_id)
            return infos[0]

        return self._db.read(read)

    def get_trace(self, trace_id: str) -> Trace:
        """Return a trace with its spans (by start time) and assessments."""
        traces = self.batch_get_traces([trace_id])
        if not traces:
            raise _trace_not_found(trace_id)
        return traces[0]

    def batch_get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """Return the traces of ``trace_ids`` that exist, in that order, in one transaction."""
        self._need_traces()

        def read(cur: Any) -> list[Trace]:
            infos = self._load_infos(cur, trace_ids)
            spans = self._load_spans(cur, [i.trace_id for i in infos])
            return [Trace(i, TraceData(spans[i.trace_id])) for i in infos]

        return self._db.read(read)

    def _search(self, request: TraceSearch, spans: bool) -> PagedList[Any]:
        """One page of infos, or of whole traces with ``spans``, in one read transaction."""
        self._need_traces()
        ids = [
            int(e)
            for e in request.experiment_ids
            if e.isascii() and e.isdigit() and (e == "0" or not e.startswith("0"))
        ]
        if not ids:
            return PagedList([], None)
        sql, params = compile_trace_search(self._dialect, request, ids)

        def read(cur: Any) -> PagedList[Any]:
            cur.execute(sql, params)
            page = request.paged([r[0] for r in cur.fetchall()])
            infos = self._load_infos(cur, list(page))
            if not spans:
                return PagedList(infos, page.token)
            found = self._load_spans(cur, [i.trace_id for i in infos])
            return PagedList([Trace(i, TraceData(found[i.trace_id])) for i in infos], page.token)

        return self._db.read(read)

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        """Compile and run a trace search: one query for the page's ids, then their infos."""
        return self._search(request, spans=False)

    def search_traces_with_spans(self, request: TraceSearch) -> PagedList[Trace]:
        """As :meth:`search_traces`, with each trace's spans, in the same transaction."""
        return self._search(request, spans=True)

    # -- writing ---------------------------------------------------------------------------
    def _check_widths(self, table: str, items: dict[str, str], what: str) -> None:
        check = self._db.check_width
        for key, value in items.items():
            check(table, "key", key, f"{what} key")
            check(table, "value", value, f"{what} value")

    def _put_key_values(
        self, cur: Any, table: str, trace_id: str, items: dict[str, str], fresh: bool
    ) -> None:
        """Set ``items`` in a key-value child table of ``trace_id`` (replacing same keys)."""
        if not items:
            return
        d = self._dialect
        keys = sorted(items)
        if not fresh:
            cur.executemany(
                d.sql(f"DELETE FROM {table} WHERE request_id = ? AND {d.key_equals(_KEY)}"),
                [(trace_id, *d.key_params(k)) for k in keys],
            )
        cur.executemany(
            d.sql(f'INSERT INTO {table} ("key", value, request_id) VALUES (?, ?, ?)'),
            [(k, items[k], trace_id) for k in keys],
        )

    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        """Record a trace's info: create it, or replace its fields and merge tags and metadata."""
        self._need_traces()
        d = self._dialect
        info = trace_info
        trace_id = info.trace_id
        tags = dict(info.tags)
        name = tags.pop(TRACE_NAME_KEY, None)
        metadata = dict(info.trace_metadata)
        numbers = _number_columns(metadata)
        session = metadata.pop(SESSION_KEY, None)
        metadata[_INFO_FINALIZED] = "true"
        check = self._db.check_width
        check("trace_info", "request_id", trace_id, "trace id")
        check("trace_info", "client_request_id", info.client_request_id, "client request id")
        check("trace_info", "request_preview", info.request_preview, "request preview")
        check("trace_info", "response_preview", info.response_preview, "response preview")
        check("trace_info", "trace_name", name, "trace name")
        check("trace_info", "session_id", session, "trace session id")
        self._check_widths("trace_tags", tags, "trace tag")
        self._check_widths("trace_request_metadata", metadata, "trace metadata")
        main = {
            "experiment_id": None,  # set from the experiment row
            "timestamp_ms": info.request_time,
            "execution_time_ms": info.execution_duration,
            "status": info.state,
            "client_request_id": info.client_request_id,
            "request_preview": info.request_preview,
            "response_preview": info.response_preview,
        }
        optional = {"trace_name": name, "session_id": session, **numbers}

        def write(cur: Any) -> TraceInfo:
            exp = self._experiment_row(cur, info.experiment_id)
            if exp[3] != LifecycleStage.ACTIVE:
                raise _not_active("experiment", info.experiment_id, exp[3])
            main["experiment_id"] = exp[0]
            location = "/".join([str(exp[2]).rstrip("/"), "traces", trace_id, "artifacts"])
            all_tags = {TraceTagKey.ARTIFACT_LOCATION: location, **tags}
            cur.execute(d.sql("SELECT 1 FROM trace_info WHERE request_id = ?"), (trace_id,))
            exists = cur.fetchone() is not None
            if exists:
                values = {**main, **{k: v for k, v in optional.items() if v is not None}}
                sets = ", ".join(f"{k} = ?" for k in values)
                cur.execute(
                    d.sql(f"UPDATE trace_info SET {sets} WHERE request_id = ?"),
                    (*values.values(), trace_id),
                )
                for table in ("spans", "assessments"):
                    cur.execute(
                        d.sql(f"UPDATE {table} SET experiment_id = ? WHERE trace_id = ?"),
                        (exp[0], trace_id),
                    )
            else:
                values = {"request_id": trace_id, **main, **optional}
                cur.execute(
                    d.sql(
                        f"INSERT INTO trace_info ({', '.join(values)}) "
                        f"VALUES ({d.marks(len(values))})"
                    ),
                    tuple(values.values()),
                )
            self._put_key_values(cur, "trace_tags", trace_id, all_tags, not exists)
            self._put_key_values(cur, "trace_request_metadata", trace_id, metadata, not exists)
            return self._load_infos(cur, [trace_id])[0]

        return self._db.write(write)

    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        """Store finished spans (replacing same ids); every span's trace must exist."""
        self._need_traces()
        d = self._dialect
        latest = {(s.trace_id, s.span_id): s for s in spans}
        if not latest:
            return []
        rows = [
            [
                s.trace_id,
                None,  # the trace's experiment
                s.span_id,
                s.parent_id,
                s.name,
                s.span_type,
                s.status.status_code.value,
                s.start_time_ns,
                s.end_time_ns,
                _span_content(s),
            ]
            for s in latest.values()
        ]
        trace_ids = sorted({s.trace_id for s in latest.values()})

        def write(cur: Any) -> None:
            self._experiment_row(cur, location)
            experiments = dict(
                self._select_in(
                    cur,
                    "SELECT request_id, experiment_id FROM trace_info WHERE request_id",
                    trace_ids,
                )
            )
            for trace_id in trace_ids:
                if trace_id not in experiments:
                    raise _trace_not_found(trace_id)
            for row in rows:
                row[1] = experiments[row[0]]
            cur.executemany(
                d.sql("DELETE FROM spans WHERE trace_id = ? AND span_id = ?"),
                [(r[0], r[2]) for r in rows],
            )
            cur.executemany(
                d.sql(
                    f"INSERT INTO spans ({', '.join(_SPAN_COLUMNS)}) "
                    f"VALUES ({d.marks(len(_SPAN_COLUMNS))})"
                ),
                rows,
            )
            for trace_id in trace_ids:
                self._put_key_values(
                    cur,
                    "trace_tags",
                    trace_id,
                    {TraceTagKey.SPANS_LOCATION: _TRACKING_STORE},
                    fresh=False,
                )

        self._db.write(write)
        return list(spans)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set (or overwrite) a trace tag; the trace name goes to ``trace_info.trace_name``."""
        self._need_traces()
        d = self._dialect
        if key == TRACE_NAME_KEY:
            self._db.check_width("trace_info", "trace_name", value, "trace name")
        else:
            self._check_widths("trace_tags", {key: value}, "trace tag")

        def write(cur: Any) -> None:
            self._trace_head(cur, trace_id)
            if key == TRACE_NAME_KEY:
                cur.execute(
                    d.sql("UPDATE trace_info SET trace_name = ? WHERE request_id = ?"),
                    (value, trace_id),
                )
            else:
                self._put_key_values(cur, "trace_tags", trace_id, {key: value}, fresh=False)

        self._db.write(write)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a trace tag (RESOURCE_DOES_NOT_EXIST if absent)."""
        self._need_traces()
        d = self._dialect

        def write(cur: Any) -> None:
            head = self._trace_head(cur, trace_id)
            if key == TRACE_NAME_KEY:
                deleted = head[2] is not None
                cur.execute(
                    d.sql("UPDATE trace_info SET trace_name = NULL WHERE request_id = ?"),
                    (trace_id,),
                )
            else:
                cur.execute(
                    d.sql(f"DELETE FROM trace_tags WHERE request_id = ? AND {d.key_equals(_KEY)}"),
                    (trace_id, *d.key_params(key)),
                )
                deleted = cur.rowcount > 0
            if not deleted:
                raise TrackyardError(
                    f"Tag with key {key} not found in trace with ID {trace_id}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )

        self._db.write(write)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces of one experiment (by ids, or the oldest up to a time); return how many."""
        self._need_traces()
        d = self._dialect

        def write(cur: Any) -> int:
            exp = self._experiment_row(cur, experiment_id)[0]
            if trace_ids is not None:
                doomed = [
                    r[0]
                    for r in self._select_in(
                        cur,
                        "SELECT request_id FROM trace_info WHERE experiment_id = "
                        f"{int(exp)} AND request_id",
                        list(dict.fromkeys(trace_ids)),
                    )
                ]
            else:
                sql = (
                    "SELECT request_id FROM trace_info WHERE experiment_id = ? "
                    "AND timestamp_ms <= ? ORDER BY timestamp_ms, request_id"
                )
                params: list[Any] = [exp, max_timestamp_millis]
                if max_traces is not None:
                    paging, paging_params = d.limit_offset(max_traces, 0)
                    sql = f"{sql} {paging}"
                    params.extend(paging_params)
                cur.execute(d.sql(sql), params)
                doomed = [r[0] for r in cur.fetchall()]
            tables = [
                (t, c)
                for t, c in (*_TRACE_CHILDREN, ("trace_info", "request_id"))
                if self._db.layout.has(t)  # span_metrics and trace_metrics came later
            ]
            for chunk in chunks(doomed, _IN_CHUNK):
                marks = d.marks(len(chunk))
                for table, column in tables:
                    cur.execute(d.sql(f"DELETE FROM {table} WHERE {column} IN ({marks})"), chunk)
            return len(doomed)

        return self._db.write(write)

    # -- assessments -----------------------------------------------------------------------
    def _assessment_row(
        self, cur: Any, trace_id: str | None, assessment_id: str
    ) -> tuple[Any, ...]:
        d = self._dialect
        sql = f"SELECT {', '.join(ASSESSMENT_COLUMNS)} FROM assessments WHERE assessment_id = ?"
        params = [assessment_id]
        if trace_id is not None:
            self._trace_head(cur, trace_id)
            sql += " AND trace_id = ?"
            params.append(trace_id)
        cur.execute(d.sql(sql), params)
        row = cur.fetchone()
        if row is None:
            raise _assessment_not_found(assessment_id)
        return tuple(row)

    def _assessment_values(self, a: Assessment) -> dict[str, Any]:
        """The columns of ``a`` that an update may change."""
        aggregate, numeric = _aggregate(a.value)
        values = {
            "name": a.name,
            "assessment_type": a.kind,
            "value": json.dumps(a.value, ensure_ascii=False),
            "error": None if a.error is None else json.dumps(a.error.to_dictionary()),
            "source_type": a.source.source_type,
            "source_id": a.source.source_id,
            "span_id": a.span_id,
            "rationale": a.rationale,
            "assessment_metadata": json.dumps(a.metadata) if a.metadata else None,
            "aggregate_value": aggregate,
            "is_numeric_value": numeric,
        }
        check = self._db.check_width
        check("assessments", "name", a.name, "assessment name")
        check("assessments", "source_id", a.source.source_id, "assessment source id")
        return values

    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new assessment; the one it overrides (same trace) becomes invalid."""
        self._need_traces()
        d = self._dialect
        assert assessment.trace_id is not None
        trace_id = assessment.trace_id
        values = self._assessment_values(assessment)
        now = now_ms()
        created = assessment.create_time_ms or now
        assessment_id = _new_assessment_id()

        def write(cur: Any) -> Assessment:
            head = self._trace_head(cur, trace_id)
            if assessment.overrides is not None:
                self._assessment_row(cur, trace_id, assessment.overrides)
                cur.execute(
                    d.sql("UPDATE assessments SET valid = ? WHERE assessment_id = ?"),
                    (False, assessment.overrides),
                )
            self._insert_assessment(cur, head, assessment, values, assessment_id, created, True)
            return _assessment_from_row(self._assessment_row(cur, trace_id, assessment_id))

        return self._db.write(write)

    def _insert_assessment(
        self,
        cur: Any,
        head: Sequence[Any],
        a: Assessment,
        values: dict[str, Any],
        assessment_id: str,
        created: int,
        valid: bool,
    ) -> None:
        """Insert the row of ``a`` (``values``: its mutable columns) on the trace ``head``."""
        d = self._dialect
        row = {
            **values,
            "assessment_id": assessment_id,
            "trace_id": a.trace_id,
            "created_timestamp": created,
            "last_updated_timestamp": a.last_update_time_ms or created,
            "run_id": a.run_id,
            "overrides": a.overrides,
            "valid": valid,
            "experiment_id": head[0],
            "trace_timestamp_ms": head[1],
        }
        cur.execute(
            d.sql(
                f"INSERT INTO assessments ({', '.join(ASSESSMENT_COLUMNS)}) "
                f"VALUES ({d.marks(len(ASSESSMENT_COLUMNS))})"
            ),
            tuple(row[c] for c in ASSESSMENT_COLUMNS),
        )

    def import_assessment(self, assessment: Assessment) -> None:
        """Write an assessment exactly as given (id, times, validity and link kept)."""
        self._need_traces()
        d = self._dialect
        assert assessment.trace_id is not None and assessment.assessment_id is not None
        trace_id, assessment_id = assessment.trace_id, assessment.assessment_id
        values = self._assessment_values(assessment)
        created = assessment.create_time_ms or now_ms()

        def write(cur: Any) -> None:
            head = self._trace_head(cur, trace_id)
            cur.execute(
                d.sql("SELECT 1 FROM assessments WHERE assessment_id = ?"), (assessment_id,)
            )
            if cur.fetchone() is not None:
                raise already_exists(f"Assessment {assessment_id!r}")
            valid = bool(assessment.valid)
            self._insert_assessment(cur, head, assessment, values, assessment_id, created, valid)

        self._db.write(write)

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        """Return an assessment (``trace_id`` None: look it up by id alone)."""
        self._need_traces()
        return self._db.read(
            lambda cur: _assessment_from_row(self._assessment_row(cur, trace_id, assessment_id))
        )

    def update_assessment(self, assessment: Assessment) -> Assessment:
        """Replace a stored assessment's mutable fields with ``assessment``'s."""
        self._need_traces()
        d = self._dialect
        assert assessment.assessment_id is not None
        assessment_id = assessment.assessment_id
        values = self._assessment_values(assessment)

        def write(cur: Any) -> Assessment:
            current = self._assessment_row(cur, assessment.trace_id, assessment_id)
            values["last_updated_timestamp"] = max(now_ms(), int(current[6]))
            sets = ", ".join(f"{k} = ?" for k in values)
            cur.execute(
                d.sql(f"UPDATE assessments SET {sets} WHERE assessment_id = ?"),
                (*values.values(), assessment_id),
            )
            return _assessment_from_row(self._assessment_row(cur, None, assessment_id))

        return self._db.write(write)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; the one it overrode becomes valid again."""
        self._need_traces()
        d = self._dialect

        def write(cur: Any) -> None:
            current = self._assessment_row(cur, trace_id, assessment_id)
            cur.execute(d.sql("DELETE FROM assessments WHERE assessment_id = ?"), (assessment_id,))
            if current[13]:
                cur.execute(
                    d.sql(
                        "UPDATE assessments SET valid = ? WHERE assessment_id = ? AND trace_id = ?"
                    ),
                    (True, current[13], trace_id),
                )

        self._db.write(write)
