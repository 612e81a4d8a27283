"""Compile a logged-model search into one DuckDB query for the rows of its page.

The semantics are those of :mod:`trackyard.search.logged_model_evaluator`, in SQL over the
tables of :mod:`trackyard_duckdb.schema.tracking`:

- attributes compare as strings (``status`` by its name) or as numbers; NULL never matches;
- a metric term is a semi-join on ``logged_model_metrics``: it holds when *any* point of
  the key satisfies it (within ``request.datasets`` when given); NaN points never match
  (DuckDB would otherwise rank NaN above every number);
- param and tag terms are semi-joins on their key-value tables (a missing key never matches);
- with datasets and no metric term, a model needs a point of one of the datasets;
- a metric order key is the newest point of the key (greatest timestamp, then step, then the
  smallest run id; only the key's dataset when it names one), one window pass over the
  candidates' points; present values sort first in both directions, then NaN, then models
  without the metric. Status orders by name, as the evaluator does.

Every value is a bound parameter. The request's order always ends with ``model_id``, so the
order is total and a page is ``LIMIT max_results + 1 OFFSET offset``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LifecycleStage, LoggedModelStatus
from trackyard.errors import TrackyardError
from trackyard.search import Comparison, Entity, OrderKey
from trackyard.search.logged_model_evaluator import has_metric_terms
from trackyard_duckdb._search import (
    Compiled,
    condition,
    key_value_condition,
    numeric_comparison,
    text_comparison,
)

if TYPE_CHECKING:
    from trackyard.search.request import LoggedModelSearch

__all__ = ["compile_logged_model_search"]

#: ``status`` (MLflow's integer) as the name the evaluator compares and orders by.
_STATUS_NAME = (
    "CASE m.status "
    + " ".join(f"WHEN {s.to_int()} THEN '{s.value}'" for s in LoggedModelStatus)
    + f" ELSE '{LoggedModelStatus.UNSPECIFIED.value}' END"
)
_TEXT = {
    "model_id": "m.model_id",
    "name": "m.name",
    "source_run_id": "m.source_run_id",
    "model_type": "m.model_type",
    "status": _STATUS_NAME,
}
_NUMERIC = {
    "creation_timestamp": "m.creation_timestamp",
    "last_updated_timestamp": "m.last_updated_timestamp",
}
_NULLABLE = frozenset({"source_run_id", "model_type"})
_KEY_VALUE_TABLES = {Entity.PARAM: "logged_model_params", Entity.TAG: "logged_model_tags"}


def _unsupported(what: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(
        f"The DuckDB store cannot search logged models on {what}"
    )


def _datasets_condition(alias: str, datasets: Sequence[tuple[str, str | None]]) -> Compiled:
    """Points of ``alias`` logged with one of ``datasets`` (name, and digest when given)."""
    parts: list[str] = []
    params: list[Any] = []
    for name, digest in datasets:
        if digest is None:
            parts.append(f"{alias}.dataset_name = ?")
            params.append(name)
        else:
            parts.append(f"({alias}.dataset_name = ? AND {alias}.dataset_digest = ?)")
            params += [name, digest]
    return "(" + " OR ".join(parts) + ")", params


def _comparison(c: Comparison, datasets: Sequence[tuple[str, str | None]]) -> Compiled:
    if c.entity is Entity.ATTRIBUTE:
        if c.key in _TEXT:
            return text_comparison(_TEXT[c.key], c)
        if c.key in _NUMERIC:
            return numeric_comparison(_NUMERIC[c.key], c)
        raise _unsupported(f"attribute {c.key!r}")
    if c.entity is Entity.METRIC:
        value_sql, value_params = numeric_comparison("x.value", c)
        sql = f"x.key = ? AND NOT isnan(x.value) AND {value_sql}"
        params: list[Any] = [c.key, *value_params]
        if datasets:
            scope, scope_params = _datasets_condition("x", datasets)
            sql += f" AND {scope}"
            params += scope_params
        return f"m.model_id IN (SELECT x.model_id FROM logged_model_metrics x WHERE {sql})", params
    table = _KEY_VALUE_TABLES.get(c.entity)
    if table is None:
        raise _unsupported(f"{c.entity.value}s")
    return key_value_condition("m.model_id", table, "model_id", c)


def _order(
    key: OrderKey, i: int, direction: str
) -> tuple[str | None, list[Any], list[tuple[str, str]]]:
    """(join, join params, (expression, direction) terms) for one order key."""
    if key.entity is Entity.METRIC:
        alias = f"o{i}"
        where = "x.key = ?"
        params: list[Any] = [key.key]
        name = getattr(key, "dataset_name", None)
        digest = getattr(key, "dataset_digest", None)
        if name is not None:
            where += " AND x.dataset_name = ?"
            params.append(name)
        if digest is not None:
            where += " AND x.dataset_digest = ?"
            params.append(digest)
        join = (
            f"LEFT JOIN (SELECT x.model_id, x.value FROM logged_model_metrics x "
            f"WHERE {where} AND x.model_id IN (SELECT model_id FROM candidates) "
            "QUALIFY row_number() OVER (PARTITION BY x.model_id "
            "ORDER BY x.timestamp DESC, x.step DESC, x.run_id ASC) = 1) "
            f"{alias} ON {alias}.model_id = m.model_id"
        )
        rank = (
            f"CASE WHEN {alias}.model_id IS NULL THEN 2 WHEN isnan({alias}.value) THEN 1 ELSE 0 END"
        )
        return join, params, [(rank, "ASC"), (f"{alias}.value", direction)]
    if key.entity is Entity.ATTRIBUTE:
        column = _TEXT.get(key.key) or _NUMERIC.get(key.key)
        if column is None:
            raise _unsupported(f"ordering by attribute {key.key!r}")
        if key.key in _NULLABLE:
            return None, [], [(f"{column} IS NULL", "ASC"), (column, direction)]
        return None, [], [(column, direction)]
    raise _unsupported(f"ordering by {key.entity.value}s")


def compile_logged_model_search(
    request: LoggedModelSearch, experiment_ids: Sequence[int], columns: Sequence[str]
) -> Compiled:
    """The query for the rows of ``request``'s page (plus one, to tell whether more follow).

    ``experiment_ids`` are the request's experiment ids that can exist, as integers;
    ``columns`` the ``logged_models`` columns selected.
    """
    where = ["m.experiment_id IN (SELECT unnest(?::BIGINT[]))", "m.lifecycle_stage = ?"]
    params: list[Any] = [list(experiment_ids), LifecycleStage.ACTIVE]
    datasets = request.datasets
    if request.filter is not None:
        sql, p = condition(request.filter, lambda c: _comparison(c, datasets))
        where.append(f"({sql})")
        params += p
    if datasets and not has_metric_terms(request.filter):
        scope, scope_params = _datasets_condition("x", datasets)
        where.append(f"m.model_id IN (SELECT x.model_id FROM logged_model_metrics x WHERE {scope})")
        params += scope_params
    joins: list[str] = []
    join_params: list[Any] = []
    terms: list[str] = []
    for i, key in enumerate(request.order_by):
        join, p, key_terms = _order(key, i, "ASC" if key.ascending else "DESC")
        if join is not None:
            joins.append(join)
            join_params += p
        terms += [f"{expression} {direction}" for expression, direction in key_terms]
    sql = (
        f"WITH candidates AS (SELECT m.model_id FROM logged_models m "
        f"WHERE {' AND '.join(where)}) "
        f"SELECT {', '.join('m.' + c for c in columns)} FROM logged_models m {' '.join(joins)} "
        "WHERE m.model_id IN (SELECT model_id FROM candidates) "
        f"ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?"
    )
    return sql, [*params, *join_params, request.max_results + 1, request.offset]
