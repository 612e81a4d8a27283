"""The reference semantics of registered-model and model-version search, in pure Python.

Same rules as :mod:`trackyard.search.evaluator` (missing tags and None attributes never
match, ``LIKE`` is case-sensitive, strings compare by code point, missing values sort last in
both directions), applied to the registry's keys:

- registered models: attribute ``name``; ``tags.<key>``. Order keys ``name`` and
  ``last_updated_timestamp`` (``timestamp`` is parsed into the latter).
- model versions: attributes ``name``, ``run_id``, ``source_path`` (the version's
  ``source``) and ``version_number`` (numeric); ``tags.<key>``. Order keys ``name``,
  ``version_number``, ``creation_timestamp`` and ``last_updated_timestamp``.

**Prompts** are registered models (and versions) tagged ``mlflow.prompt.is_prompt = 'true'``
and are left out of both searches unless the filter *asks for prompts*, as MLflow decides it:
the first top-level ``AND`` term on the tag ``mlflow.prompt.is_prompt`` is
``= 'true'`` or ``!= 'false'`` (values compared case-insensitively). When the filter does not
ask for prompts, top-level terms on that tag are ignored. For version search, a version is
left out when any version of its model carries the prompt tag.

Deleted versions (stage ``Deleted_Internal``) never match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from trackyard.entities._tracking import PagedList
from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    ModelVersion,
    RegisteredModel,
    Stage,
    is_prompt,
)
from trackyard.search.ast import And, Comparison, Entity, Expr, Op, OrderKey
from trackyard.search.evaluator import _TaggedRules

if TYPE_CHECKING:
    from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch

__all__ = [
    "effective_filter",
    "filter_asks_for_prompts",
    "model_version_matches",
    "registered_model_matches",
    "search_model_versions_in_memory",
    "search_registered_models_in_memory",
    "sort_model_versions",
    "sort_registered_models",
    "without_prompt_terms",
]


# ---------------------------------------------------------------------------------------------
# Prompts


def _top_terms(expr: Expr | None) -> tuple[Expr, ...]:
    if expr is None:
        return ()
    if isinstance(expr, And):
        return expr.items
    return (expr,)


def _is_prompt_term(term: Expr) -> bool:
    return (
        isinstance(term, Comparison) and term.entity is Entity.TAG and term.key == IS_PROMPT_TAG_KEY
    )


def filter_asks_for_prompts(expr: Expr | None) -> bool:
    """Whether a parsed registry filter asks for prompts (see the module docstring)."""
    for term in _top_terms(expr):
        if not _is_prompt_term(term):
            continue
        assert isinstance(term, Comparison)
        value = str(term.value).lower()
        return (term.op is Op.EQ and value == "true") or (term.op is Op.NE and value == "false")
    return False


def without_prompt_terms(expr: Expr | None) -> Expr | None:
    """``expr`` without its top-level terms on the prompt tag (None if nothing remains)."""
    terms = tuple(t for t in _top_terms(expr) if not _is_prompt_term(t))
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return And(terms)


def effective_filter(expr: Expr | None) -> tuple[Expr | None, bool]:
    """Return ``(filter to apply, whether prompts are included)`` for a registry search."""
    if filter_asks_for_prompts(expr):
        return expr, True
    return without_prompt_terms(expr), False


# ---------------------------------------------------------------------------------------------
# Registered models

_MODELS: _TaggedRules[RegisteredModel] = _TaggedRules(
    "registered models",
    {
        "name": lambda m: m.name,
        "last_updated_timestamp": lambda m: m.last_updated_timestamp,
        "creation_timestamp": lambda m: m.creation_timestamp,
    },
)


def registered_model_matches(model: RegisteredModel, expr: Expr | None) -> bool:
    """Whether ``model`` satisfies the parsed filter ``expr`` (prompt rules not applied).

    Args:
        model: the registered model, with its tags.
        expr: from :func:`~trackyard.search.parse_filter` with ``REGISTERED_MODELS``, or None.

    Returns:
        True when the model matches; always True for ``expr=None``.
    """
    return _MODELS.matches(model, expr)


def sort_registered_models(
    models: Iterable[RegisteredModel], order: Sequence[OrderKey]
) -> list[RegisteredModel]:
    """Return ``models`` sorted by ``order`` (from ``parse_order_by(..., REGISTERED_MODELS)``)."""
    return _MODELS.sort(models, order)


# ---------------------------------------------------------------------------------------------
# Model versions


def _version_number(version: ModelVersion) -> int | None:
    try:
        return int(version.version)
    except (TypeError, ValueError):
        return None


_VERSIONS: _TaggedRules[ModelVersion] = _TaggedRules(
    "model versions",
    {
        "name": lambda v: v.name,
        "run_id": lambda v: v.run_id,
        "source_path": lambda v: v.source,
        "version_number": _version_number,
        "creation_timestamp": lambda v: v.creation_timestamp,
        "last_updated_timestamp": lambda v: v.last_updated_timestamp,
    },
)


def model_version_matches(version: ModelVersion, expr: Expr | None) -> bool:
    """Whether ``version`` satisfies the parsed filter ``expr`` (prompt rules not applied).

    Deleted versions never match.

    Args:
        version: the model version, with its tags.
        expr: from :func:`~trackyard.search.parse_filter` with ``MODEL_VERSIONS``, or None.

    Returns:
        True when the version matches.
    """
    if version.current_stage == Stage.DELETED_INTERNAL:
        return False
    return _VERSIONS.matches(version, expr)


def sort_model_versions(
    versions: Iterable[ModelVersion], order: Sequence[OrderKey]
) -> list[ModelVersion]:
    """Return ``versions`` sorted by ``order`` (from ``parse_order_by(..., MODEL_VERSIONS)``)."""
    return _VERSIONS.sort(versions, order)


# ---------------------------------------------------------------------------------------------
# Whole searches


def search_registered_models_in_memory(
    models: Iterable[RegisteredModel], request: RegisteredModelSearch
) -> PagedList[RegisteredModel]:
    """Return the page of ``models`` that ``request`` asks for, as ``search_registered_models``.

    Prompts are left out unless ``request.filter`` asks for them (:func:`effective_filter`);
    matches are ordered by ``request.order_by`` and paged at ``request.offset``.

    Args:
        models: every registered model of the store, prompts included.
        request: the parsed search (:class:`~trackyard.search.request.RegisteredModelSearch`).

    Returns:
        One page of matching models, with the next page's token when more remain.
    """
    expr, prompts = effective_filter(request.filter)
    matched = [
        m
        for m in models
        if (prompts or not is_prompt(m.tags)) and registered_model_matches(m, expr)
    ]
    return request.page(sort_registered_models(matched, request.order_by))


def search_model_versions_in_memory(
    versions: Iterable[ModelVersion], request: ModelVersionSearch
) -> PagedList[ModelVersion]:
    """Return the page of ``versions`` that ``request`` asks for, as ``search_model_versions``.

    Deleted versions never match; versions of prompts are left out unless ``request.filter``
    asks for prompts; matches are ordered by ``request.order_by`` and paged at
    ``request.offset``.

    Args:
        versions: every model version of the store (deleted and prompt versions included or
            not: the rules are applied here).
        request: the parsed search (:class:`~trackyard.search.request.ModelVersionSearch`).

    Returns:
        One page of matching versions, with the next page's token when more remain.
    """
    expr, prompts = effective_filter(request.filter)
    pool = list(versions)
    prompt_models = set() if prompts else {v.name for v in pool if is_prompt(v.tags)}
    matched = [v for v in pool if v.name not in prompt_models and model_version_matches(v, expr)]
    return request.page(sort_model_versions(matched, request.order_by))
