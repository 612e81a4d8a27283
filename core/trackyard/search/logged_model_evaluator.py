"""The reference semantics of logged-model search, in pure Python.

Stores that keep logged models as Python objects reuse :func:`search_logged_models_in_memory`;
SQL stores compile the same rules and the conformance kit compares their answers with it.

- **Attributes** ``model_id``, ``name``, ``status`` (its name: ``'READY'``...),
  ``source_run_id``, ``model_type`` compare as strings; ``creation_timestamp`` and
  ``last_updated_timestamp`` as numbers. None never matches.
- **Metrics** (``metrics.<key> <op> <number>``) hold when *any* point of the metric
  satisfies the comparison (MLflow's rule, not the latest value); with ``request.datasets``,
  only points logged with one of those datasets count. NaN never matches.
- **Params and tags** compare the value; a missing key never matches.
- With ``request.datasets`` and no metric comparison at all, a model matches only if it has a
  point logged with one of the datasets.
- **Order**: attributes by value; ``metrics.<key>`` by the newest point (greatest timestamp,
  then step, then the smallest run id) among the key's points, restricted to the key's
  dataset when it names one. Missing values sort last in both directions, as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import LoggedModel, Metric, PagedList
from trackyard.search.ast import And, Comparison, Entity, Expr, Or, OrderKey
from trackyard.search.evaluator import _compare, _evaluate, _sort, _unsupported

if TYPE_CHECKING:
    from trackyard.search.request import LoggedModelSearch

__all__ = [
    "has_metric_terms",
    "logged_model_matches",
    "newest_metric_value",
    "search_logged_models_in_memory",
    "sort_logged_models",
]

_ATTRIBUTES: Mapping[str, Callable[[LoggedModel], Any]] = {
    "model_id": lambda m: m.model_id,
    "name": lambda m: m.name,
    "status": lambda m: None if m.status is None else str(m.status),
    "source_run_id": lambda m: m.source_run_id,
    "model_type": lambda m: m.model_type,
    "creation_timestamp": lambda m: m.creation_timestamp,
    "last_updated_timestamp": lambda m: m.last_updated_timestamp,
}

Datasets = Sequence[tuple[str, "str | None"]]


def _in_datasets(point: Metric, datasets: Datasets) -> bool:
    if not datasets:
        return True
    return any(
        point.dataset_name == name and (digest is None or point.dataset_digest == digest)
        for name, digest in datasets
    )


def has_metric_terms(expr: Expr | None) -> bool:
    """Whether ``expr`` compares any metric."""
    if expr is None:
        return False
    if isinstance(expr, Comparison):
        return expr.entity is Entity.METRIC
    assert isinstance(expr, (And, Or))
    return any(has_metric_terms(item) for item in expr.items)


def _comparison(model: LoggedModel, c: Comparison, datasets: Datasets) -> bool:
    if c.entity is Entity.ATTRIBUTE:
        getter = _ATTRIBUTES.get(c.key)
        if getter is None:
            raise _unsupported(f"logged models have no searchable attribute {c.key!r}")
        return _compare(getter(model), c.op, c.value)
    if c.entity is Entity.METRIC:
        return any(
            p.key == c.key and _in_datasets(p, datasets) and _compare(p.value, c.op, c.value)
            for p in model.metrics or ()
        )
    if c.entity is Entity.PARAM:
        return _compare(model.params.get(c.key), c.op, c.value)
    if c.entity is Entity.TAG:
        return _compare(model.tags.get(c.key), c.op, c.value)
    raise _unsupported(f"logged models cannot be filtered on {c.entity.value}s")


def logged_model_matches(model: LoggedModel, expr: Expr | None, datasets: Datasets = ()) -> bool:
    """Whether ``model`` satisfies ``expr`` and the dataset restriction (module docstring)."""
    if (
        datasets
        and not has_metric_terms(expr)
        and not any(_in_datasets(p, datasets) for p in model.metrics or ())
    ):
        return False
    if expr is None:
        return True
    return _evaluate(expr, lambda c: _comparison(model, c, datasets))


def newest_metric_value(
    points: Iterable[Metric], key: str, dataset_name: str | None, dataset_digest: str | None
) -> float | None:
    """The value of the newest point of ``key`` (optionally of one dataset), or None."""
    best: Metric | None = None
    best_rank: tuple[int, int] | None = None
    for p in points:
        if p.key != key:
            continue
        if dataset_name is not None and p.dataset_name != dataset_name:
            continue
        if dataset_digest is not None and p.dataset_digest != dataset_digest:
            continue
        rank = (p.timestamp, p.step)
        if (
            best is None
            or best_rank is None
            or rank > best_rank
            or (rank == best_rank and (p.run_id or "") < (best.run_id or ""))
        ):
            best, best_rank = p, rank
    return None if best is None else best.value


def _sort_value(key: OrderKey) -> Callable[[LoggedModel], Any]:
    if key.entity is Entity.ATTRIBUTE:
        getter = _ATTRIBUTES.get(key.key)
        if getter is None:
            raise _unsupported(f"logged models cannot be ordered by attribute {key.key!r}")
        return getter
    if key.entity is Entity.METRIC:
        name = getattr(key, "dataset_name", None)
        digest = getattr(key, "dataset_digest", None)
        return lambda m: newest_metric_value(m.metrics or (), key.key, name, digest)
    raise _unsupported(f"logged models cannot be ordered by {key.entity.value}s")


def sort_logged_models(
    models: Iterable[LoggedModel], order: Sequence[OrderKey]
) -> list[LoggedModel]:
    """Return ``models`` sorted by ``order`` (missing values last in both directions)."""
    return _sort(models, [(_sort_value(k), k.ascending) for k in order])


def search_logged_models_in_memory(
    models: Iterable[LoggedModel], request: LoggedModelSearch
) -> PagedList[LoggedModel]:
    """Return the page of ``models`` that ``request`` asks for, by the reference semantics.

    ``models`` must hold only models that are not deleted; the experiment scope, filter,
    datasets, order and paging of ``request`` are applied here.
    """
    experiments = frozenset(request.experiment_ids)
    matched = [
        m
        for m in models
        if str(m.experiment_id) in experiments
        and logged_model_matches(m, request.filter, request.datasets)
    ]
    return request.page(sort_logged_models(matched, request.order_by))
