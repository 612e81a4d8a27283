"""Typed search requests: what a store's ``search_*`` method receives.

The client parses a filter string and order_by clauses once, with the rules of the search's
:class:`~trackyard.search.ast.SearchKind`, and hands the store one of these frozen requests.
A store compiles :attr:`SearchRequest.filter` (an AST) and :attr:`SearchRequest.order_by` (the
complete order: the user's keys, then the kind's defaults and tie-breakers) and returns the
page that starts at :attr:`SearchRequest.offset`. Stores never see filter text and never
re-parse; conditions the client adds (prompt separation, experiment and name scoping) arrive
as AST nodes inside :attr:`SearchRequest.filter`.

Build a request from user input with the ``parse`` class methods (every argument is checked
and every problem is an ``INVALID_PARAMETER_VALUE``, in the order MLflow checks them: page
size, filter, order, page token), or directly from AST nodes::

    req = RunSearch.parse(["1"], "metrics.acc > 0.9", order_by=["metrics.acc DESC"])
    page = store.search_runs(req)

    tagged = ExperimentSearch(
        filter=Comparison(Entity.TAG, "team", Op.EQ, "nlp"), max_results=10, view_type=3
    )

A request built directly is completed as :meth:`parse` would: its ``order_by`` gets the kind's
defaults and tie-breakers, and ``max_results`` is checked against the kind's cap.

Stores that filter in Python return ``req.page(ordered_matches)`` (or call the reference
evaluator, e.g. :func:`trackyard.search.search_runs_in_memory`, which does everything);
stores that page in a database fetch ``req.max_results + 1`` rows from ``req.offset`` and
return ``req.paged(rows)``. Callers that walk every page use :meth:`SearchRequest.next_page`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.ast import And, Comparison, Entity, Expr, Op, Or, OrderKey, SearchKind
from trackyard.search.paging import (
    decode_page_token,
    encode_page_token,
    validate_max_results,
)
from trackyard.search.parser import complete_order

if TYPE_CHECKING:
    from typing_extensions import Self

    from trackyard.entities import PagedList

__all__ = [
    "DatasetOrderKey",
    "ExperimentSearch",
    "LoggedModelSearch",
    "ModelVersionSearch",
    "RegisteredModelSearch",
    "RunSearch",
    "SearchRequest",
    "TraceSearch",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchRequest:
    """What every search carries.

    Attributes:
        filter: the parsed filter, or None for "everything".
        order_by: the complete order, most significant key first (never empty: the kind's
            defaults and tie-breakers are appended on construction).
        max_results: the page size (at least 1, at most the kind's cap).
        offset: how many items of the ordered result come before this page.
    """

    kind: ClassVar[SearchKind]

    filter: Expr | None = None
    order_by: tuple[OrderKey, ...] = ()
    max_results: int
    offset: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_by", complete_order(self.kind, tuple(self.order_by)))
        object.__setattr__(self, "max_results", validate_max_results(self.max_results, self.kind))
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise ValueError(f"A search offset must be an int >= 0, got {self.offset!r}")

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def _parsed_common(
        cls,
        filter_string: str | None,
        order_by: Sequence[str] | str | None,
        max_results: int | None,
        page_token: str | None,
        *,
        filter_kind: SearchKind | None = None,
        rewrite: Callable[[Comparison], Expr] | None = None,
    ) -> dict[str, Any]:
        from trackyard.search.parser import parse_filter, parse_order_by

        if isinstance(order_by, str):
            order_by = [order_by]
        kind = filter_kind or cls.kind
        # checked in the order MLflow checks them: page size, filter, order, token
        n = validate_max_results(max_results, kind)
        expr = parse_filter(filter_string, kind)
        if expr is not None and rewrite is not None:
            expr = _map(expr, rewrite)
        order = parse_order_by(order_by, kind)
        return {
            "filter": expr,
            "order_by": order,
            "max_results": n,
            "offset": decode_page_token(page_token),
        }

    def and_also(self, *terms: Expr) -> Self:
        """A copy whose filter also requires every one of ``terms`` (composed as AST nodes).

        The result's filter is the existing filter's top-level ``AND`` terms followed by
        ``terms`` (an ``And`` among them is flattened), as one ``And``; a single term stays
        bare and no terms at all give None. An ``Or`` stays one term.
        """
        items: list[Expr] = []
        for expr in (self.filter, *terms):
            if expr is None:
                continue
            items.extend(expr.items if isinstance(expr, And) else (expr,))
        return replace(self, filter=_conjunction(items))

    # -- paging ------------------------------------------------------------------------------
    @property
    def page_token(self) -> str | None:
        """The page token that asks for this request's page (None for the first page)."""
        return encode_page_token(self.offset) if self.offset else None

    def page(self, ordered: Sequence[T]) -> PagedList[T]:
        """This request's page of the *whole* ordered result ``ordered``.

        The page's token is set only when items remain after the page.
        """
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

    def next_page(self, page: PagedList[Any]) -> Self | None:
        """The request for the page after ``page`` (which this request returned), or None.

        Raises:
            TrackyardError: ``INVALID_PARAMETER_VALUE`` if ``page.token`` is not a page token.
        """
        if not page.token:
            return None
        return replace(self, offset=decode_page_token(page.token))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSearch(SearchRequest):
    """A run search: runs of ``experiment_ids`` in the lifecycle stages of ``view_type``.

    ``experiment_ids`` are strings (ints are converted); duplicates do not repeat runs.
    """

    kind: ClassVar[SearchKind] = SearchKind.RUNS

    experiment_ids: tuple[str, ...] = ()
    view_type: int = 1

    def __post_init__(self) -> None:
        from trackyard.entities import ViewType

        SearchRequest.__post_init__(self)
        object.__setattr__(self, "experiment_ids", tuple(str(e) for e in self.experiment_ids))
        ViewType.to_lifecycle_stages(self.view_type)

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
        """Check and parse a run search's arguments (ids must already be validated).

        The view type is checked last: MLflow never refuses one (an unknown view type finds
        nothing there), trackyard does.
        """
        parts = cls._parsed_common(filter_string, order_by, max_results, page_token)
        return cls(experiment_ids=tuple(experiment_ids), view_type=view_type, **parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentSearch(SearchRequest):
    """An experiment search over the lifecycle stages of ``view_type``."""

    kind: ClassVar[SearchKind] = SearchKind.EXPERIMENTS

    view_type: int = 1

    def __post_init__(self) -> None:
        from trackyard.entities import ViewType

        SearchRequest.__post_init__(self)
        ViewType.to_lifecycle_stages(self.view_type)

    @classmethod
    def parse(
        cls,
        view_type: int = 1,
        max_results: int | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> ExperimentSearch:
        """Check and parse an experiment search's arguments (the view type last)."""
        parts = cls._parsed_common(filter_string, order_by, max_results, page_token)
        return cls(view_type=view_type, **parts)


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
        return cls(**cls._parsed_common(filter_string, order_by, max_results, page_token))

    @classmethod
    def parse_prompts(
        cls,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> RegisteredModelSearch:
        """The registered-model search that ``search_prompts`` runs.

        The filter is parsed with :attr:`SearchKind.PROMPTS` (the registered-model keys plus
        MLflow's ``experiment_id = '<id>'``). Each ``experiment_id = '<id>'`` comparison, at
        any depth, becomes ``tags.`mlflow.prompt.experiment_ids` LIKE '%,<id>,%'`` (the tag
        where MLflow records the experiments a prompt is linked to), and the prompt marker
        ``tags.`mlflow.prompt.is_prompt` = 'true'`` is put first, so the search asks for
        prompts (:func:`trackyard.search.filter_asks_for_prompts`).

        Raises:
            TrackyardError: ``INVALID_PARAMETER_VALUE`` for any invalid argument, including
                an experiment id that is not a number ("Invalid experiment_id: 'abc'. Must be
                a numeric value.", as MLflow words it).
        """
        from trackyard.entities.model_registry import (
            IS_PROMPT_TAG_KEY,
            PROMPT_EXPERIMENT_IDS_TAG_KEY,
        )

        def scope(c: Comparison) -> Comparison:
            if c.entity is not Entity.ATTRIBUTE or c.key != "experiment_id":
                return c
            experiment_id = str(c.value)
            if not (experiment_id.isascii() and experiment_id.isdigit()):
                raise TrackyardError(
                    f"Invalid experiment_id: {experiment_id!r}. Must be a numeric value.",
                    ErrorCode.INVALID_PARAMETER_VALUE,
                )
            pattern = f"%,{experiment_id},%"
            return Comparison(
                Entity.TAG, PROMPT_EXPERIMENT_IDS_TAG_KEY, Op.LIKE, pattern, c.position
            )

        parts = cls._parsed_common(
            filter_string,
            order_by,
            max_results,
            page_token,
            filter_kind=SearchKind.PROMPTS,
            rewrite=scope,
        )
        user = parts.pop("filter")
        marker = Comparison(Entity.TAG, IS_PROMPT_TAG_KEY, Op.EQ, "true")
        return cls(**parts).and_also(marker, *(() if user is None else (user,)))


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
        return cls(**cls._parsed_common(filter_string, order_by, max_results, page_token))


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceSearch(SearchRequest):
    """A trace search over the traces of ``experiment_ids``.

    The filter uses MLflow's trace keys: ``name`` and ``run_id`` arrive as the tag
    ``mlflow.traceName`` and the metadata ``mlflow.sourceRun`` (see
    :func:`trackyard.search.parse_filter` with ``SearchKind.TRACES``); ``span.<field>``
    comparisons match a trace when any of its spans matches. Default order: newest first,
    then ``request_id``; default page size 100.
    """

    kind: ClassVar[SearchKind] = SearchKind.TRACES

    experiment_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        SearchRequest.__post_init__(self)
        object.__setattr__(self, "experiment_ids", tuple(str(e) for e in self.experiment_ids))

    @classmethod
    def parse(
        cls,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | str | None = None,
        page_token: str | None = None,
    ) -> TraceSearch:
        """Check and parse a trace search's arguments (ids must already be validated)."""
        parts = cls._parsed_common(filter_string, order_by, max_results, page_token)
        return cls(experiment_ids=tuple(experiment_ids), **parts)


# -- helpers -----------------------------------------------------------------------------------
def _conjunction(items: Sequence[Expr]) -> Expr | None:
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return And(tuple(items))


def _map(expr: Expr, fn: Callable[[Comparison], Expr]) -> Expr:
    """``expr`` with every comparison replaced by ``fn(comparison)``."""
    if isinstance(expr, Comparison):
        return fn(expr)
    if isinstance(expr, And):
        return And(tuple(_map(item, fn) for item in expr.items))
    assert isinstance(expr, Or)
    return Or(tuple(_map(item, fn) for item in expr.items))


# -- logged models -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DatasetOrderKey(OrderKey):
    """An order key of a logged-model search that may be scoped to one dataset.

    For ``metrics.<key>``, only points logged with ``dataset_name`` (and ``dataset_digest``
    when given) count; the key's value is the newest such point (greatest timestamp, then
    step, then the smallest run id), as in MLflow.
    """

    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedModelSearch(SearchRequest):
    """A logged-model search: models of ``experiment_ids`` that are not deleted.

    Attributes:
        experiment_ids: the experiments searched (strings).
        datasets: ``(dataset_name, dataset_digest or None)`` pairs. When given, metric
            comparisons only look at points logged with one of these datasets, and without
            any metric comparison a model matches only if it has such a point (MLflow's rule).
        token_scope: what page tokens of this search carry besides the offset (the
            experiment ids, the printed filter and the caller's order as MLflow's order
            objects, in MLflow's token format); a token made for another search is refused.

    Metric comparisons hold when *any* point of the metric satisfies them (MLflow's rule);
    metric order keys use the newest point (see :class:`DatasetOrderKey`).
    """

    kind: ClassVar[SearchKind] = SearchKind.LOGGED_MODELS

    experiment_ids: tuple[str, ...] = ()
    datasets: tuple[tuple[str, str | None], ...] = ()
    token_scope: str = ""

    def __post_init__(self) -> None:
        SearchRequest.__post_init__(self)
        object.__setattr__(self, "experiment_ids", tuple(str(e) for e in self.experiment_ids))
        object.__setattr__(self, "datasets", tuple(self.datasets))

    @classmethod
    def parse(
        cls,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        datasets: Sequence[Mapping[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: Sequence[Mapping[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> LoggedModelSearch:
        """Check and parse a logged-model search's arguments (ids must already be validated).

        ``order_by`` items are MLflow's objects ``{"field_name": "metrics.acc",
        "ascending": False, "dataset_name": ..., "dataset_digest": ...}`` or clause strings
        (``"metrics.acc DESC"``). ``datasets`` items are ``{"dataset_name": ...,
        "dataset_digest": ...}`` (the digest optional).

        Raises:
            TrackyardError: ``INVALID_PARAMETER_VALUE`` for any invalid argument, or a page
                token issued for a search with other experiment ids, filter or order.
        """
        from trackyard.search.parser import parse_filter, parse_order_by

        ids = [str(e) for e in experiment_ids]
        n = validate_max_results(max_results, cls.kind)
        expr = parse_filter(filter_string, cls.kind)
        dataset_pairs = _dataset_filters(datasets)
        clauses, scoped = _order_items(order_by)
        order = list(parse_order_by(clauses, cls.kind))
        for i, (name, digest) in enumerate(scoped):
            if name is not None or digest is not None:
                key = order[i]
                order[i] = DatasetOrderKey(key.entity, key.key, key.ascending, name, digest)
        scope = _token_scope(ids, expr, order, len(clauses))
        offset = _decode_scoped_token(page_token, scope)
        return cls(
            filter=expr,
            order_by=tuple(order),
            max_results=n,
            offset=offset,
            experiment_ids=tuple(ids),
            datasets=dataset_pairs,
            token_scope=scope,
        )

    @property
    def wire_order_by(self) -> list[dict[str, Any]]:
        """The caller's order as MLflow's order objects (without the implied tie-breakers).

        Unset dataset fields are left out. A REST store sends this: the server's page
        tokens then carry the same scope as this request's.
        """
        import json

        items = json.loads(self.token_scope).get("order_by") if self.token_scope else None
        return [{k: v for k, v in item.items() if v is not None} for item in items or ()]

    def _token(self, offset: int) -> str:
        import base64
        import json

        payload = json.loads(self.token_scope) if self.token_scope else {}
        payload["offset"] = offset
        return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")

    @property
    def page_token(self) -> str | None:
        """The page token that asks for this request's page (None for the first page)."""
        return self._token(self.offset) if self.offset else None

    def page(self, ordered: Sequence[T]) -> PagedList[T]:
        """As :meth:`SearchRequest.page`, with this search's tokens."""
        from trackyard.entities import PagedList

        end = self.offset + self.max_results
        token = self._token(end) if end < len(ordered) else None
        return PagedList(ordered[self.offset : end], token)

    def paged(self, rows: Sequence[T]) -> PagedList[T]:
        """As :meth:`SearchRequest.paged`, with this search's tokens."""
        from trackyard.entities import PagedList

        if len(rows) > self.max_results:
            return PagedList(rows[: self.max_results], self._token(self.offset + self.max_results))
        return PagedList(rows, None)

    def next_page(self, page: PagedList[Any]) -> LoggedModelSearch | None:
        """The request for the page after ``page`` (which this request returned), or None."""
        if not page.token:
            return None
        return replace(self, offset=_decode_scoped_token(page.token, self.token_scope))


def _dataset_filters(
    datasets: Sequence[Mapping[str, Any]] | None,
) -> tuple[tuple[str, str | None], ...]:
    if datasets is None:
        return ()
    if isinstance(datasets, (str, bytes, Mapping)) or not isinstance(datasets, Sequence):
        raise TrackyardError.invalid_parameter_value(
            f"Invalid datasets {datasets!r}: expected a list of "
            "{'dataset_name': ..., 'dataset_digest': ...} objects"
        )
    pairs: list[tuple[str, str | None]] = []
    for item in datasets:
        if not isinstance(item, Mapping):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid datasets item {item!r}: expected a dict with 'dataset_name'"
            )
        unknown = set(item) - {"dataset_name", "dataset_digest"}
        if unknown:
            raise TrackyardError.invalid_parameter_value(
                f"Invalid datasets item {item!r}: unknown keys {sorted(unknown)}"
            )
        name = item.get("dataset_name")
        digest = item.get("dataset_digest")
        if not isinstance(name, str) or not name:
            raise TrackyardError.invalid_parameter_value(
                "`dataset_name` in the `datasets` clause must be specified."
            )
        if digest is not None and not isinstance(digest, str):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid dataset_digest {digest!r}: expected a string"
            )
        pairs.append((name, digest or None))
    return tuple(pairs)


def _order_items(
    order_by: Sequence[Mapping[str, Any] | str] | None,
) -> tuple[list[str], list[tuple[str | None, str | None]]]:
    """Clause strings for the parser, and each clause's dataset scope."""
    if order_by is None:
        return [], []
    if isinstance(order_by, (str, Mapping)):
        order_by = [order_by]
    if not isinstance(order_by, Sequence):
        raise TrackyardError.invalid_parameter_value(
            f"Invalid order_by {order_by!r}: expected a list of order objects or strings"
        )
    clauses: list[str] = []
    scoped: list[tuple[str | None, str | None]] = []
    allowed = {"field_name", "ascending", "dataset_name", "dataset_digest"}
    for item in order_by:
        if isinstance(item, str):
            clauses.append(item)
            scoped.append((None, None))
            continue
        if not isinstance(item, Mapping):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid order_by item {item!r}: expected a dict with 'field_name' or a string"
            )
        unknown = set(item) - allowed
        if unknown:
            raise TrackyardError.invalid_parameter_value(
                f"Invalid order_by item {item!r}: unknown keys {sorted(unknown)}"
            )
        field_name = item.get("field_name")
        if not isinstance(field_name, str) or not field_name.strip():
            raise TrackyardError.invalid_parameter_value(
                f"Invalid order_by item {item!r}: 'field_name' must be a non-empty string"
            )
        ascending = item.get("ascending", True)
        if not isinstance(ascending, bool):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid order_by item {item!r}: 'ascending' must be a bool"
            )
        name, digest = item.get("dataset_name"), item.get("dataset_digest")
        for label, value in (("dataset_name", name), ("dataset_digest", digest)):
            if value is not None and not isinstance(value, str):
                raise TrackyardError.invalid_parameter_value(
                    f"Invalid order_by item {item!r}: {label!r} must be a string"
                )
        if (name or digest) and not field_name.startswith("metrics."):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid order_by item {item!r}: only metrics can be scoped to a dataset"
            )
        clauses.append(f"{field_name} {'ASC' if ascending else 'DESC'}")
        scoped.append((name or None, digest or None))
    return clauses, scoped


def _token_scope(
    experiment_ids: list[str],
    expr: Expr | None,
    order: Sequence[OrderKey],
    given: int,
) -> str:
    """What a logged-model page token carries besides its offset, in MLflow's wire form.

    The filter is printed from the parsed request and the caller's ``given`` order keys
    are MLflow's order objects (``field_name``, ``ascending``, ``dataset_name``,
    ``dataset_digest``), as MLflow's server records them: a token then continues the same
    search however it was spelled, and a REST store can send exactly this scope.
    """
    import json

    from trackyard.search.printer import format_filter, format_order_by

    items: list[dict[str, Any]] = []
    for key in order[:given]:
        clause = format_order_by([key])[0]
        items.append(
            {
                "field_name": clause.rsplit(" ", 1)[0],
                "ascending": key.ascending,
                "dataset_name": getattr(key, "dataset_name", None),
                "dataset_digest": getattr(key, "dataset_digest", None),
            }
        )
    return json.dumps(
        {
            "experiment_ids": experiment_ids,
            "filter_string": None if expr is None else format_filter(expr) or None,
            "order_by": items or None,
        }
    )


def _decode_scoped_token(token: str | None, scope: str) -> int:
    """The offset of a logged-model page token issued for the search described by ``scope``."""
    import base64
    import binascii
    import json

    from trackyard.search.paging import MAX_PAGE_TOKEN_OFFSET

    if token is None or token == "":
        return 0
    shown = repr(token) if len(repr(token)) <= 80 else repr(token)[:77] + "..."
    bad = TrackyardError(
        f"Invalid page token {shown}: it was not issued by a previous search",
        ErrorCode.INVALID_PARAMETER_VALUE,
    )
    if not isinstance(token, str) or len(token) > 100_000:
        raise bad
    try:
        payload = json.loads(base64.b64decode(token.encode("ascii"), validate=True))
    except (UnicodeError, binascii.Error, ValueError, RecursionError):
        raise bad from None
    if not isinstance(payload, dict):
        raise bad
    offset = payload.pop("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise bad
    if not 0 <= offset <= MAX_PAGE_TOKEN_OFFSET:
        raise bad
    expected = json.loads(scope)
    for key in ("experiment_ids", "filter_string", "order_by"):
        if payload.get(key) != expected.get(key):
            label = key.replace("_", " ")
            raise TrackyardError(
                f"Invalid page token: its {label} ({payload.get(key)!r}) differ from this "
                f"search's ({expected.get(key)!r}); a token only continues the search that "
                "issued it",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
    return offset
