"""The reference semantics of trace search, in pure Python.

Every backend returns what :func:`search_traces_in_memory` returns for the same traces and
the same :class:`~trackyard.search.request.TraceSearch`. The rules are those of
:mod:`trackyard.search.evaluator`, plus:

- **Attributes**: ``request_id`` (the trace id), ``client_request_id`` and ``status`` (the
  trace's state: ``OK``, ``ERROR``, ``IN_PROGRESS``) compare as strings; ``timestamp_ms``
  (request time), ``execution_time_ms`` and ``end_time_ms`` (request time + execution time)
  compare as integers. A None attribute never matches.
- **Tags** and **metadata** (``tags.<k>``, ``metadata.<k>``) compare strings, and
  ``IS [NOT] NULL`` tests presence, as run tags do. The parser already turned ``name`` into
  the tag ``mlflow.traceName`` and ``run_id`` into the metadata ``mlflow.sourceRun``.
- **Spans** (``span.name``, ``span.type``, ``span.status``): the comparison holds when *any*
  span of the trace satisfies it (so ``span.name != 'a'`` holds when some span has another
  name). A span's status is ``OK``, ``ERROR`` or ``UNSET``.
- ``RLIKE`` holds when the regular expression is found anywhere in the value
  (:func:`re.search`), case-sensitively. Backends use their database's regular expressions;
  the kit uses patterns all of them read alike (literals, ``.``, ``*``, ``+``, ``^``, ``$``,
  character classes).

Ordering: ``timestamp_ms``, ``execution_time_ms``, ``end_time_ms``, ``status``,
``request_id``, ``experiment_id`` (numerically when it is a number), tags and metadata;
missing values last in both directions; the default order is ``timestamp_ms DESC,
request_id ASC``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from trackyard.search.ast import Comparison, Entity, Expr, Op, OrderKey
from trackyard.search.evaluator import _compare, _compare_mapping, _evaluate, _sort, _unsupported

if TYPE_CHECKING:
    from trackyard.entities import PagedList
    from trackyard.entities.trace import TraceInfo
    from trackyard.search.request import TraceSearch

__all__ = [
    "SpanFields",
    "filter_has_spans",
    "search_traces_in_memory",
    "sort_traces",
    "trace_matches",
]


class SpanFields(NamedTuple):
    """What span comparisons look at, for one span."""

    name: str
    type: str
    status: str


def _rlike(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    try:
        return re.search(pattern, str(value)) is not None
    except re.error as exc:
        raise _unsupported(f"invalid regular expression {pattern!r}: {exc}") from None


def _attribute(info: TraceInfo, key: str) -> Any:
    if key == "request_id":
        return info.trace_id
    if key == "client_request_id":
        return info.client_request_id
    if key == "status":
        return info.state
    if key == "timestamp_ms":
        return info.request_time
    if key == "execution_time_ms":
        return info.execution_duration
    if key == "end_time_ms":
        return info.end_time_ms
    if key == "experiment_id":
        eid = info.experiment_id
        return int(eid) if eid.isdigit() else eid
    raise _unsupported(f"traces have no searchable attribute {key!r}")


def _compare_value(value: Any, c: Comparison) -> bool:
    if c.op is Op.RLIKE:
        return _rlike(value, str(c.value))
    return _compare(value, c.op, c.value)


def _comparison(info: TraceInfo, spans: Sequence[SpanFields], c: Comparison) -> bool:
    if c.entity is Entity.ATTRIBUTE:
        return _compare_value(_attribute(info, c.key), c)
    if c.entity in (Entity.TAG, Entity.METADATA):
        values = info.tags if c.entity is Entity.TAG else info.trace_metadata
        if c.op is Op.RLIKE:
            return _rlike(values.get(c.key), str(c.value))
        return _compare_mapping(values, c)
    if c.entity is Entity.SPAN:
        if c.key not in SpanFields._fields:
            raise _unsupported(f"spans have no searchable field {c.key!r}")
        return any(_compare_value(getattr(span, c.key), c) for span in spans)
    raise _unsupported(f"traces cannot be filtered on {c.entity.value}")


def trace_matches(info: TraceInfo, spans: Sequence[SpanFields] | None, expr: Expr | None) -> bool:
    """Whether a trace satisfies the parsed filter ``expr``.

    Args:
        info: the trace's info (state, times, tags, metadata).
        spans: the name, type and status of each of its spans (only read by ``span.``
            comparisons; pass None when the filter has none).
        expr: from :func:`~trackyard.search.parse_filter` with ``SearchKind.TRACES``.
    """
    if expr is None:
        return True
    span_list = spans or ()
    return _evaluate(expr, lambda c: _comparison(info, span_list, c))


def _sort_value(key: OrderKey) -> Callable[[TraceInfo], Any]:
    if key.entity is Entity.ATTRIBUTE:
        return lambda info: _attribute(info, key.key)
    if key.entity is Entity.TAG:
        return lambda info: info.tags.get(key.key)
    if key.entity is Entity.METADATA:
        return lambda info: info.trace_metadata.get(key.key)
    raise _unsupported(f"traces cannot be ordered by {key.entity.value}")


def sort_traces(infos: Iterable[TraceInfo], order: Sequence[OrderKey]) -> list[TraceInfo]:
    """Return ``infos`` sorted by ``order`` (missing values last in both directions)."""
    return _sort(infos, [(_sort_value(k), k.ascending) for k in order])


def filter_has_spans(expr: Expr | None) -> bool:
    """Whether ``expr`` has a ``span.`` comparison, so a store must read spans to evaluate it.

    Stores that keep spans apart from the trace info (the file store) use it to skip reading
    them for filters that do not look at spans.
    """
    if expr is None:
        return False
    if isinstance(expr, Comparison):
        return expr.entity is Entity.SPAN
    return any(filter_has_spans(item) for item in expr.items)


def search_traces_in_memory(
    traces: Iterable[tuple[TraceInfo, Sequence[SpanFields] | None]], request: TraceSearch
) -> PagedList[TraceInfo]:
    """The page of trace infos that ``request`` asks for, from ``(info, spans)`` pairs.

    Only traces of ``request.experiment_ids`` match; the result is filtered, ordered by
    ``request.order_by`` and paged from ``request.offset``.
    """
    wanted = set(request.experiment_ids)
    matching = [
        info
        for info, spans in traces
        if info.experiment_id in wanted and trace_matches(info, spans, request.filter)
    ]
    return request.page(sort_traces(matching, request.order_by))
