"""Typed search requests: what a store's ``search_*`` method receives.

The client parses a filter string and order_by clauses once, with the rules of the search's
:class:`~trackyard.search.ast.SearchKind`, and hands the store one of these frozen requests.
A store compiles :attr:`SearchRequest.filter` (an AST) and :attr:`SearchRequest.order_by` (the
complete order: the user's keys, then the kind's defaults and tie-breakers) and returns the
page that starts at :attr:`SearchRequest.offset`. Stores never see filter text and never
re-parse; conditions the client adds (prompt separation, experiment scoping) arrive as AST
nodes inside :attr:`SearchRequest.filter`.

Build a request from user input with the ``parse`` class methods (every argument is checked
and every problem is an ``INVALID_PARAMETER_VALUE``), or directly from an AST::

    req = RunSearch.parse(["1"], "metrics.acc > 0.9", order_by=["metrics.acc DESC"])
    page = store.search_runs(req)

Stores that filter in Python return ``req.page(ordered_matches)``; stores that page in the
database fetch ``req.max_results + 1`` rows from ``req.offset`` and return
``req.paged(rows)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, TypeVar

from trackyard.search.ast import And, Expr, OrderKey, SearchKind
from trackyard.search.paging import (
    decode_page_token,
    encode_page_token,
    validate_max_results,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from trackyard.entities import PagedList

__all__ = [
    "ExperimentSearch",
    "ModelVersionSearch",
    "RegisteredModelSearch",
    "RunSearch",
    "SearchRequest",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchRequest:
    """What every search carries.

    Attributes:
        filter: the parsed filter, or None for "everything".
        order_by: the complete order, most significant key first (never empty once built by
            :meth:`parse`: the kind's defaults and tie-breakers are appended).
        max_results: the page size (at least 1, at most the kind's cap).
        offset: how many items of the ordered result come before this page.
    """

    kind: ClassVar[SearchKind]

    filter: Expr | None = None
    order_by: tuple[OrderKey, ...] = ()
    max_results: int
    offset: int = 0

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def _parsed_common(
        cls,
        filter_string: str | None,
        order_by: Sequence[str] | str | None,
        max_results: int | None,
        page_token: str | None,
    ) -> dict[str, object]:
        from trackyard.search.parser import parse_filter, parse_order_by

        if isinstance(order_by, str):
            order_by = [order_by]
        # checked in the order MLflow checks them: page size, filter, order, token
        n = validate_max_results(max_results, cls.kind)
        expr = parse_filter(filter_string, cls.kind)
        order = parse_order_by(order_by, cls.kind)
        return {
            "filter": expr,
            "order_by": order,
            "max_results": n,
            "offset": decode_page_token(page_token),
        }

    def and_also(self, *terms: Expr) -> Self:
        """A copy whose filter also requires every one of ``terms`` (composed as AST nodes)."""
        items: list[Expr] = []
        for expr in (self.filter, *terms):
            if expr is None:
                continue
            items.extend(expr.items if isinstance(expr, And) else (expr,))
        combined: Expr | None
        if not items:
            combined = None
        elif len(items) == 1:
            combined = items[0]
        else:
            combined = And(tuple(items))
        return replace(self, filter=combined)

    # -- paging ------------------------------------------------------------------------------
    @property
    def page_token(self) -> str | None:
        """The page token that asks for this request's page (None for the first page)."""
        return encode_page_token(self.offset) if self.offset else None

    def page(self, ordered: Sequence[T]) -> PagedList[T]:
        """This request's page of the *whole* ordered result ``ordered``."""
        from trackyard.entities import PagedList

        end = self.offset + self.max_results
        token = encode_page_token(end) if end < len(ordered) else None
        return PagedList(ordered[self.offset : end], token)

    def paged(self, rows: Sequence[T]) -> PagedList[T]:
        """The page from ``rows`` fetched at :attr:`offset` with a limit of ``max_results + 1``.

        The extra row, when present, only says that another page follows.
        """
        from trackyard.entities import PagedList

        if len(rows) > self.max_results:
            return PagedList(
                rows[: self.max_results], encode_page_token(self.offset + self.max_results)
            )
        return PagedList(rows, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSearch(SearchRequest):
    """A run search: runs of ``experiment_ids`` in the lifecycle stages of ``view_type``."""

    kind: ClassVar[SearchKind] = SearchKind.RUNS

    experiment_ids: tuple[str, ...] = ()
    view_type: int = 1

    @classmethod
    def parse(
        cls,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: int = 1,
        max_results: int | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> RunSearch:
        """Check and parse a run search's arguments (ids must already be validated)."""
        from trackyard.entities import ViewType

        ViewType.to_lifecycle_stages(view_type)
        return cls(
            experiment_ids=tuple(experiment_ids),
            view_type=view_type,
            **cls._parsed_common(filter_string, order_by, max_results, page_token),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentSearch(SearchRequest):
    """An experiment search over the lifecycle stages of ``view_type``."""

    kind: ClassVar[SearchKind] = SearchKind.EXPERIMENTS

    view_type: int = 1

    @classmethod
    def parse(
        cls,
        view_type: int = 1,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> ExperimentSearch:
        """Check and parse an experiment search's arguments."""
        from trackyard.entities import ViewType

        ViewType.to_lifecycle_stages(view_type)
        return cls(
            view_type=view_type,
            **cls._parsed_common(filter_string, order_by, max_results, page_token),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredModelSearch(SearchRequest):
    """A registered-model search.

    As in MLflow, stores leave prompts out unless the filter asks for them
    (:func:`trackyard.search.effective_filter`).
    """

    kind: ClassVar[SearchKind] = SearchKind.REGISTERED_MODELS

    @classmethod
    def parse(
        cls,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> RegisteredModelSearch:
        """Check and parse a registered-model search's arguments."""
        return cls(**cls._parsed_common(filter_string, order_by, max_results, page_token))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersionSearch(SearchRequest):
    """A model-version search (deleted versions never match; prompts as for models)."""

    kind: ClassVar[SearchKind] = SearchKind.MODEL_VERSIONS

    @classmethod
    def parse(
        cls,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> ModelVersionSearch:
        """Check and parse a model-version search's arguments."""
        return cls(**cls._parsed_common(filter_string, order_by, max_results, page_token))  # type: ignore[arg-type]
