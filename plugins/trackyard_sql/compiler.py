"""The search compiler: parsed search requests (:mod:`trackyard.search.request`) to SQL.

One compiler for the four searches: runs, experiments, registered models and model versions.
It compiles ``request.filter`` (an AST) and ``request.order_by`` (the complete order) and never
sees filter text. The semantics are those of :mod:`trackyard.search.evaluator` and
:mod:`trackyard.search.registry_evaluator`, reproduced in SQL:

- metrics compare the latest value (``latest_metrics``); NaN rows (``is_nan``) never match;
- a comparison on a metric, param or tag holds only if the key is present (``EXISTS``), so a
  missing key matches nothing, ``!=`` included; ``IS NULL`` is ``NOT EXISTS``;
- attributes that are NULL never match (SQL's three-valued logic does this, since the
  compiler never negates a compound condition);
- ordering puts, for every key, present values first (ascending or descending), then NaN
  (metrics), then missing values, in both directions; strings sort by code point;
- registry searches leave prompts out unless the filter asks for them
  (:func:`trackyard.search.effective_filter`), and deleted versions never match.

Every value is a bound parameter: filter values cannot inject SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trackyard import search
from trackyard.entities.model_registry import IS_PROMPT_TAG_KEY, Stage
from trackyard.errors import TrackyardError
from trackyard.search import DATASET_CONTEXT_TAG, And, Comparison, Entity, Expr, Op, Or, OrderKey
from trackyard_sql.dialect import Dialect
from trackyard_sql.schema import DATASET_SOURCE_TYPE, RUN_DESTINATION_TYPE

if TYPE_CHECKING:
    from trackyard.search.request import (
        ExperimentSearch,
        ModelVersionSearch,
        RegisteredModelSearch,
        RunSearch,
    )

__all__ = [
    "EXPERIMENT_COLUMNS",
    "RUN_COLUMNS",
    "RUN_INSERT",
    "Filter",
    "compile_experiment_search",
    "compile_model_version_filter",
    "compile_registered_model_filter",
    "compile_run_search",
]

#: Columns selected for a run, in the order run rows hold them.
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
#: Insert one run: a row of :data:`RUN_COLUMNS` then ``source_type``, ``source_name``,
#: ``entry_point_name``, ``source_version`` and ``deleted_time`` (``?`` marks, for ``Dialect.sql``).
RUN_INSERT = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}, source_type, source_name, entry_point_name, "
    f"source_version, deleted_time) VALUES ({', '.join('?' * (len(RUN_COLUMNS) + 5))})"
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
_VERSION_STRING_ATTRIBUTES = {"name": "mv.name", "run_id": "mv.run_id", "source_path": "mv.source"}
_VERSION_TIMES = {
    "creation_timestamp": "mv.creation_time",
    "last_updated_timestamp": "mv.last_updated_time",
}
_NUMERIC_SQL_OPS = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}

SQL = tuple[str, list[Any]]


def _unsupported(what: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"The SQL store cannot search on {what}")


@dataclass(frozen=True)
class Filter:
    """The WHERE condition and ORDER BY of a registry search, ready to wrap in a page query.

    Attributes:
        where: the condition on the searched table (alias ``rm`` or ``mv``).
        params: its parameters, in text order.
        order: the ORDER BY terms (no parameters).
    """

    where: str
    params: list[Any]
    order: str


class _Compiler:
    """Accumulates SQL fragments and their parameters, in text order.

    Args:
        dialect: the target database.
        workspace: whether the tables have MLflow's ``workspace`` column (registry joins
            match it).
        datasets: whether the dataset tables exist (run searches).
        fence: end ``EXISTS`` subqueries with :attr:`Dialect.exists_fence` (run and
            experiment searches).
    """

    def __init__(
        self, dialect: Dialect, *, workspace: bool = False, datasets: bool = False, fence: bool
    ) -> None:
        self.d = dialect
        self.workspace = workspace
        self.datasets = datasets
        self.fence = dialect.exists_fence if fence else ""
        self.alias = 0

    def next_alias(self, prefix: str) -> str:
        self.alias += 1
        return f"{prefix}{self.alias}"

    # -- filters ---------------------------------------------------------------------------
    def condition(self, expr: Expr, compare: Callable[[Comparison], SQL]) -> SQL:
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

    def text(self, column: str, c: Comparison) -> SQL:
        return self.d.compare_text(column, c.op.value, c.value)

    def numeric(self, column: str, c: Comparison, cast: Callable[[Any], Any] = lambda v: v) -> SQL:
        op = _NUMERIC_SQL_OPS.get(c.op)
        if op is None:
            raise _unsupported(f"{c.key} {c.op.value}")
        return f"{column} {op} ?", [cast(c.value)]

    def tag_exists(self, table: str, owner: str, columns: Sequence[str], c: Comparison) -> SQL:
        """EXISTS / NOT EXISTS over a key-value table joined to ``owner`` on ``columns``."""
        a = self.next_alias("kv")
        joins = " AND ".join(f"{a}.{col} = {owner}.{col}" for col in columns)
        if self.workspace:
            joins += f" AND {a}.workspace = {owner}.workspace"
        key_sql = self.d.key_equals(f'{a}."key"')
        head = f"SELECT 1 FROM {table} {a} WHERE {joins} AND {key_sql}"
        params = self.d.key_params(c.key)
        if c.op is Op.IS_NULL:
            return f"NOT EXISTS ({head}{self.fence})", params
        if c.op is Op.IS_NOT_NULL:
            return f"EXISTS ({head}{self.fence})", params
        value_sql, value_params = self.text(f"{a}.value", c)
        return f"EXISTS ({head} AND {value_sql}{self.fence})", params + value_params

    def metric_exists(self, c: Comparison) -> SQL:
        op = _NUMERIC_SQL_OPS.get(c.op)
        if op is None:
            raise _unsupported(f"metrics with {c.op.value}")
        a = self.next_alias("m")
        key_sql = self.d.key_equals(f'{a}."key"')
        sql = (
            f"EXISTS (SELECT 1 FROM latest_metrics {a} WHERE {a}.run_uuid = r.run_uuid "
            f"AND {key_sql} AND {a}.is_nan = ? AND {a}.value {op} ?{self.fence})"
        )
        return sql, [*self.d.key_params(c.key), False, float(c.value)]  # type: ignore[arg-type]

    def dataset_exists(self, c: Comparison) -> SQL:
        if not self.datasets:
            return "1 = 0", []
        i = self.next_alias("i")
        head = (
            f"SELECT 1 FROM inputs {i} "
            f"WHERE {i}.destination_type = ? AND {i}.destination_id = r.run_uuid "
            f"AND {i}.source_type = ?"
        )
        params: list[Any] = [RUN_DESTINATION_TYPE, DATASET_SOURCE_TYPE]
        if c.key in ("name", "digest"):
            ds = self.next_alias("ds")
            value_sql, value_params = self.text(f"{ds}.{c.key}", c)
            sql = (
                f"EXISTS ({head} AND EXISTS (SELECT 1 FROM datasets {ds} "
                f"WHERE {ds}.dataset_uuid = {i}.source_id AND {value_sql}{self.fence})"
                f"{self.fence})"
            )
            return sql, params + value_params
        if c.key == "context":
            it = self.next_alias("it")
            value_sql, value_params = self.text(f"{it}.value", c)
            sql = (
                f"EXISTS ({head} AND EXISTS (SELECT 1 FROM input_tags {it} "
                f"WHERE {it}.input_uuid = {i}.input_uuid AND {it}.name = ? AND {value_sql}"
                f"{self.fence}){self.fence})"
            )
            return sql, [*params, DATASET_CONTEXT_TAG, *value_params]
        raise _unsupported(f"datasets.{c.key}")

    def not_prompt(self, table: str, owner: str, workspace: str | None) -> SQL:
        """Leave out rows whose model carries the prompt tag (model-level, as MLflow).

        An uncorrelated ``NOT IN``: the set of prompt names is computed once per query
        rather than probed once per row.
        """
        a = self.next_alias("pt")
        scope = f"{a}.workspace = ? AND " if self.workspace else ""
        key_sql = self.d.key_equals(f'{a}."key"')
        value_sql, value_params = self.d.compare_text(f"{a}.value", "=", "true")
        sql = (
            f"{owner}.name NOT IN (SELECT {a}.name FROM {table} {a} "
            f"WHERE {scope}{key_sql} AND {value_sql})"
        )
        scope_params = [workspace] if self.workspace else []
        return sql, [*scope_params, *self.d.key_params(IS_PROMPT_TAG_KEY), *value_params]

    # -- comparisons per search ------------------------------------------------------------
    def run_comparison(self, c: Comparison) -> SQL:
        entity = c.entity
        if entity is Entity.METRIC:
            return self.metric_exists(c)
        if entity is Entity.PARAM:
            return self.tag_exists("params", "r", ("run_uuid",), c)
        if entity is Entity.TAG:
            return self.tag_exists("tags", "r", ("run_uuid",), c)
        if entity is Entity.ATTRIBUTE:
            if c.key in _RUN_STRING_ATTRIBUTES:
                return self.text(_RUN_STRING_ATTRIBUTES[c.key], c)
            if c.key in _RUN_NUMERIC_ATTRIBUTES:
                return self.numeric(_RUN_NUMERIC_ATTRIBUTES[c.key], c)
            raise _unsupported(f"attribute {c.key!r}")
        if entity is Entity.DATASET:
            return self.dataset_exists(c)
        raise _unsupported(f"{entity.value}s")

    def experiment_comparison(self, c: Comparison) -> SQL:
        if c.entity is Entity.TAG:
            return self.tag_exists("experiment_tags", "e", ("experiment_id",), c)
        if c.entity is Entity.ATTRIBUTE:
            if c.key == "name":
                return self.text("e.name", c)
            if c.key == "experiment_id":
                return self.text(self.d.cast_text("e.experiment_id"), c)
            if c.key in _EXPERIMENT_NUMERIC_ATTRIBUTES:
                return self.numeric(_EXPERIMENT_NUMERIC_ATTRIBUTES[c.key], c)
        raise _unsupported(f"experiments by {c.entity.value} {c.key!r}")

    def model_comparison(self, c: Comparison) -> SQL:
        if c.entity is Entity.TAG:
            return self.tag_exists("registered_model_tags", "rm", ("name",), c)
        if c.entity is Entity.ATTRIBUTE and c.key == "name":
            return self.text("rm.name", c)
        raise _unsupported(f"registered models by {c.entity.value} {c.key!r}")

    def version_comparison(self, c: Comparison) -> SQL:
        if c.entity is Entity.TAG:
            return self.tag_exists("model_version_tags", "mv", ("name", "version"), c)
        if c.entity is Entity.ATTRIBUTE:
            if c.key in _VERSION_STRING_ATTRIBUTES:
                return self.text(_VERSION_STRING_ATTRIBUTES[c.key], c)
            if c.key == "version_number" and c.op in _NUMERIC_SQL_OPS:
                return self.numeric("mv.version", c, int)
        raise _unsupported(f"model versions by {c.entity.value} {c.key!r} {c.op.value}")

    # -- ordering --------------------------------------------------------------------------
    def present_last(self, column: str) -> str:
        return f"CASE WHEN {column} IS NULL THEN 1 ELSE 0 END"

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

    def model_order(self, key: OrderKey) -> list[str]:
        direction = "ASC" if key.ascending else "DESC"
        if key.entity is Entity.ATTRIBUTE:
            if key.key == "name":
                return [f"{self.d.order_text('rm.name')} {direction}"]
            if key.key == "last_updated_timestamp":
                col = "rm.last_updated_time"
                return [self.present_last(col), f"{col} {direction}"]
        raise _unsupported(f"ordering registered models by {key.key!r}")

    def version_order(self, key: OrderKey) -> list[str]:
        direction = "ASC" if key.ascending else "DESC"
        if key.entity is Entity.ATTRIBUTE:
            if key.key == "name":
                return [f"{self.d.order_text('mv.name')} {direction}"]
            if key.key == "version_number":
                return [f"mv.version {direction}"]
            if key.key in _VERSION_TIMES:
                column = _VERSION_TIMES[key.key]
                return [self.present_last(column), f"{column} {direction}"]
        raise _unsupported(f"ordering model versions by {key.key!r}")


# -- the four searches -------------------------------------------------------------------------


def compile_run_search(
    dialect: Dialect,
    request: RunSearch,
    *,
    experiment_ids: Sequence[int],
    stages: Sequence[str],
    datasets: bool = True,
    limit: int | None = None,
    offset: int | None = None,
) -> SQL:
    """The query for one page of a run search; its rows hold the run id only.

    Args:
        dialect: the target database.
        request: the search (its filter, order and paging).
        experiment_ids: the integer ids of the experiments to search (non-empty).
        stages: lifecycle stages to include.
        datasets: whether the ``inputs``/``datasets``/``input_tags`` tables exist.
        limit: rows to return (default: one more than the page size, to know whether
            another page follows); the paging parameters are the last two.
        offset: rows to skip (default: the request's offset).

    Returns:
        The SQL text (driver placeholders) and its parameters.
    """
    b = _Compiler(dialect, datasets=datasets, fence=True)
    joins: list[str] = []
    join_params: list[Any] = []
    terms: list[str] = []
    order_params: list[Any] = []
    for key in request.order_by:
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
    if request.filter is not None:
        sql, params = b.condition(request.filter, b.run_comparison)
        where.append(f"({sql})")
        where_params.extend(params)
    terms = terms or ["r.run_uuid"]  # a request built without order keys: any stable order
    paging, paging_params = dialect.limit_offset(
        request.max_results + 1 if limit is None else limit,
        request.offset if offset is None else offset,
    )
    # Only the ids: the database sorts narrow records; the page's columns are fetched after.
    text = (
        f"SELECT r.run_uuid FROM runs r {' '.join(joins)} WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(terms)} {paging}"
    )
    return dialect.sql(text), [*join_params, *where_params, *order_params, *paging_params]


def compile_experiment_search(
    dialect: Dialect, request: ExperimentSearch, *, stages: Sequence[str], workspace: str | None
) -> SQL:
    """The query for one page of an experiment search (one row more than the page size).

    Args:
        dialect: the target database.
        request: the search.
        stages: lifecycle stages to include.
        workspace: the MLflow workspace to search, or None when the table has no
            ``workspace`` column.

    Returns:
        The SQL text and its parameters. Rows hold :data:`EXPERIMENT_COLUMNS`.
    """
    b = _Compiler(dialect, fence=True)
    where = [f"e.lifecycle_stage IN ({dialect.marks(len(stages))})"]
    params: list[Any] = list(stages)
    if workspace is not None:
        where.append("e.workspace = ?")
        params.append(workspace)
    if request.filter is not None:
        sql, p = b.condition(request.filter, b.experiment_comparison)
        where.append(f"({sql})")
        params.extend(p)
    terms = [t for key in request.order_by for t in b.experiment_order(key)] or ["e.experiment_id"]
    paging, paging_params = dialect.limit_offset(request.max_results + 1, request.offset)
    columns = ", ".join(f"e.{c}" for c in EXPERIMENT_COLUMNS)
    text = (
        f"SELECT {columns} FROM experiments e WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(terms)} {paging}"
    )
    return dialect.sql(text), [*params, *paging_params]


def _registry_filter(
    b: _Compiler,
    expr: Expr | None,
    compare: Callable[[Comparison], SQL],
    where: list[str],
    params: list[Any],
    alias: str,
    tag_table: str,
    workspace: str | None,
) -> tuple[str, list[Any]]:
    if workspace is not None:
        where.append(f"{alias}.workspace = ?")
        params.append(workspace)
    expr, prompts = search.effective_filter(expr)
    if expr is not None:
        sql, p = b.condition(expr, compare)
        where.append(f"({sql})")
        params.extend(p)
    if not prompts:
        sql, p = b.not_prompt(tag_table, alias, workspace)
        where.append(sql)
        params.extend(p)
    return " AND ".join(where), params


def compile_registered_model_filter(
    dialect: Dialect, request: RegisteredModelSearch, *, workspace: str | None
) -> Filter:
    """The condition (table alias ``rm``) and order of a registered-model search."""
    b = _Compiler(dialect, workspace=workspace is not None, fence=False)
    where, params = _registry_filter(
        b, request.filter, b.model_comparison, [], [], "rm", "registered_model_tags", workspace
    )
    order = ", ".join(t for key in request.order_by for t in b.model_order(key))
    return Filter(where or "1 = 1", params, order or "rm.name")


def compile_model_version_filter(
    dialect: Dialect, request: ModelVersionSearch, *, workspace: str | None
) -> Filter:
    """The condition (table alias ``mv``) and order of a model-version search."""
    b = _Compiler(dialect, workspace=workspace is not None, fence=False)
    where, params = _registry_filter(
        b,
        request.filter,
        b.version_comparison,
        ["mv.current_stage <> ?"],
        [Stage.DELETED_INTERNAL],
        "mv",
        "model_version_tags",
        workspace,
    )
    order = ", ".join(t for key in request.order_by for t in b.version_order(key))
    return Filter(where, params, order or "mv.name, mv.version")
