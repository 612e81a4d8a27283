"""The trace search compiler: a parsed :class:`~trackyard.search.request.TraceSearch` to SQL.

It compiles ``request.filter`` (an AST) and ``request.order_by`` and never sees filter text.
The semantics are those of :mod:`trackyard.search.trace_evaluator`, over MLflow's tables:

- attributes are ``trace_info`` columns (``end_time_ms`` is ``timestamp_ms +
  execution_time_ms``); a NULL attribute never matches;
- the trace name (tag ``mlflow.traceName``) is MLflow's ``trace_info.trace_name`` column and
  the session (metadata ``mlflow.trace.session``) its ``session_id`` column, as MLflow keeps
  them; other tags and metadata are correlated ``EXISTS`` probes of the primary keys of
  ``trace_tags`` / ``trace_request_metadata`` (``(key, request_id)``), so a missing key
  matches nothing, ``!=`` included, and ``IS NULL`` is ``NOT EXISTS``. Probing lets the
  database walk the experiment's traces in time order (MLflow's index) and stop at the
  page: on SQLite over 10,000 traces a tag filter takes about 1 ms, where an
  ``IN (SELECT ...)`` list of every trace with the tag took 29 ms (measured);
- ``span.<field>`` holds when any row of ``spans`` of the trace matches (an ``EXISTS`` on
  the spans' primary key);
- ``RLIKE`` is a case-sensitive regular-expression search with each database's engine
  (SQLite: Python's :mod:`re` through ``trackyard_regexp()``);
- ordering puts present values first, then missing ones, in both directions; strings sort
  by code point.

Every value is a bound parameter: filter values cannot inject SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.errors import TrackyardError
from trackyard.search import And, Comparison, Entity, Expr, Op, Or, OrderKey

if TYPE_CHECKING:
    from trackyard.search.request import TraceSearch
    from trackyard_sql.dialect import Dialect

__all__ = [
    "COLUMN_METADATA",
    "COLUMN_TAGS",
    "SESSION_KEY",
    "TRACE_NAME_KEY",
    "compile_trace_search",
    "regexp_condition",
]

#: The tag MLflow keeps in ``trace_info.trace_name`` rather than in ``trace_tags``.
TRACE_NAME_KEY = "mlflow.traceName"
#: The metadata MLflow keeps in ``trace_info.session_id``.
SESSION_KEY = "mlflow.trace.session"
#: Tags and metadata kept in ``trace_info`` columns: key -> column.
COLUMN_TAGS = {TRACE_NAME_KEY: "trace_name"}
COLUMN_METADATA = {SESSION_KEY: "session_id"}
#: Metadata MLflow keeps only as ``trace_info`` number columns (JSON rebuilt on read).
NUMBER_METADATA = frozenset({"mlflow.trace.tokenUsage", "mlflow.trace.cost"})

_STRING_ATTRIBUTES = {
    "request_id": "t.request_id",
    "client_request_id": "t.client_request_id",
    "status": "t.status",
}
_NUMERIC_ATTRIBUTES = {
    "timestamp_ms": "t.timestamp_ms",
    "execution_time_ms": "t.execution_time_ms",
    "end_time_ms": "(t.timestamp_ms + t.execution_time_ms)",
    "experiment_id": "t.experiment_id",
}
# Columns that are never NULL need no "missing last" term when ordering.
_NOT_NULL = frozenset({"t.request_id", "t.status", "t.timestamp_ms", "t.experiment_id"})
_NUMERIC_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_SPAN_COLUMNS = {"name": "s.name", "type": "s.type", "status": "s.status"}
_KV_TABLES = {Entity.TAG: "trace_tags", Entity.METADATA: "trace_request_metadata"}


def _bad(detail: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"The SQL store cannot search traces: {detail}")


def regexp_condition(d: Dialect, column: str, pattern: str) -> tuple[str, list[Any]]:
    """A case-sensitive regular-expression search of ``pattern`` anywhere in ``column``.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a pattern Python cannot compile, or on
            a database without regular expressions.
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _bad(f"invalid regular expression {pattern!r}: {exc}") from None
    if d.is_sqlite:
        return f"trackyard_regexp(?, {column}) = 1", [pattern]
    if d.is_postgres:
        return f"{column} ~ ?", [pattern]
    if d.is_mysql:
        return f"{column} REGEXP ? COLLATE {d.mysql_bin_collation}", [pattern]
    raise _bad(f"RLIKE is not available on {d.name}")


class _Compiler:
    """Accumulates the WHERE condition of a trace search and its parameters (``t`` is the trace)."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.params: list[Any] = []

    def expr(self, e: Expr) -> str:
        if isinstance(e, Comparison):
            return self.comparison(e)
        if isinstance(e, (And, Or)):
            joiner = " AND " if isinstance(e, And) else " OR "
            return "(" + joiner.join(f"({self.expr(item)})" for item in e.items) + ")"
        raise _bad(repr(e))

    def text(self, column: str, c: Comparison) -> str:
        if c.op is Op.RLIKE:
            sql, params = regexp_condition(self.d, column, str(c.value))
        elif c.op in (Op.IS_NULL, Op.IS_NOT_NULL):
            return f"{column} {c.op.value}"
        else:
            sql, params = self.d.compare_text(column, c.op.value, c.value)
        self.params.extend(params)
        return sql

    def comparison(self, c: Comparison) -> str:
        if c.entity is Entity.ATTRIBUTE:
            if c.key in _STRING_ATTRIBUTES:
                return self.text(_STRING_ATTRIBUTES[c.key], c)
            if c.key in _NUMERIC_ATTRIBUTES and c.op in _NUMERIC_OPS:
                self.params.append(int(c.value))  # type: ignore[arg-type]
                return f"{_NUMERIC_ATTRIBUTES[c.key]} {_NUMERIC_OPS[c.op]} ?"
            raise _bad(f"attribute {c.key!r} with {c.op.value}")
        if c.entity is Entity.SPAN:
            column = _SPAN_COLUMNS.get(c.key)
            if column is None or c.op in (Op.IS_NULL, Op.IS_NOT_NULL):
                raise _bad(f"span.{c.key} {c.op.value}")
            cond = self.text(column, c)
            return (
                f"EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.request_id AND {cond}"
                f"{self.d.exists_fence})"
            )
        if c.entity in _KV_TABLES:
            columns = COLUMN_TAGS if c.entity is Entity.TAG else COLUMN_METADATA
            if c.key in columns:
                return self.text(f"t.{columns[c.key]}", c)
            if c.entity is Entity.METADATA and c.key in NUMBER_METADATA:
                raise _bad(f"metadata {c.key!r} is kept as numbers; it cannot be compared")
            key_sql = self.d.key_equals('k."key"')
            self.params.extend(self.d.key_params(c.key))
            head = (
                f"SELECT 1 FROM {_KV_TABLES[c.entity]} k "
                f"WHERE {key_sql} AND k.request_id = t.request_id"
            )
            fence = self.d.exists_fence
            if c.op is Op.IS_NULL:
                return f"NOT EXISTS ({head}{fence})"
            if c.op is Op.IS_NOT_NULL:
                return f"EXISTS ({head}{fence})"
            return f"EXISTS ({head} AND {self.text('k.value', c)}{fence})"
        raise _bad(f"traces cannot be filtered on {c.entity.value}")


def _order(d: Dialect, key: OrderKey, n: int, joins: list[str], params: list[Any]) -> list[str]:
    direction = "ASC" if key.ascending else "DESC"
    text = False
    if key.entity is Entity.ATTRIBUTE:
        if key.key in _NUMERIC_ATTRIBUTES:
            column = _NUMERIC_ATTRIBUTES[key.key]
        elif key.key in _STRING_ATTRIBUTES:
            column, text = _STRING_ATTRIBUTES[key.key], True
        else:
            raise _bad(f"ordering by attribute {key.key!r}")
    elif key.entity in _KV_TABLES:
        columns = COLUMN_TAGS if key.entity is Entity.TAG else COLUMN_METADATA
        if key.key in columns:
            column = f"t.{columns[key.key]}"
        elif key.entity is Entity.METADATA and key.key in NUMBER_METADATA:
            raise _bad(f"ordering by metadata {key.key!r}")
        else:
            alias = f"o{n}"
            key_sql = d.key_equals(f'{alias}."key"')
            joins.append(
                f"LEFT JOIN {_KV_TABLES[key.entity]} {alias} "
                f"ON {alias}.request_id = t.request_id AND {key_sql}"
            )
            params.extend(d.key_params(key.key))
            column = f"{alias}.value"
        text = True
    else:
        raise _bad(f"ordering by {key.entity.value}")
    terms = [] if column in _NOT_NULL else [f"CASE WHEN {column} IS NULL THEN 1 ELSE 0 END"]
    terms.append(f"{d.order_text(column) if text else column} {direction}")
    return terms


def compile_trace_search(
    d: Dialect, request: TraceSearch, experiment_ids: Sequence[int]
) -> tuple[str, list[Any]]:
    """The query for one page of ``request`` (one row more than the page size).

    Args:
        d: the target database.
        request: the parsed search.
        experiment_ids: the integer ids of the searched experiments (non-empty).

    Returns:
        The SQL text (driver placeholders) and its parameters; rows hold the trace id only.
    """
    joins: list[str] = []
    join_params: list[Any] = []
    terms: list[str] = []
    for n, key in enumerate(request.order_by):
        terms.extend(_order(d, key, n, joins, join_params))
    where = [f"t.experiment_id IN ({d.marks(len(experiment_ids))})"]
    compiler = _Compiler(d)
    compiler.params.extend(experiment_ids)
    if request.filter is not None:
        where.append(compiler.expr(request.filter))
    if not terms or not any("t.request_id" in t for t in terms):
        terms.append("t.request_id ASC")  # a complete order, so pages never overlap
    paging, paging_params = d.limit_offset(request.max_results + 1, request.offset)
    sql = (
        f"SELECT t.request_id FROM trace_info t {' '.join(joins)} "
        f"WHERE {' AND '.join(where)} ORDER BY {', '.join(terms)} {paging}"
    )
    return d.sql(sql), [*join_params, *compiler.params, *paging_params]
