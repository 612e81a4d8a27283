"""Compile parsed searches (:mod:`trackyard.search.ast`) into one SQL query each.

The semantics are those of :mod:`trackyard.search.evaluator`, reproduced in SQL:

- metrics compare the latest value (``latest_metrics``); NaN rows (``is_nan``) never match;
- a comparison on a metric, param or tag holds only if the key is present (``EXISTS``), so a
  missing key matches nothing, ``!=`` included; ``IS NULL`` is ``NOT EXISTS``;
- attributes that are NULL never match (SQL's three-valued logic does this, since the
  compiler never negates a compound condition);
- ordering puts, for every key, present values first (ascending or descending), then NaN
  (metrics), then missing values, in both directions; strings sort by code point.

Every value is a bound parameter: filter strings cannot inject SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trackyard.errors import TrackyardError
from trackyard.search import DATASET_CONTEXT_TAG, And, Comparison, Entity, Expr, Op, Or, OrderKey
from trackyard_sql._dialect import Dialect
from trackyard_sql.schema import DATASET_SOURCE_TYPE, RUN_DESTINATION_TYPE

__all__ = [
    "EXPERIMENT_COLUMNS",
    "RUN_COLUMNS",
    "compile_experiment_search",
    "compile_run_search",
]

#: Columns selected for a run, in the order :func:`compile_run_search` returns them.
RUN_COLUMNS = (
    "run_uuid",
    "experiment_id",
    "name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "lifecycle_stage",
    "artifact_uri",
)
#: Columns selected for an experiment.
EXPERIMENT_COLUMNS = (
    "experiment_id",
    "name",
    "artifact_location",
    "lifecycle_stage",
    "creation_time",
    "last_update_time",
)

_RUN_STRING_ATTRIBUTES = {
    "run_id": "r.run_uuid",
    "run_name": "r.name",
    "user_id": "r.user_id",
    "status": "r.status",
    "artifact_uri": "r.artifact_uri",
}
_RUN_NUMERIC_ATTRIBUTES = {"start_time": "r.start_time", "end_time": "r.end_time"}
_EXPERIMENT_NUMERIC_ATTRIBUTES = {
    "creation_time": "e.creation_time",
    "last_update_time": "e.last_update_time",
}
_NUMERIC_SQL_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def _unsupported(what: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"The SQL store cannot search on {what}")


class _Builder:
    """Accumulates SQL fragments and their parameters, in text order."""

    def __init__(self, dialect: Dialect, *, datasets: bool) -> None:
        self.d = dialect
        self.datasets = datasets
        self.alias = 0

    def next_alias(self, prefix: str) -> str:
        self.alias += 1
        return f"{prefix}{self.alias}"

    # -- filters ---------------------------------------------------------------------------
    def condition(
        self, expr: Expr, compare: Callable[[Comparison], tuple[str, list[Any]]]
    ) -> tuple[str, list[Any]]:
        """Compile ``expr`` with ``compare`` for its comparisons; And/Or recursively."""
        if isinstance(expr, Comparison):
            return compare(expr)
        if isinstance(expr, (And, Or)):
            joiner = " AND " if isinstance(expr, And) else " OR "
            parts: list[str] = []
            params: list[Any] = []
            for item in expr.items:
                sql, p = self.condition(item, compare)
                parts.append(f"({sql})")
                params.extend(p)
            return joiner.join(parts), params
        raise _unsupported(repr(expr))

    def text_comparison(self, column: str, c: Comparison) -> tuple[str, list[Any]]:
        return self.d.compare_text(column, c.op.value, c.value)

    def numeric_comparison(self, column: str, c: Comparison) -> tuple[str, list[Any]]:
        op = _NUMERIC_SQL_OPS.get(c.op)
        if op is None:
            raise _unsupported(f"{c.key} {c.op.value}")
        return f"{column} {op} ?", [c.value]

    def key_value_exists(
        self, table: str, owner: str, owner_column: str, c: Comparison
    ) -> tuple[str, list[Any]]:
        """EXISTS / NOT EXISTS over a key-value table (params, tags, experiment tags)."""
        a = self.next_alias("kv")
        key_sql = self.d.key_equals(f'{a}."key"')
        params = self.d.key_params(c.key)
        head = f"SELECT 1 FROM {table} {a} WHERE {a}.{owner_column} = {owner} AND {key_sql}"
        fence = self.d.exists_fence
        if c.op is Op.IS_NULL:
            return f"NOT EXISTS ({head}{fence})", params
        if c.op is Op.IS_NOT_NULL:
            return f"EXISTS ({head}{fence})", params
        value_sql, value_params = self.text_comparison(f"{a}.value", c)
        return f"EXISTS ({head} AND {value_sql}{fence})", params + value_params

    def metric_exists(self, c: Comparison) -> tuple[str, list[Any]]:
        op = _NUMERIC_SQL_OPS.get(c.op)
        if op is None:
            raise _unsupported(f"metrics with {c.op.value}")
        a = self.next_alias("m")
        key_sql = self.d.key_equals(f'{a}."key"')
        sql = (
            f"EXISTS (SELECT 1 FROM latest_metrics {a} WHERE {a}.run_uuid = r.run_uuid "
            f"AND {key_sql} AND {a}.is_nan = ? AND {a}.value {op} ?{self.d.exists_fence})"
        )
        return sql, [*self.d.key_params(c.key), False, float(c.value)]  # type: ignore[arg-type]

    def dataset_exists(self, c: Comparison) -> tuple[str, list[Any]]:
        if not self.datasets:
            return "1 = 0", []
        i = self.next_alias("i")
        fence = self.d.exists_fence
        head = (
            f"SELECT 1 FROM inputs {i} "
            f"WHERE {i}.destination_type = ? AND {i}.destination_id = r.run_uuid "
            f"AND {i}.source_type = ?"
        )
        params: list[Any] = [RUN_DESTINATION_TYPE, DATASET_SOURCE_TYPE]
        if c.key in ("name", "digest"):
            ds = self.next_alias("ds")
            value_sql, value_params = self.text_comparison(f"{ds}.{c.key}", c)
            sql = (
                f"EXISTS ({head} AND EXISTS (SELECT 1 FROM datasets {ds} "
                f"WHERE {ds}.dataset_uuid = {i}.source_id AND {value_sql}{fence}){fence})"
            )
            return sql, params + value_params
        if c.key == "context":
            it = self.next_alias("it")
            value_sql, value_params = self.text_comparison(f"{it}.value", c)
            sql = (
                f"EXISTS ({head} AND EXISTS (SELECT 1 FROM input_tags {it} "
                f"WHERE {it}.input_uuid = {i}.input_uuid AND {it}.name = ? AND {value_sql}"
                f"{fence}){fence})"
            )
            return sql, [*params, DATASET_CONTEXT_TAG, *value_params]
        raise _unsupported(f"datasets.{c.key}")

    def run_comparison(self, c: Comparison) -> tuple[str, list[Any]]:
        entity = c.entity
        if entity is Entity.METRIC:
            return self.metric_exists(c)
        if entity is Entity.PARAM:
            return self.key_value_exists("params", "r.run_uuid", "run_uuid", c)
        if entity is Entity.TAG:
            return self.key_value_exists("tags", "r.run_uuid", "run_uuid", c)
        if entity is Entity.ATTRIBUTE:
            if c.key in _RUN_STRING_ATTRIBUTES:
                return self.text_comparison(_RUN_STRING_ATTRIBUTES[c.key], c)
            if c.key in _RUN_NUMERIC_ATTRIBUTES:
                return self.numeric_comparison(_RUN_NUMERIC_ATTRIBUTES[c.key], c)
            raise _unsupported(f"attribute {c.key!r}")
        if entity is Entity.DATASET:
            return self.dataset_exists(c)
        raise _unsupported(f"{entity.value}s")

    def experiment_comparison(self, c: Comparison) -> tuple[str, list[Any]]:
        if c.entity is Entity.TAG:
            return self.key_value_exists("experiment_tags", "e.experiment_id", "experiment_id", c)
        if c.entity is Entity.ATTRIBUTE:
            if c.key == "name":
                return self.text_comparison("e.name", c)
            if c.key == "experiment_id":
                return self.text_comparison(self.d.cast_text("e.experiment_id"), c)
            if c.key in _EXPERIMENT_NUMERIC_ATTRIBUTES:
                return self.numeric_comparison(_EXPERIMENT_NUMERIC_ATTRIBUTES[c.key], c)
        raise _unsupported(f"experiments by {c.entity.value} {c.key!r}")

    # -- ordering --------------------------------------------------------------------------
    def present_last(self, null_test: str) -> str:
        return f"CASE WHEN {null_test} IS NULL THEN 1 ELSE 0 END"

    def run_order(self, key: OrderKey) -> tuple[list[str], list[Any], list[str], list[Any]]:
        """Return (joins, join params, order terms, order params) for one order key."""
        direction = "ASC" if key.ascending else "DESC"
        if key.entity is Entity.ATTRIBUTE:
            if key.key in _RUN_STRING_ATTRIBUTES:
                col = _RUN_STRING_ATTRIBUTES[key.key]
                return [], [], [self.present_last(col), f"{self.d.order_text(col)} {direction}"], []
            if key.key in _RUN_NUMERIC_ATTRIBUTES:
                col = _RUN_NUMERIC_ATTRIBUTES[key.key]
                return [], [], [self.present_last(col), f"{col} {direction}"], []
            raise _unsupported(f"ordering by attribute {key.key!r}")
        a = self.next_alias("o")
        key_sql = self.d.key_equals(f'{a}."key"')
        key_params = self.d.key_params(key.key)
        if key.entity is Entity.METRIC:
            join = f"LEFT JOIN latest_metrics {a} ON {a}.run_uuid = r.run_uuid AND {key_sql}"
            terms = [
                f"CASE WHEN {a}.run_uuid IS NULL THEN 2 WHEN {a}.is_nan = ? THEN 1 ELSE 0 END",
                f"{a}.value {direction}",
            ]
            return [join], key_params, terms, [True]
        table = {Entity.PARAM: "params", Entity.TAG: "tags"}.get(key.entity)
        if table is None:
            raise _unsupported(f"ordering by {key.entity.value}s")
        join = f"LEFT JOIN {table} {a} ON {a}.run_uuid = r.run_uuid AND {key_sql}"
        terms = [
            f"CASE WHEN {a}.run_uuid IS NULL OR {a}.value IS NULL THEN 1 ELSE 0 END",
            f"{self.d.order_text(f'{a}.value')} {direction}",
        ]
        return [join], key_params, terms, []

    def experiment_order(self, key: OrderKey) -> list[str]:
        direction = "ASC" if key.ascending else "DESC"
        if key.entity is not Entity.ATTRIBUTE:
            raise _unsupported(f"ordering experiments by {key.entity.value}s")
        if key.key == "name":
            return [self.present_last("e.name"), f"{self.d.order_text('e.name')} {direction}"]
        if key.key == "experiment_id":
            text = self.d.order_text(self.d.cast_text("e.experiment_id"))
            return [f"{text} {direction}"]
        if key.key in _EXPERIMENT_NUMERIC_ATTRIBUTES:
            col = _EXPERIMENT_NUMERIC_ATTRIBUTES[key.key]
            return [self.present_last(col), f"{col} {direction}"]
        raise _unsupported(f"ordering experiments by {key.key!r}")


def compile_run_search(
    dialect: Dialect,
    *,
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    expr: Expr | None,
    order: Sequence[OrderKey],
    limit: int,
    offset: int,
    datasets: bool = True,
) -> tuple[str, list[Any]]:
    """Build the query for one page of a run search.

    Args:
        dialect: the target database.
        experiment_ids: experiments to search (non-empty).
        stages: lifecycle stages to include.
        expr: the parsed filter, or None.
        order: the complete effective order (from ``parse_order_by``).
        limit: rows to return (callers ask for one more than the page size).
        offset: rows to skip.
        datasets: whether the ``inputs``/``datasets``/``input_tags`` tables exist.

    Returns:
        The SQL text (driver placeholders) and its parameters. Rows hold the run id only.
    """
    b = _Builder(dialect, datasets=datasets)
    joins: list[str] = []
    join_params: list[Any] = []
    terms: list[str] = []
    order_params: list[Any] = []
    for key in order:
        j, jp, t, tp = b.run_order(key)
        joins.extend(j)
        join_params.extend(jp)
        terms.extend(t)
        order_params.extend(tp)
    where = [
        f"r.experiment_id IN ({dialect.marks(len(experiment_ids))})",
        f"r.lifecycle_stage IN ({dialect.marks(len(stages))})",
    ]
    where_params: list[Any] = [*experiment_ids, *stages]
    if expr is not None:
        sql, params = b.condition(expr, b.run_comparison)
        where.append(f"({sql})")
        where_params.extend(params)
    paging, paging_params = dialect.limit_offset(limit, offset)
    # Only the ids: the database sorts narrow records; the page's columns are fetched after.
    text = (
        f"SELECT r.run_uuid FROM runs r {' '.join(joins)} WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(terms)} {paging}"
    )
    return dialect.sql(text), [*join_params, *where_params, *order_params, *paging_params]


def compile_experiment_search(
    dialect: Dialect,
    *,
    stages: Sequence[str],
    workspace: str | None,
    expr: Expr | None,
    order: Sequence[OrderKey],
    limit: int,
    offset: int,
) -> tuple[str, list[Any]]:
    """Build the query for one page of an experiment search.

    Args:
        dialect: the target database.
        stages: lifecycle stages to include.
        workspace: the MLflow workspace to search, or None when the table has no
            ``workspace`` column.
        expr: the parsed filter, or None.
        order: the complete effective order.
        limit: rows to return.
        offset: rows to skip.

    Returns:
        The SQL text and its parameters. Rows hold :data:`EXPERIMENT_COLUMNS`.
    """
    b = _Builder(dialect, datasets=False)
    where = [f"e.lifecycle_stage IN ({dialect.marks(len(stages))})"]
    params: list[Any] = list(stages)
    if workspace is not None:
        where.append("e.workspace = ?")
        params.append(workspace)
    if expr is not None:
        sql, p = b.condition(expr, b.experiment_comparison)
        where.append(f"({sql})")
        params.extend(p)
    terms: list[str] = []
    for key in order:
        terms.extend(b.experiment_order(key))
    paging, paging_params = dialect.limit_offset(limit, offset)
    columns = ", ".join(f"e.{c}" for c in EXPERIMENT_COLUMNS)
    text = (
        f"SELECT {columns} FROM experiments e WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(terms)} {paging}"
    )
    return dialect.sql(text), [*params, *paging_params]
