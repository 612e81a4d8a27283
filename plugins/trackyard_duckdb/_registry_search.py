"""Compile registered-model and model-version searches into one DuckDB query each.

Semantics of :mod:`trackyard.search.registry_evaluator`: the filter is first split by
:func:`trackyard.search.effective_filter`; unless it asks for prompts, models tagged
``mlflow.prompt.is_prompt = 'true'`` (any case) are left out, and so are the versions of a
model any of whose (visible) versions carries that tag. Deleted versions never match.
Comparisons, NULLs and ordering follow :mod:`trackyard_duckdb._search`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trackyard.entities.model_registry import IS_PROMPT_TAG_KEY, Stage
from trackyard.errors import TrackyardError
from trackyard.search import Comparison, Entity, Expr, OrderKey, effective_filter
from trackyard_duckdb._search import (
    Compiled,
    condition,
    key_value_condition,
    numeric_comparison,
    text_comparison,
)

__all__ = ["compile_model_search", "compile_version_search"]

_PROMPT_MODELS = (
    "SELECT model_key FROM registered_model_tags WHERE key = ? AND lower(value) = 'true'"
)
_PROMPT_VERSION_MODELS = (
    "SELECT t.model_key FROM model_version_tags t JOIN model_versions pv "
    "ON pv.model_key = t.model_key AND pv.version = t.version "
    "WHERE t.key = ? AND lower(t.value) = 'true' AND pv.current_stage <> ?"
)


def _unsupported(what: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"The DuckDB store cannot search on {what}")


def _direction(key: OrderKey) -> str:
    return "ASC" if key.ascending else "DESC"


def _model_comparison(c: Comparison) -> Compiled:
    if c.entity is Entity.TAG:
        return key_value_condition("m.model_key", "registered_model_tags", "model_key", c)
    if c.entity is Entity.ATTRIBUTE and c.key == "name":
        return text_comparison("m.name", c)
    raise _unsupported(f"registered models by {c.entity.value} {c.key!r}")


_MODEL_ORDER = {
    "name": "m.name",
    "last_updated_timestamp": "m.last_updated_timestamp",
    "creation_timestamp": "m.creation_timestamp",
}


def _order_terms(order: Sequence[OrderKey], columns: dict[str, str], noun: str) -> list[str]:
    terms: list[str] = []
    for key in order:
        column = columns.get(key.key) if key.entity is Entity.ATTRIBUTE else None
        if column is None:
            raise _unsupported(f"ordering {noun} by {key.entity.value} {key.key!r}")
        terms.extend([f"{column} IS NULL", f"{column} {_direction(key)}"])
    return terms


def compile_model_search(
    *, expr: Expr | None, order: Sequence[OrderKey], limit: int, offset: int
) -> Compiled:
    """The query for one page of a registered-model search; rows hold ``model_key``."""
    applied, prompts = effective_filter(expr)
    where: list[str] = []
    params: list[Any] = []
    if not prompts:
        where.append(f"m.model_key NOT IN ({_PROMPT_MODELS})")
        params.append(IS_PROMPT_TAG_KEY)
    if applied is not None:
        sql, p = condition(applied, _model_comparison)
        where.append(f"({sql})")
        params.extend(p)
    text = (
        "SELECT m.model_key FROM registered_models m"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {', '.join(_order_terms(order, _MODEL_ORDER, 'registered models'))}"
        + " LIMIT ? OFFSET ?"
    )
    return text, [*params, limit, offset]


def _version_comparison(c: Comparison) -> Compiled:
    if c.entity is Entity.TAG:
        # a version is identified by (model_key, version): compare the pair
        head = "SELECT model_key, version FROM model_version_tags WHERE key = ?"
        value_sql, value_params = text_comparison("value", c)
        return (
            f"(v.model_key, v.version) IN ({head} AND {value_sql})",
            [c.key, *value_params],
        )
    if c.entity is Entity.ATTRIBUTE:
        if c.key == "name":
            return text_comparison("m.name", c)
        if c.key == "run_id":
            return text_comparison("v.run_id", c)
        if c.key == "source_path":
            return text_comparison("v.source", c)
        if c.key == "version_number":
            return numeric_comparison("v.version", c)
    raise _unsupported(f"model versions by {c.entity.value} {c.key!r}")


_VERSION_ORDER = {
    "name": "m.name",
    "version_number": "v.version",
    "creation_timestamp": "v.creation_timestamp",
    "last_updated_timestamp": "v.last_updated_timestamp",
}


def compile_version_search(
    *, expr: Expr | None, order: Sequence[OrderKey], limit: int, offset: int
) -> Compiled:
    """The query for one page of a model-version search; rows hold (model_key, version)."""
    applied, prompts = effective_filter(expr)
    where = ["v.current_stage <> ?"]
    params: list[Any] = [Stage.DELETED_INTERNAL]
    if not prompts:
        where.append(f"v.model_key NOT IN ({_PROMPT_VERSION_MODELS})")
        params.extend([IS_PROMPT_TAG_KEY, Stage.DELETED_INTERNAL])
    if applied is not None:
        sql, p = condition(applied, _version_comparison)
        where.append(f"({sql})")
        params.extend(p)
    text = (
        "SELECT v.model_key, v.version FROM model_versions v "
        "JOIN registered_models m ON m.model_key = v.model_key "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(_order_terms(order, _VERSION_ORDER, 'model versions'))} "
        "LIMIT ? OFFSET ?"
    )
    return text, [*params, limit, offset]
