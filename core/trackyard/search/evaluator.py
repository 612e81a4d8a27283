"""The reference semantics of search: filtering, ordering and paging in pure Python.

Every backend must return exactly what these functions return for the same data. Stores
that keep their data in Python objects (the file store, contrib's memory store) *reuse* them:
:func:`search_runs_in_memory` and :func:`search_experiments_in_memory` take the candidate
items and the parsed request (:mod:`trackyard.search.request`) and return the page. Stores
that compile the AST to a query language (SQL) are a *second implementation* of these
semantics, and the conformance kit compares their answers with these functions'.

Filtering (:func:`run_matches`, :func:`experiment_matches`):

- ``And`` holds when every item holds, ``Or`` when at least one does; ``None`` (no filter)
  matches everything.
- **Metrics** compare the run's latest value (``run.data.metrics[key]``) numerically. A NaN
  value never matches any comparator, ``!=`` included. Infinite values compare as numbers.
- **Params and tags** compare strings. ``IS NULL`` holds when the key is absent and
  ``IS NOT NULL`` when it is present.
- A **missing** metric, param or tag never matches a comparator, ``!=`` and ``NOT IN``
  included; only ``IS NULL`` matches it.
- **Attributes** that are None (``end_time`` of a running run, a run without ``run_name``,
  an experiment without ``creation_time``...) never match, ``!=`` and ``NOT IN`` included.
  Numeric attributes (``start_time``, ``end_time``, ``creation_time``, ``last_update_time``)
  compare numerically; the others compare as strings. ``run_name`` is ``run.info.run_name``.
- ``=``, ``!=``, ``IN``, ``NOT IN`` and ``LIKE`` are case-sensitive; strings are equal when
  their code points are. ``ILIKE`` is ``LIKE`` applied to ``str.lower()`` of both the value
  and the pattern.
- ``LIKE`` / ``ILIKE`` patterns match the *whole* value; ``%`` matches any run of characters
  (including none), ``_`` exactly one character, and every other character itself. There is
  no escape syntax.
- **Datasets** (``datasets.name``, ``datasets.digest``, ``datasets.context``) look at every
  entry of ``run.inputs.dataset_inputs``; ``context`` is the value of its
  ``mlflow.data.context`` input tag. The comparison holds when *any* input satisfies it
  (so ``datasets.name != 'a'`` holds when some input has another name). An input without a
  context tag does not match a ``context`` comparison.

Ordering (:func:`sort_runs`, :func:`sort_experiments`) applies the keys of
``request.order_by`` (from :func:`~trackyard.search.parse_order_by`) most significant first.
For every key, values that are present sort ascending or descending (numbers numerically,
strings by code point), then come NaN values (metrics only), then missing values, **in
both directions**. Items equal on every key keep their input order (the effective orders
always end with a unique key, so this does not arise for complete orders).

Paging (:meth:`~trackyard.search.request.SearchRequest.page`): a page token carries an
offset into the fully ordered result; a next token is returned only when items remain after
the page. :func:`paginate` does the same from a page token, for lists that are not searches
(metric histories).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from trackyard.entities._tracking import Experiment, PagedList, Run, RunStatus
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.ast import And, Comparison, Entity, Expr, Op, Or, OrderKey
from trackyard.search.paging import decode_page_token, encode_page_token

if TYPE_CHECKING:
    from trackyard.search.request import ExperimentSearch, RunSearch

__all__ = [
    "DATASET_CONTEXT_TAG",
    "experiment_matches",
    "like_matches",
    "paginate",
    "run_matches",
    "search_experiments_in_memory",
    "search_runs_in_memory",
    "sort_experiments",
    "sort_runs",
]

T = TypeVar("T")

#: The input tag holding a dataset's context (``training``, ``evaluation``...).
DATASET_CONTEXT_TAG = "mlflow.data.context"


# ---------------------------------------------------------------------------------------------
# Value comparison


def like_matches(value: str, pattern: str, *, case_sensitive: bool = True) -> bool:
    """Whether ``value`` matches the SQL ``LIKE`` ``pattern`` as a whole.

    ``%`` matches any run of characters, ``_`` exactly one; there is no escape character.
    Runs in O(len(value) * len(pattern)) at worst, without regular expressions.

    Args:
        value: the string to test.
        pattern: the LIKE pattern.
        case_sensitive: False for ``ILIKE``: both sides are compared after ``str.lower()``.

    Returns:
        True when the pattern matches the whole value.
    """
    if not case_sensitive:
        value, pattern = value.lower(), pattern.lower()
    n, m = len(value), len(pattern)
    i = j = 0
    star = -1  # index in pattern of the last '%' seen
    resume = 0  # where in value that '%' currently stops
    while i < n:
        if j < m and pattern[j] == "%":
            star, resume = j, i
            j += 1
        elif j < m and (pattern[j] == "_" or pattern[j] == value[i]):
            i += 1
            j += 1
        elif star >= 0:
            resume += 1
            i, j = resume, star + 1
        else:
            return False
    while j < m and pattern[j] == "%":
        j += 1
    return j == m


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _compare(actual: Any, op: Op, expected: Any) -> bool:
    """Apply ``op`` to a present value; None and NaN never match."""
    if actual is None or _is_nan(actual):
        return False
    if op is Op.EQ:
        return bool(actual == expected)
    if op is Op.NE:
        return bool(actual != expected)
    if op is Op.LT:
        return bool(actual < expected)
    if op is Op.LE:
        return bool(actual <= expected)
    if op is Op.GT:
        return bool(actual > expected)
    if op is Op.GE:
        return bool(actual >= expected)
    if op is Op.LIKE:
        return like_matches(actual, expected)
    if op is Op.ILIKE:
        return like_matches(actual, expected, case_sensitive=False)
    if op is Op.IN:
        return actual in expected
    if op is Op.NOT_IN:
        return actual not in expected
    raise _unsupported(f"comparator {op.value} cannot compare a value")


def _compare_mapping(values: Mapping[str, Any], c: Comparison) -> bool:
    """Compare a metric, param or tag: IS [NOT] NULL test presence; absent never matches."""
    if c.op is Op.IS_NULL:
        return c.key not in values
    if c.op is Op.IS_NOT_NULL:
        return c.key in values
    return _compare(values.get(c.key), c.op, c.value)


def _unsupported(detail: str) -> TrackyardError:
    return TrackyardError(f"Cannot evaluate search: {detail}", ErrorCode.INVALID_PARAMETER_VALUE)


def _evaluate(expr: Expr, compare: Callable[[Comparison], bool]) -> bool:
    if isinstance(expr, Comparison):
        return compare(expr)
    if isinstance(expr, And):
        return all(_evaluate(item, compare) for item in expr.items)
    if isinstance(expr, Or):
        return any(_evaluate(item, compare) for item in expr.items)
    raise _unsupported(f"{expr!r} is not a filter expression")


# ---------------------------------------------------------------------------------------------
# Runs


def _run_status(run: Run) -> str | None:
    status = run.info.status
    if isinstance(status, int) and not isinstance(status, bool):
        return RunStatus.to_string(status)
    return status


_RUN_ATTRIBUTES: Mapping[str, Callable[[Run], Any]] = {
    "run_id": lambda run: run.info.run_id,
    "run_name": lambda run: run.info.run_name,
    "user_id": lambda run: run.info.user_id,
    "status": _run_status,
    "artifact_uri": lambda run: run.info.artifact_uri,
    "start_time": lambda run: run.info.start_time,
    "end_time": lambda run: run.info.end_time,
}


def _run_attribute(run: Run, key: str) -> Any:
    getter = _RUN_ATTRIBUTES.get(key)
    if getter is None:
        raise _unsupported(f"runs have no searchable attribute {key!r}")
    return getter(run)


def _dataset_values(run: Run, key: str) -> list[str | None]:
    values: list[str | None] = []
    for dataset_input in run.inputs.dataset_inputs:
        if key == "name":
            values.append(dataset_input.dataset.name)
        elif key == "digest":
            values.append(dataset_input.dataset.digest)
        elif key == "context":
            context = None
            for tag in dataset_input.tags:
                if tag.key == DATASET_CONTEXT_TAG:
                    context = tag.value
            values.append(context)
        else:
            raise _unsupported(f"datasets have no searchable field {key!r}")
    return values


def _run_comparison(run: Run, c: Comparison) -> bool:
    entity = c.entity
    if entity is Entity.METRIC:
        return _compare_mapping(run.data.metrics, c)
    if entity is Entity.PARAM:
        return _compare_mapping(run.data.params, c)
    if entity is Entity.TAG:
        return _compare_mapping(run.data.tags, c)
    if entity is Entity.ATTRIBUTE:
        return _compare(_run_attribute(run, c.key), c.op, c.value)
    if entity is Entity.DATASET:
        return any(_compare(v, c.op, c.value) for v in _dataset_values(run, c.key))
    raise _unsupported(f"runs cannot be filtered on {entity.value}s")


def run_matches(run: Run, expr: Expr | None) -> bool:
    """Whether ``run`` satisfies the parsed filter ``expr`` (see the module docstring).

    Args:
        run: the run, with its latest metrics in ``run.data.metrics``.
        expr: from :func:`~trackyard.search.parse_filter` with ``SearchKind.RUNS``, or None.

    Returns:
        True when the run matches; always True for ``expr=None``.
    """
    if expr is None:
        return True
    return _evaluate(expr, lambda c: _run_comparison(run, c))


def _run_sort_value(key: OrderKey) -> Callable[[Run], Any]:
    if key.entity is Entity.METRIC:
        return lambda run: run.data.metrics.get(key.key)
    if key.entity is Entity.PARAM:
        return lambda run: run.data.params.get(key.key)
    if key.entity is Entity.TAG:
        return lambda run: run.data.tags.get(key.key)
    if key.entity is Entity.ATTRIBUTE:
        getter = _RUN_ATTRIBUTES.get(key.key)
        if getter is None:
            raise _unsupported(f"runs cannot be ordered by attribute {key.key!r}")
        return getter
    raise _unsupported(f"runs cannot be ordered by {key.entity.value}s")


def sort_runs(runs: Iterable[Run], order: Sequence[OrderKey]) -> list[Run]:
    """Return ``runs`` sorted by ``order`` (see the module docstring).

    Args:
        runs: the runs to sort.
        order: from :func:`~trackyard.search.parse_order_by` with ``SearchKind.RUNS``.

    Returns:
        A new list.
    """
    return _sort(runs, [(_run_sort_value(k), k.ascending) for k in order])


# ---------------------------------------------------------------------------------------------
# Experiments


class _TaggedRules(Generic[T]):
    """Filter and sort rules of an entity with named attributes and a ``tags`` dict.

    Missing tags and None attributes never match a comparator; ``IS NULL`` / ``IS NOT NULL``
    test whether a tag is present; sorting puts missing values last in both directions.
    """

    def __init__(
        self,
        noun: str,
        attributes: Mapping[str, Callable[[T], Any]],
        *,
        order_by_tags: bool = False,
    ) -> None:
        self.noun = noun
        self.attributes = attributes
        self.order_by_tags = order_by_tags

    def attribute(self, key: str) -> Callable[[T], Any]:
        getter = self.attributes.get(key)
        if getter is None:
            raise _unsupported(f"{self.noun} have no searchable attribute {key!r}")
        return getter

    def comparison(self, item: T, c: Comparison) -> bool:
        if c.entity is Entity.TAG:
            return _compare_mapping(item.tags, c)  # type: ignore[attr-defined]
        if c.entity is Entity.ATTRIBUTE:
            return _compare(self.attribute(c.key)(item), c.op, c.value)
        raise _unsupported(f"{self.noun} cannot be filtered on {c.entity.value}s")

    def matches(self, item: T, expr: Expr | None) -> bool:
        return expr is None or _evaluate(expr, lambda c: self.comparison(item, c))

    def sort_value(self, key: OrderKey) -> Callable[[T], Any]:
        if key.entity is Entity.ATTRIBUTE:
            return self.attribute(key.key)
        if key.entity is Entity.TAG and self.order_by_tags:
            return lambda item: item.tags.get(key.key)  # type: ignore[attr-defined]
        raise _unsupported(f"{self.noun} cannot be ordered by {key.entity.value}s")

    def sort(self, items: Iterable[T], order: Sequence[OrderKey]) -> list[T]:
        return _sort(items, [(self.sort_value(k), k.ascending) for k in order])


_EXPERIMENTS: _TaggedRules[Experiment] = _TaggedRules(
    "experiments",
    {
        "name": lambda exp: exp.name,
        "experiment_id": lambda exp: None if exp.experiment_id is None else str(exp.experiment_id),
        "creation_time": lambda exp: exp.creation_time,
        "last_update_time": lambda exp: exp.last_update_time,
    },
    order_by_tags=True,
)


def experiment_matches(experiment: Experiment, expr: Expr | None) -> bool:
    """Whether ``experiment`` satisfies the parsed filter ``expr``.

    Same rules as runs: missing tags and None attributes never match a comparator;
    ``IS NULL`` / ``IS NOT NULL`` test whether a tag is present.

    Args:
        experiment: the experiment.
        expr: from :func:`~trackyard.search.parse_filter` with ``SearchKind.EXPERIMENTS``.

    Returns:
        True when the experiment matches; always True for ``expr=None``.
    """
    return _EXPERIMENTS.matches(experiment, expr)


def sort_experiments(
    experiments: Iterable[Experiment], order: Sequence[OrderKey]
) -> list[Experiment]:
    """Return ``experiments`` sorted by ``order`` (missing values last in both directions).

    Args:
        experiments: the experiments to sort.
        order: from :func:`~trackyard.search.parse_order_by` with ``SearchKind.EXPERIMENTS``.

    Returns:
        A new list.
    """
    return _EXPERIMENTS.sort(experiments, order)


# ---------------------------------------------------------------------------------------------
# Sorting and paging


def _sort(items: Iterable[T], keys: Sequence[tuple[Callable[[T], Any], bool]]) -> list[T]:
    """Stable multi-key sort: one stable pass per key, least significant key first."""
    result = list(items)
    for value_of, ascending in reversed(keys):
        present: list[tuple[Any, T]] = []
        nans: list[T] = []
        missing: list[T] = []
        for item in result:
            value = value_of(item)
            if value is None:
                missing.append(item)
            elif _is_nan(value):
                nans.append(item)
            else:
                present.append((value, item))
        # reverse=True keeps equal items in input order, so each pass stays stable.
        present.sort(key=itemgetter(0), reverse=not ascending)
        result = [item for _, item in present]
        result.extend(nans)
        result.extend(missing)
    return result


def paginate(items: Sequence[T], max_results: int, page_token: str | None) -> PagedList[T]:
    """Return one page of the ordered ``items``.

    Args:
        items: the full, ordered result.
        max_results: the page size (at least 1).
        page_token: None or ``""`` for the first page, else a token from a previous page.

    Returns:
        The page; its ``token`` is set only when items remain after it.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for a bad token or page size.
    """
    offset = decode_page_token(page_token)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise TrackyardError(
            f"Invalid value {max_results!r} for parameter 'max_results' supplied. "
            "It must be a positive integer",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    end = offset + max_results
    token = encode_page_token(end) if end < len(items) else None
    return PagedList(items[offset:end], token)


def search_runs_in_memory(runs: Iterable[Run], request: RunSearch) -> PagedList[Run]:
    """Return the page of ``runs`` that ``request`` asks for, by the reference semantics.

    A run matches when its experiment is one of ``request.experiment_ids``, its lifecycle
    stage is one of ``request.view_type``'s and it satisfies ``request.filter``
    (:func:`run_matches`); matches are ordered by ``request.order_by`` (:func:`sort_runs`)
    and paged at ``request.offset``. Nothing is parsed: the request already was.

    Args:
        runs: the candidate runs (a store may pass only those of the searched experiments
            and stages, or more: the request's scope is applied here either way).
        request: the parsed search (:class:`~trackyard.search.request.RunSearch`).

    Returns:
        One page of matching runs, with the next page's token when more remain.
    """
    from trackyard.entities import ViewType

    stages = ViewType.to_lifecycle_stages(request.view_type)
    experiments = frozenset(request.experiment_ids)
    expr = request.filter
    matched = [
        run
        for run in runs
        if str(run.info.experiment_id) in experiments
        and run.info.lifecycle_stage in stages
        and run_matches(run, expr)
    ]
    return request.page(sort_runs(matched, request.order_by))


def search_experiments_in_memory(
    experiments: Iterable[Experiment], request: ExperimentSearch
) -> PagedList[Experiment]:
    """Return the page of ``experiments`` that ``request`` asks for, by the reference semantics.

    An experiment matches when its lifecycle stage is one of ``request.view_type``'s and it
    satisfies ``request.filter`` (:func:`experiment_matches`); matches are ordered by
    ``request.order_by`` (:func:`sort_experiments`) and paged at ``request.offset``.

    Args:
        experiments: the candidate experiments (already restricted by view type, or not).
        request: the parsed search (:class:`~trackyard.search.request.ExperimentSearch`).

    Returns:
        One page of matching experiments, with the next page's token when more remain.
    """
    from trackyard.entities import ViewType

    stages = ViewType.to_lifecycle_stages(request.view_type)
    expr = request.filter
    matched = [
        exp
        for exp in experiments
        if exp.lifecycle_stage in stages and experiment_matches(exp, expr)
    ]
    return request.page(sort_experiments(matched, request.order_by))
