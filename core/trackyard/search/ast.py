"""The typed syntax tree of filter strings and order_by clauses.

A filter parses to an :data:`Expr`: a :class:`Comparison`, or an :class:`And` / :class:`Or`
of sub-expressions (``OR`` and parentheses are a trackyard extension; MLflow accepts only
``AND``). Keys are canonical: entity aliases (``metrics.``, ``param.``, ``attr.``...) and
attribute aliases (``created`` for ``start_time``, ```Run name``` for ``run_name``) are
resolved by the parser, so backends see one spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "And",
    "Comparison",
    "Entity",
    "Expr",
    "Op",
    "Or",
    "OrderKey",
    "SearchKind",
]


class SearchKind(str, Enum):
    """Which search a filter belongs to; each has its own keys and rules.

    ``PROMPTS`` is the filter of ``MlflowClient.search_prompts``: the registered-model keys
    plus MLflow's ``experiment_id = '<id>'`` term. The client turns it into a
    registered-model search (:meth:`trackyard.search.request.RegisteredModelSearch.parse_prompts`),
    so stores never receive it.
    """

    RUNS = "runs"
    EXPERIMENTS = "experiments"
    REGISTERED_MODELS = "registered_models"
    MODEL_VERSIONS = "model_versions"
    PROMPTS = "prompts"
    LOGGED_MODELS = "logged_models"
    TRACES = "traces"


class Entity(str, Enum):
    """What a comparison's key names."""

    METRIC = "metric"
    PARAM = "param"
    TAG = "tag"
    ATTRIBUTE = "attribute"
    DATASET = "dataset"
    METADATA = "metadata"  # trace metadata (``metadata.<key>``)
    SPAN = "span"  # a trace's spans (``span.name``): matches when any span matches


class Op(str, Enum):
    """Comparison operators."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    ILIKE = "ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"
    RLIKE = "RLIKE"  # regular expression search (traces only)


@dataclass(frozen=True, slots=True)
class Comparison:
    """``<entity>.<key> <op> <value>``.

    ``value`` is a float for metric comparisons, an int for numeric attributes
    (``start_time``, ``end_time``, ``creation_time``, ``last_update_time``,
    ``version_number``...), a string for string comparisons, a tuple of strings for
    ``IN``/``NOT IN``, and None for ``IS [NOT] NULL``. ``position`` is the character offset
    of the identifier in the filter string.
    """

    entity: Entity
    key: str
    op: Op
    value: str | float | int | tuple[str, ...] | None
    position: int = 0


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Expr, ...]


Expr = Comparison | And | Or


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One order_by clause: ``<entity>.<key> ASC|DESC``."""

    entity: Entity
    key: str
    ascending: bool = True
