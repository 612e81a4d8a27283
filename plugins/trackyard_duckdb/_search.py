"""Compile parsed searches (:mod:`trackyard.search.request`) into one DuckDB query each.

The semantics are those of :mod:`trackyard.search.evaluator`, in SQL over the columnar
tables of :mod:`trackyard_duckdb.schema.tracking`:

- a comparison on a metric, param or tag is a semi-join (``run_key IN (SELECT ...)``) on the
  narrow key-value table, so a missing key matches nothing (``!=`` included) and
  ``IS NULL`` is the anti-join; metrics compare the latest value and NaN never matches
  (DuckDB would otherwise order NaN above every number);
- attributes that are NULL never match (SQL's three-valued logic; the compiler never negates
  a compound condition);
- ``LIKE`` has no escape character, in DuckDB as in the evaluator; ``ILIKE`` compares
  ``lower()`` of both sides, with U+0130 mapped as Python's ``str.lower`` maps it (the one
  code point where DuckDB's ``lower`` differs);
- every order key sorts present values first (ascending or descending, strings by code
  point: DuckDB compares UTF-8 bytes), then NaN (metrics), then missing values.

Every value is a bound parameter: filter strings cannot inject SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trackyard.errors import TrackyardError
from trackyard.search import And, Comparison, Entity, Expr, Op, Or, OrderKey
from trackyard_duckdb._runs import page_query

__all__ = [
    "EXPERIMENT_COLUMNS",
    "compile_experiment_search",
    "compile_run_search",
    "ilike_column",
    "text_comparison",
]

#: Columns selected for an experiment, in the order the experiment query returns them.
EXPERIMENT_COLUMNS = (
    "experiment_id",
    "name",
    "artifact_location",
    "lifecycle_stage",
    "creation_time",
    "last_update_time",
)

_RUN_TEXT = {
    "run_id": "r.run_id",
    "run_name": "r.name",
    "user_id": "r.user_id",
    "status": "r.status",
    "artifact_uri": "r.artifact_uri",
}
_RUN_NUMERIC = {"start_time": "r.start_time", "end_time": "r.end_time"}
_NOT_NULL = frozenset({"r.run_id", "r.status"})  # NOT NULL columns of ``runs``
_EXPERIMENT_NUMERIC = {
    "creation_time": "e.creation_time",
    "last_update_time": "e.last_update_time",
}
_NUMERIC_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_KEY_VALUE_TABLES = {Entity.PARAM: "run_params", Entity.TAG: "run_tags"}

Compiled = tuple[str, list[Any]]


def _unsupported(what: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"The DuckDB store cannot search on {what}")


def ilike_column(column: str) -> str:
    """``column`` lower-cased exactly as Python's ``str.lower`` would (see module docstring)."""
    return f"lower(replace({column}, '\u0130', 'i\u0307'))"


def text_comparison(column: str, c: Comparison) -> Compiled:
    """A string comparison of ``column`` with the comparison's value."""
    op = c.op
    if op is Op.EQ:
        return f"{column} = ?", [c.value]
    if op is Op.NE:
        return f"{column} <> ?", [c.value]
    if op is Op.LIKE:
        return f"{column} LIKE ?", [c.value]
    if op is Op.ILIKE:
        return f"{ilike_column(column)} LIKE ?", [str(c.value).lower()]
    if op in (Op.IN, Op.NOT_IN):
        values = list(c.value)  # type: ignore[arg-type]
        marks = ", ".join("?" for _ in values)
        word = "IN" if op is Op.IN else "NOT IN"
        return f"{column} {word} ({marks})", values
    raise _unsupported(f"{c.key} {op.value}")


def numeric_comparison(column: str, c: Comparison) -> Compiled:
    """A numeric comparison of ``column``; NULL never matches."""
    op = _NUMERIC_OPS.get(c.op)
    if op is None:
        raise _unsupported(f"{c.key} {c.op.value}")
    return f"{column} {op} ?", [c.value]


def condition(expr: Expr, compare: Callable[[Comparison], Compiled]) -> Compiled:
    """Compile ``expr``, with ``compare`` for its comparisons (And / Or recursively)."""
    if isinstance(expr, Comparison):
        return compare(expr)
    if isinstance(expr, (And, Or)):
        joiner = " AND " if isinstance(expr, And) else " OR "
        parts: list[str] = []
        params: list[Any] = []
        for item in expr.items:
            sql, p = condition(item, compare)
            parts.append(f"({sql})")
            params.extend(p)
        return joiner.join(parts), params
    raise _unsupported(repr(expr))


def key_value_condition(owner: str, table: str, owner_column: str, c: Comparison) -> Compiled:
    """A semi-join (anti-join for IS NULL) on a key-value table."""
    head = f"SELECT {owner_column} FROM {table} WHERE key = ?"
    if c.op is Op.IS_NULL:
        return f"{owner} NOT IN ({head})", [c.key]
    if c.op is Op.IS_NOT_NULL:
        return f"{owner} IN ({head})", [c.key]
    value_sql, value_params = text_comparison("value", c)
    return f"{owner} IN ({head} AND {value_sql})", [c.key, *value_params]


def _run_comparison(c: Comparison) -> Compiled:
    entity = c.entity
    if entity is Entity.METRIC:
        op = _NUMERIC_OPS.get(c.op)
        if op is None:
            raise _unsupported(f"metrics with {c.op.value}")
        return (
            "r.run_key IN (SELECT run_key FROM metric_series WHERE key = ? "
            f"AND NOT isnan(value) AND value {op} ?)",
            [c.key, float(c.value)],  # type: ignore[arg-type]
        )
    if entity in _KEY_VALUE_TABLES:
        return key_value_condition("r.run_key", _KEY_VALUE_TABLES[entity], "run_key", c)
    if entity is Entity.ATTRIBUTE:
        if c.key in _RUN_TEXT:
            return text_comparison(_RUN_TEXT[c.key], c)
        if c.key in _RUN_NUMERIC:
            return numeric_comparison(_RUN_NUMERIC[c.key], c)
        raise _unsupported(f"attribute {c.key!r}")
    if entity is Entity.DATASET:
        return "FALSE", []  # this store records no dataset inputs: no run has one
    raise _unsupported(f"{entity.value}s")


def _filter_join(c: Comparison, alias: str) -> tuple[str, list[Any]] | None:
    """An inner join that applies a top-level comparison on a metric, param or tag.

    Every (run, key) has at most one row, so the join neither duplicates nor loses runs; on
    DuckDB it is cheaper than the equivalent ``IN`` semi-join. None for comparisons that are
    not of that kind (``IS NULL`` needs the anti-join).
    """
    if c.entity is Entity.METRIC:
        op = _NUMERIC_OPS.get(c.op)
        if op is None:
            return None
        return (
            f"JOIN metric_series {alias} ON {alias}.run_key = r.run_key AND {alias}.key = ? "
            f"AND NOT isnan({alias}.value) AND {alias}.value {op} ?",
            [c.key, float(c.value)],  # type: ignore[arg-type]
        )
    table = _KEY_VALUE_TABLES.get(c.entity)
    if table is None or c.op is Op.IS_NULL:
        return None
    head = f"JOIN {table} {alias} ON {alias}.run_key = r.run_key AND {alias}.key = ?"
    if c.op is Op.IS_NOT_NULL:
        return head, [c.key]
    value_sql, value_params = text_comparison(f"{alias}.value", c)
    return f"{head} AND {value_sql}", [c.key, *value_params]


def _direction(key: OrderKey) -> str:
    return "ASC" if key.ascending else "DESC"


def _run_order(key: OrderKey, alias: str) -> tuple[list[str], list[Any], list[tuple[str, str]]]:
    """(joins, join params, (expression, direction) terms) for one order key of a run search."""
    direction = _direction(key)
    if key.entity is Entity.ATTRIBUTE:
        column = _RUN_TEXT.get(key.key) or _RUN_NUMERIC.get(key.key)
        if column is None:
            raise _unsupported(f"ordering by attribute {key.key!r}")
        if column in _NOT_NULL:  # nothing to put last: one sort key fewer
            return [], [], [(column, direction)]
        return [], [], [(f"{column} IS NULL", "ASC"), (column, direction)]
    if key.entity is Entity.METRIC:
        join = f"LEFT JOIN metric_series {alias} ON {alias}.run_key = r.run_key AND {alias}.key = ?"
        rank = (
            f"CASE WHEN {alias}.run_key IS NULL THEN 2 WHEN isnan({alias}.value) THEN 1 ELSE 0 END"
        )
        return [join], [key.key], [(rank, "ASC"), (f"{alias}.value", direction)]
    table = _KEY_VALUE_TABLES.get(key.entity)
    if table is None:
        raise _unsupported(f"ordering by {key.entity.value}s")
    join = f"LEFT JOIN {table} {alias} ON {alias}.run_key = r.run_key AND {alias}.key = ?"
    return [join], [key.key], [(f"{alias}.value IS NULL", "ASC"), (f"{alias}.value", direction)]


def compile_run_search(
    *,
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    expr: Expr | None,
    order: Sequence[OrderKey],
    limit: int,
    offset: int,
) -> Compiled:
    """One query for one page of a run search: the runs' rows, in order.

    The page itself (filter, order, limit, offset) is a subquery on the narrow tables; the
    runs' rows are joined to it (:func:`~trackyard_duckdb._runs.page_query`) and their data
    read for the page only (:func:`~trackyard_duckdb._runs.read_runs`).

    Args:
        experiment_ids: experiments to search (non-empty).
        stages: lifecycle stages to include.
        expr: the parsed filter, or None.
        order: the complete order (the request's, defaults and tie-breakers included).
        limit: rows to return (callers ask for one more than the page size).
        offset: rows to skip.

    Returns:
        SQL whose rows are :data:`~trackyard_duckdb._runs.RUN_COLUMNS`, and its parameters.
    """
    joins: list[str] = []
    params: list[Any] = []
    terms: list[tuple[str, str]] = []
    for i, key in enumerate(order):
        j, p, t = _run_order(key, f"o{i}")
        joins.extend(j)
        params.extend(p)
        terms.extend(t)
    where = [
        f"r.experiment_id IN ({', '.join('?' for _ in experiment_ids)})",
        f"r.lifecycle_stage IN ({', '.join('?' for _ in stages)})",
    ]
    where_params: list[Any] = [*experiment_ids, *stages]
    top = expr.items if isinstance(expr, And) else (() if expr is None else (expr,))
    for i, term in enumerate(top):
        join = _filter_join(term, f"f{i}") if isinstance(term, Comparison) else None
        if join is not None:
            joins.append(join[0])
            params.extend(join[1])
            continue
        sql, p = condition(term, _run_comparison)
        where.append(f"({sql})")
        where_params.extend(p)
    params.extend(where_params)
    order_columns = [(f"k{i}", direction) for i, (_, direction) in enumerate(terms)]
    selected = ", ".join(f"{e} AS k{i}" for i, (e, _) in enumerate(terms))
    page = (
        f"SELECT r.run_key, {selected} FROM runs r {' '.join(joins)} "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(f'{c} {d}' for c, d in order_columns)} LIMIT ? OFFSET ?"
    )
    return page_query(page, order_columns), [*params, limit, offset]


def _experiment_comparison(c: Comparison) -> Compiled:
    if c.entity is Entity.TAG:
        return key_value_condition("e.experiment_id", "experiment_tags", "experiment_id", c)
    if c.entity is Entity.ATTRIBUTE:
        if c.key == "name":
            return text_comparison("e.name", c)
        if c.key == "experiment_id":
            return text_comparison("CAST(e.experiment_id AS VARCHAR)", c)
        if c.key in _EXPERIMENT_NUMERIC:
            return numeric_comparison(_EXPERIMENT_NUMERIC[c.key], c)
    raise _unsupported(f"experiments by {c.entity.value} {c.key!r}")


def _experiment_order(key: OrderKey) -> list[str]:
    if key.entity is not Entity.ATTRIBUTE:
        raise _unsupported(f"ordering experiments by {key.entity.value}s")
    direction = _direction(key)
    if key.key == "name":
        return [f"e.name {direction}"]
    if key.key == "experiment_id":  # compared as strings, as the evaluator does
        return [f"CAST(e.experiment_id AS VARCHAR) {direction}"]
    column = _EXPERIMENT_NUMERIC.get(key.key)
    if column is None:
        raise _unsupported(f"ordering experiments by {key.key!r}")
    return [f"{column} IS NULL", f"{column} {direction}"]


def compile_experiment_search(
    *,
    stages: Sequence[str],
    expr: Expr | None,
    order: Sequence[OrderKey],
    limit: int,
    offset: int,
) -> Compiled:
    """The query for one page of an experiment search; rows hold :data:`EXPERIMENT_COLUMNS`."""
    where = [f"e.lifecycle_stage IN ({', '.join('?' for _ in stages)})"]
    params: list[Any] = list(stages)
    if expr is not None:
        sql, p = condition(expr, _experiment_comparison)
        where.append(f"({sql})")
        params.extend(p)
    terms: list[str] = []
    for key in order:
        terms.extend(_experiment_order(key))
    columns = ", ".join(f"e.{c}" for c in EXPERIMENT_COLUMNS)
    text = (
        f"SELECT {columns} FROM experiments e WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?"
    )
    return text, [*params, limit, offset]
