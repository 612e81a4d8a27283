"""Traces, spans and assessments of the DuckDB tracking store (tables: :mod:`.schema.traces`).

Spans and assessments are kept as MLflow's JSON; searches compile the parsed
:class:`~trackyard.search.request.TraceSearch` into one DuckDB query with the semantics of
:mod:`trackyard.search.trace_evaluator`: tag, metadata and span terms are semi-joins
(``trace_id IN (SELECT ...)``, the anti-join for ``IS NULL``), so a missing key never
matches; ``RLIKE`` is DuckDB's ``regexp_matches`` (a search anywhere in the value, RE2
syntax, checked first with Python's :mod:`re`); missing values sort last in both directions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage, PagedList
from trackyard.entities.trace import Span, Trace, TraceData, TraceInfo, TraceLocation, TraceTagKey
from trackyard.entities.trace_assessment import Assessment, new_assessment_id
from trackyard.errors import ErrorCode, TrackyardError, already_exists
from trackyard.errors import not_active as _not_active
from trackyard.search import Comparison, Entity, Op, OrderKey
from trackyard.search.request import TraceSearch
from trackyard.stores import now_ms
from trackyard_duckdb._search import Compiled, condition, numeric_comparison, text_comparison

if TYPE_CHECKING:
    from trackyard_duckdb._database import Database

__all__ = ["DuckDBTraces"]

_INFO_COLUMNS = (
    "trace_id",
    "experiment_id",
    "request_time",
    "execution_duration",
    "state",
    "request_preview",
    "response_preview",
    "client_request_id",
)
_STRING_ATTRIBUTES = {
    "request_id": "t.trace_id",
    "client_request_id": "t.client_request_id",
    "status": "t.state",
}
_NUMERIC_ATTRIBUTES = {
    "timestamp_ms": "t.request_time",
    "execution_time_ms": "t.execution_duration",
    "end_time_ms": "(t.request_time + t.execution_duration)",
    "experiment_id": "t.experiment_id",
}
_KV_TABLES = {Entity.TAG: "trace_tags", Entity.METADATA: "trace_metadata"}
_SPAN_COLUMNS = {"name": "name", "type": "type", "status": "status"}
_IDS = "(SELECT unnest(?::VARCHAR[]))"


def _trace_not_found(trace_id: str) -> TrackyardError:
    return TrackyardError(
        f"Trace with ID {trace_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _assessment_not_found(assessment_id: str) -> TrackyardError:
    return TrackyardError(
        f"Assessment with ID {assessment_id!r} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _bad(detail: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(
        f"The DuckDB store cannot search traces: {detail}"
    )


def _text(column: str, c: Comparison) -> Compiled:
    if c.op is Op.RLIKE:
        try:
            re.compile(str(c.value))
        except re.error as exc:
            raise _bad(f"invalid regular expression {c.value!r}: {exc}") from None
        return f"regexp_matches({column}, ?)", [c.value]
    return text_comparison(column, c)


def _comparison(c: Comparison) -> Compiled:
    if c.entity is Entity.ATTRIBUTE:
        if c.key in _STRING_ATTRIBUTES:
            return _text(_STRING_ATTRIBUTES[c.key], c)
        if c.key in _NUMERIC_ATTRIBUTES:
            return numeric_comparison(_NUMERIC_ATTRIBUTES[c.key], c)
        raise _bad(f"attribute {c.key!r}")
    if c.entity is Entity.SPAN:
        column = _SPAN_COLUMNS.get(c.key)
        if column is None or c.op in (Op.IS_NULL, Op.IS_NOT_NULL):
            raise _bad(f"span.{c.key} {c.op.value}")
        sql, params = _text(column, c)
        return f"t.trace_id IN (SELECT trace_id FROM trace_spans WHERE {sql})", params
    if c.entity in _KV_TABLES:
        head = f"SELECT trace_id FROM {_KV_TABLES[c.entity]} WHERE key = ?"
        if c.op is Op.IS_NULL:
            return f"t.trace_id NOT IN ({head})", [c.key]
        if c.op is Op.IS_NOT_NULL:
            return f"t.trace_id IN ({head})", [c.key]
        sql, params = _text("value", c)
        return f"t.trace_id IN ({head} AND {sql})", [c.key, *params]
    raise _bad(f"traces cannot be filtered on {c.entity.value}")


def _order(key: OrderKey, n: int, joins: list[str], params: list[Any]) -> list[str]:
    direction = "ASC" if key.ascending else "DESC"
    if key.entity is Entity.ATTRIBUTE:
        column = _NUMERIC_ATTRIBUTES.get(key.key) or _STRING_ATTRIBUTES.get(key.key)
        if column is None:
            raise _bad(f"ordering by attribute {key.key!r}")
    elif key.entity in _KV_TABLES:
        alias = f"o{n}"
        joins.append(
            f"LEFT JOIN {_KV_TABLES[key.entity]} {alias} "
            f"ON {alias}.trace_id = t.trace_id AND {alias}.key = ?"
        )
        params.append(key.key)
        column = f"{alias}.value"
    else:
        raise _bad(f"ordering by {key.entity.value}")
    return [f"({column} IS NULL) ASC", f"{column} {direction}"]


def _compile(request: TraceSearch, experiment_ids: Sequence[int]) -> Compiled:
    joins: list[str] = []
    params: list[Any] = []
    terms: list[str] = []
    for n, key in enumerate(request.order_by):
        terms.extend(_order(key, n, joins, params))
    terms.append("t.trace_id ASC")
    where = "t.experiment_id IN (SELECT unnest(?::BIGINT[]))"
    params.append(list(experiment_ids))
    if request.filter is not None:
        sql, p = condition(request.filter, _comparison)
        where += f" AND ({sql})"
        params.extend(p)
    params.extend([request.max_results + 1, request.offset])
    return (
        f"SELECT t.trace_id FROM traces t {' '.join(joins)} WHERE {where} "
        f"ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?",
        params,
    )


class DuckDBTraces:
    """The trace and assessment methods of the DuckDB tracking store."""

    _db: Database

    if TYPE_CHECKING:

        def _experiment_row(self, cur: Any, experiment_id: str) -> tuple[Any, ...]: ...

    # -- reading ---------------------------------------------------------------------------
    def _trace_row(self, cur: Any, trace_id: str) -> tuple[Any, ...]:
        cur.execute(f"SELECT {', '.join(_INFO_COLUMNS)} FROM traces WHERE trace_id = ?", [trace_id])
        row = cur.fetchone()
        if row is None:
            raise _trace_not_found(trace_id)
        return tuple(row)

    def _load_infos(self, cur: Any, trace_ids: Sequence[str]) -> list[TraceInfo]:
        ids = list(dict.fromkeys(trace_ids))
        if not ids:
            return []
        cur.execute(
            f"SELECT {', '.join(_INFO_COLUMNS)} FROM traces WHERE trace_id IN {_IDS}", [ids]
        )
        rows = {r[0]: r for r in cur.fetchall()}
        found = [i for i in ids if i in rows]
        tags: dict[str, dict[str, str]] = {i: {} for i in found}
        metadata: dict[str, dict[str, str]] = {i: {} for i in found}
        assessments: dict[str, list[Assessment]] = {i: [] for i in found}
        for table, into in (("trace_tags", tags), ("trace_metadata", metadata)):
            cur.execute(
                f"SELECT trace_id, key, value FROM {table} WHERE trace_id IN {_IDS}", [found]
            )
            for tid, key, value in cur.fetchall():
                into[tid][key] = value
        cur.execute(
            f"SELECT trace_id, content FROM trace_assessments WHERE trace_id IN {_IDS} "
            "ORDER BY created, assessment_id",
            [found],
        )
        for tid, content in cur.fetchall():
            assessments[tid].append(Assessment.from_dictionary(json.loads(content)))
        return [
            TraceInfo(
                trace_id=r[0],
                trace_location=TraceLocation.from_experiment_id(str(r[1])),
                request_time=int(r[2]),
                state=str(r[4]),
                request_preview=r[5],
                response_preview=r[6],
                client_request_id=r[7],
                execution_duration=None if r[3] is None else int(r[3]),
                trace_metadata=metadata[r[0]],
                tags=tags[r[0]],
                assessments=assessments[r[0]],
            )
            for r in (rows[i] for i in found)
        ]

    def _load_traces(self, cur: Any, trace_ids: Sequence[str]) -> list[Trace]:
        infos = self._load_infos(cur, trace_ids)
        spans: dict[str, list[Span]] = {i.trace_id: [] for i in infos}
        if infos:
            cur.execute(
                f"SELECT trace_id, content FROM trace_spans WHERE trace_id IN {_IDS} "
                "ORDER BY trace_id, start_time_ns, span_id",
                [list(spans)],
            )
            for tid, content in cur.fetchall():
                spans[tid].append(Span.from_dict(json.loads(content)))
        return [Trace(i, TraceData(spans[i.trace_id])) for i in infos]

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """Return a trace's info with its assessments (RESOURCE_DOES_NOT_EXIST if absent)."""
        infos = self._db.read(lambda cur: self._load_infos(cur, [trace_id]))
        if not infos:
            raise _trace_not_found(trace_id)
        return infos[0]

    def get_trace(self, trace_id: str) -> Trace:
        """Return a trace with its spans (by start time) and assessments."""
        traces = self.batch_get_traces([trace_id])
        if not traces:
            raise _trace_not_found(trace_id)
        return traces[0]

    def batch_get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """Return the traces of ``trace_ids`` that exist, in that order, in one snapshot."""
        return self._db.read(lambda cur: self._load_traces(cur, trace_ids))

    def _search(self, request: TraceSearch, spans: bool) -> PagedList[Any]:
        ids = [
            int(e)
            for e in request.experiment_ids
            if e.isascii() and e.isdigit() and (e == "0" or not e.startswith("0"))
        ]
        if not ids:
            return PagedList([], None)
        sql, params = _compile(request, ids)

        def read(cur: Any) -> PagedList[Any]:
            cur.execute(sql, params)
            page = request.paged([r[0] for r in cur.fetchall()])
            load = self._load_traces if spans else self._load_infos
            return PagedList(load(cur, list(page)), page.token)

        return self._db.read(read)

    def search_traces(self, request: TraceSearch) -> PagedList[TraceInfo]:
        """Compile and run a trace search (one query for the page, then its infos)."""
        return self._search(request, spans=False)

    def search_traces_with_spans(self, request: TraceSearch) -> PagedList[Trace]:
        """As :meth:`search_traces`, with each trace's spans, in the same snapshot."""
        return self._search(request, spans=True)

    # -- writing ---------------------------------------------------------------------------
    @staticmethod
    def _put(cur: Any, table: str, trace_id: str, items: dict[str, str]) -> None:
        if not items:
            return
        keys = sorted(items)
        cur.execute(
            f"DELETE FROM {table} WHERE trace_id = ? AND key IN (SELECT unnest(?::VARCHAR[]))",
            [trace_id, keys],
        )
        cur.executemany(
            f"INSERT INTO {table} (trace_id, key, value) VALUES (?, ?, ?)",
            [(trace_id, k, items[k]) for k in keys],
        )

    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        """Record a trace's info: create it, or replace its fields and merge tags and metadata."""
        info = trace_info

        def write(cur: Any) -> TraceInfo:
            exp = self._experiment_row(cur, info.experiment_id)
            if exp[3] != LifecycleStage.ACTIVE:
                raise _not_active("experiment", info.experiment_id, exp[3])
            location = "/".join([str(exp[2]).rstrip("/"), "traces", info.trace_id, "artifacts"])
            tags = {TraceTagKey.ARTIFACT_LOCATION: location, **info.tags}
            cur.execute("DELETE FROM traces WHERE trace_id = ?", [info.trace_id])
            cur.execute(
                f"INSERT INTO traces ({', '.join(_INFO_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    info.trace_id,
                    exp[0],
                    info.request_time,
                    info.execution_duration,
                    info.state,
                    info.request_preview,
                    info.response_preview,
                    info.client_request_id,
                ],
            )
            self._put(cur, "trace_tags", info.trace_id, tags)
            self._put(cur, "trace_metadata", info.trace_id, dict(info.trace_metadata))
            return self._load_infos(cur, [info.trace_id])[0]

        return self._db.write(write)

    def log_spans(self, location: str, spans: Sequence[Span]) -> list[Span]:
        """Store finished spans (replacing same ids); every span's trace must exist."""
        latest = {(s.trace_id, s.span_id): s for s in spans}

        def write(cur: Any) -> None:
            self._experiment_row(cur, location)
            trace_ids = sorted({t for t, _ in latest})
            cur.execute(f"SELECT trace_id FROM traces WHERE trace_id IN {_IDS}", [trace_ids])
            known = {r[0] for r in cur.fetchall()}
            for trace_id in trace_ids:
                if trace_id not in known:
                    raise _trace_not_found(trace_id)
            for trace_id, span_id in latest:
                cur.execute(
                    "DELETE FROM trace_spans WHERE trace_id = ? AND span_id = ?",
                    [trace_id, span_id],
                )
            cur.executemany(
                "INSERT INTO trace_spans (trace_id, span_id, name, type, status, "
                "start_time_ns, content) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.trace_id,
                        s.span_id,
                        s.name,
                        s.span_type,
                        s.status.status_code.value,
                        s.start_time_ns,
                        json.dumps(s.to_dict(), ensure_ascii=False),
                    )
                    for s in latest.values()
                ],
            )

        if latest:
            self._db.write(write)
        return list(spans)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set (or overwrite) a trace tag."""

        def write(cur: Any) -> None:
            self._trace_row(cur, trace_id)
            self._put(cur, "trace_tags", trace_id, {key: value})

        self._db.write(write)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Delete a trace tag (RESOURCE_DOES_NOT_EXIST if absent)."""

        def write(cur: Any) -> None:
            self._trace_row(cur, trace_id)
            cur.execute(
                "SELECT count(*) FROM trace_tags WHERE trace_id = ? AND key = ?", [trace_id, key]
            )
            if not cur.fetchone()[0]:
                raise TrackyardError(
                    f"Tag with key {key} not found in trace with ID {trace_id}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            cur.execute("DELETE FROM trace_tags WHERE trace_id = ? AND key = ?", [trace_id, key])

        self._db.write(write)

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces of one experiment (by ids, or the oldest up to a time); return how many."""

        def write(cur: Any) -> int:
            exp = self._experiment_row(cur, experiment_id)[0]
            if trace_ids is not None:
                cur.execute(
                    f"SELECT trace_id FROM traces WHERE experiment_id = ? AND trace_id IN {_IDS}",
                    [exp, list(trace_ids)],
                )
            else:
                cur.execute(
                    "SELECT trace_id FROM traces WHERE experiment_id = ? AND request_time <= ? "
                    "ORDER BY request_time, trace_id LIMIT ?",
                    [exp, max_timestamp_millis, max_traces if max_traces is not None else 2**62],
                )
            doomed = [r[0] for r in cur.fetchall()]
            for table in ("trace_spans", "trace_assessments", "trace_tags", "trace_metadata"):
                cur.execute(f"DELETE FROM {table} WHERE trace_id IN {_IDS}", [doomed])
            cur.execute(f"DELETE FROM traces WHERE trace_id IN {_IDS}", [doomed])
            return len(doomed)

        return self._db.write(write)

    # -- assessments -----------------------------------------------------------------------
    def _assessment(self, cur: Any, trace_id: str | None, assessment_id: str) -> Assessment:
        sql = "SELECT content FROM trace_assessments WHERE assessment_id = ?"
        params = [assessment_id]
        if trace_id is not None:
            self._trace_row(cur, trace_id)
            sql += " AND trace_id = ?"
            params.append(trace_id)
        cur.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            raise _assessment_not_found(assessment_id)
        return Assessment.from_dictionary(json.loads(row[0]))

    @staticmethod
    def _save(cur: Any, a: Assessment) -> None:
        cur.execute("DELETE FROM trace_assessments WHERE assessment_id = ?", [a.assessment_id])
        cur.execute(
            "INSERT INTO trace_assessments (assessment_id, trace_id, created, content) "
            "VALUES (?, ?, ?, ?)",
            [a.assessment_id, a.trace_id, a.create_time_ms, json.dumps(a.to_dictionary())],
        )

    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new assessment; the one it overrides (same trace) becomes invalid."""
        assert assessment.trace_id is not None
        trace_id = assessment.trace_id

        def write(cur: Any) -> Assessment:
            self._trace_row(cur, trace_id)
            if assessment.overrides is not None:
                old = self._assessment(cur, trace_id, assessment.overrides)
                old.valid = False
                self._save(cur, old)
            now = now_ms()
            created = assessment.create_time_ms or now
            new = Assessment.from_dictionary(assessment.to_dictionary())
            new.assessment_id = new_assessment_id()
            new.trace_id = trace_id
            new.create_time_ms = created
            new.last_update_time_ms = assessment.last_update_time_ms or created
            new.valid = True
            self._save(cur, new)
            return new

        return self._db.write(write)

    def import_assessment(self, assessment: Assessment) -> None:
        """Write an assessment exactly as given (id, times, validity and link kept)."""
        assert assessment.trace_id is not None and assessment.assessment_id is not None
        trace_id, assessment_id = assessment.trace_id, assessment.assessment_id

        def write(cur: Any) -> None:
            self._trace_row(cur, trace_id)
            cur.execute("SELECT 1 FROM trace_assessments WHERE assessment_id = ?", [assessment_id])
            if cur.fetchone() is not None:
                raise already_exists(f"Assessment {assessment_id!r}")
            new = Assessment.from_dictionary(assessment.to_dictionary())
            new.create_time_ms = new.create_time_ms or now_ms()
            new.last_update_time_ms = new.last_update_time_ms or new.create_time_ms
            self._save(cur, new)

        self._db.write(write)

    def get_assessment(self, trace_id: str | None, assessment_id: str) -> Assessment:
        """Return an assessment (``trace_id`` None: look it up by id alone)."""
        return self._db.read(lambda cur: self._assessment(cur, trace_id, assessment_id))

    def update_assessment(self, assessment: Assessment) -> Assessment:
        """Replace a stored assessment's mutable fields with ``assessment``'s."""
        assert assessment.assessment_id is not None
        assessment_id = assessment.assessment_id

        def write(cur: Any) -> Assessment:
            current = self._assessment(cur, assessment.trace_id, assessment_id)
            new = Assessment.from_dictionary(assessment.to_dictionary())
            new.assessment_id = assessment_id
            new.trace_id = current.trace_id
            new.create_time_ms = current.create_time_ms
            new.last_update_time_ms = max(now_ms(), current.create_time_ms or 0)
            new.valid = current.valid
            new.overrides = current.overrides
            new.run_id = current.run_id
            self._save(cur, new)
            return new

        return self._db.write(write)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; the one it overrode becomes valid again."""

        def write(cur: Any) -> None:
            current = self._assessment(cur, trace_id, assessment_id)
            cur.execute("DELETE FROM trace_assessments WHERE assessment_id = ?", [assessment_id])
            if current.overrides:
                try:
                    old = self._assessment(cur, trace_id, current.overrides)
                except TrackyardError:
                    return
                old.valid = True
                self._save(cur, old)

        self._db.write(write)
