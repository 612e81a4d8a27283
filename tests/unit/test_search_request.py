"""Tests of trackyard.search.request: the typed requests stores receive."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from trackyard.entities import PagedList, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import (
    And,
    Comparison,
    Entity,
    ExperimentSearch,
    ModelVersionSearch,
    Op,
    Or,
    OrderKey,
    RegisteredModelSearch,
    RunSearch,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)

BAD_TOKEN = "bogus"


def _parse(cls: type, filter_string: Any, order_by: Any, max_results: Any, token: Any) -> Any:
    if cls is RunSearch:
        return RunSearch.parse(["1"], filter_string, 1, max_results, order_by, token)
    if cls is ExperimentSearch:
        return ExperimentSearch.parse(1, max_results, filter_string, order_by, token)
    return cls.parse(filter_string, max_results, order_by, token)


def _error(cls: type, **arguments: Any) -> str:
    with pytest.raises(TrackyardError) as excinfo:
        _parse(
            cls,
            arguments.get("filter_string"),
            arguments.get("order_by"),
            arguments.get("max_results"),
            arguments.get("token"),
        )
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    return excinfo.value.message


CLASSES = [RunSearch, ExperimentSearch, RegisteredModelSearch, ModelVersionSearch]
BAD_FILTER = "name == 'x'"
BAD_ORDER = ["nonsense.key DESC"]


# ---------------------------------------------------------------------------------------------
# parse: checks in MLflow's order


@pytest.mark.parametrize("cls", CLASSES)
def test_parse_checks_page_size_then_filter_then_order_then_token(cls: type) -> None:
    everything_bad = {
        "max_results": 0,
        "filter_string": BAD_FILTER,
        "order_by": BAD_ORDER,
        "token": BAD_TOKEN,
    }
    assert "max_results" in _error(cls, **everything_bad)
    assert _error(cls, **{**everything_bad, "max_results": 5}).startswith("Invalid filter")
    no_filter = {**everything_bad, "max_results": 5, "filter_string": None}
    assert _error(cls, **no_filter).startswith("Invalid order_by")
    assert _error(cls, **{**no_filter, "order_by": None}).startswith("Invalid page token")


@pytest.mark.parametrize(
    "cls, cap", [(RunSearch, 50000), (ExperimentSearch, 50000), (RegisteredModelSearch, 1000)]
)
def test_parse_applies_each_kinds_page_size_rules(cls: type, cap: int) -> None:
    assert _parse(cls, None, None, cap, None).max_results == cap
    assert f"at most {cap}" in _error(cls, max_results=cap + 1)
    for bad in (0, -1, True, 1.5, "10"):
        assert "max_results" in _error(cls, max_results=bad)


def test_parse_defaults() -> None:
    assert RunSearch.parse(["1"]).max_results == 1000
    assert ExperimentSearch.parse().max_results == 1000
    assert RegisteredModelSearch.parse().max_results == 100
    assert ModelVersionSearch.parse().max_results == 10000
    run = RunSearch.parse(["1", 2])  # type: ignore[list-item]
    assert run.experiment_ids == ("1", "2") and run.view_type == ViewType.ACTIVE_ONLY
    assert run.filter is None and run.offset == 0 and run.page_token is None


def test_parse_gives_the_parsers_ast_and_the_complete_order() -> None:
    request = RunSearch.parse(["1"], "metrics.acc > 0.5", 3, 7, "metrics.acc DESC")
    assert request.filter == parse_filter("metrics.acc > 0.5")
    assert request.order_by == parse_order_by(["metrics.acc DESC"])
    assert request.order_by[-2:] == (
        OrderKey(Entity.ATTRIBUTE, "start_time", False),
        OrderKey(Entity.ATTRIBUTE, "run_id", True),
    )
    assert (request.view_type, request.max_results) == (ViewType.ALL, 7)
    assert request.offset == 0
    assert RunSearch.parse(["1"], page_token=encode_page_token(40)).offset == 40


@pytest.mark.parametrize("view_type", [0, 4, None, "ALL"])
def test_parse_refuses_unknown_view_types_after_everything_else(view_type: Any) -> None:
    for build in (
        lambda: RunSearch.parse(["1"], None, view_type),
        lambda: ExperimentSearch.parse(view_type),
    ):
        with pytest.raises(TrackyardError) as excinfo:
            build()
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    with pytest.raises(TrackyardError, match="Invalid filter"):
        ExperimentSearch.parse(view_type, None, BAD_FILTER)


def test_requests_are_frozen_and_hashable() -> None:
    request = ModelVersionSearch.parse("name = 'a'")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.offset = 3  # type: ignore[misc]
    assert hash(request) == hash(ModelVersionSearch.parse("name = 'a'"))


# ---------------------------------------------------------------------------------------------
# building from nodes


def test_direct_construction_completes_the_order_and_checks_the_page_size() -> None:
    request = ExperimentSearch(max_results=10)
    assert request.order_by == parse_order_by(None, "experiments")
    keyed = RunSearch(max_results=5, order_by=(OrderKey(Entity.METRIC, "m", False),))
    assert keyed.order_by == parse_order_by(["metrics.m DESC"])
    assert RunSearch(max_results=5, order_by=keyed.order_by).order_by == keyed.order_by
    with pytest.raises(TrackyardError, match="at most 1000"):
        RegisteredModelSearch(max_results=1001)
    with pytest.raises(TrackyardError):
        RunSearch(max_results=5, view_type=9)
    with pytest.raises(ValueError, match="offset"):
        RunSearch(max_results=5, offset=-1)


A = Comparison(Entity.TAG, "a", Op.EQ, "1")
B = Comparison(Entity.TAG, "b", Op.EQ, "2")
C = Comparison(Entity.TAG, "c", Op.EQ, "3")
D = Comparison(Entity.TAG, "d", Op.EQ, "4")


def test_and_also_flattens_conjunctions() -> None:
    empty = RegisteredModelSearch(max_results=10)
    assert empty.and_also().filter is None
    assert empty.and_also(A).filter == A
    assert empty.and_also(A, B).filter == And((A, B))
    assert empty.and_also(A).and_also(B).filter == And((A, B))
    assert empty.and_also(And((A, B)), C).filter == And((A, B, C))
    assert empty.and_also(A).and_also(And((B, C)), D).filter == And((A, B, C, D))


def test_and_also_keeps_a_disjunction_as_one_term() -> None:
    either = Or((A, B))
    request = RegisteredModelSearch(max_results=10, filter=either).and_also(C)
    assert request.filter == And((either, C))
    assert RegisteredModelSearch(max_results=10).and_also(either).filter == either


def test_and_also_keeps_everything_else_and_the_original() -> None:
    request = RunSearch.parse(["1", "2"], "tags.a = '1'", 3, 4, ["params.p"], encode_page_token(8))
    more = request.and_also(B)
    assert more.filter == And((A, B))
    assert request.filter == A  # unchanged: requests are values
    assert (more.experiment_ids, more.view_type, more.max_results, more.offset) == (
        ("1", "2"),
        3,
        4,
        8,
    )
    assert more.order_by == request.order_by
    assert type(more) is RunSearch


# ---------------------------------------------------------------------------------------------
# paging


def _items(n: int) -> list[int]:
    return list(range(n))


@pytest.mark.parametrize(
    "offset, size, total, page, next_offset",
    [
        (0, 3, 0, [], None),
        (0, 3, 2, [0, 1], None),
        (0, 3, 3, [0, 1, 2], None),  # exactly one page: no token
        (0, 3, 4, [0, 1, 2], 3),
        (3, 3, 6, [3, 4, 5], None),  # the last page ends on the last item
        (3, 3, 7, [3, 4, 5], 6),
        (6, 3, 7, [6], None),
        (9, 3, 7, [], None),  # beyond the end
        (0, 1, 2, [0], 1),
    ],
)
def test_page_at_the_boundaries(
    offset: int, size: int, total: int, page: list[int], next_offset: int | None
) -> None:
    request = RunSearch(max_results=size, offset=offset)
    got = request.page(_items(total))
    assert isinstance(got, PagedList)
    assert list(got) == page
    if next_offset is None:
        assert got.token is None
        assert request.next_page(got) is None
    else:
        assert decode_page_token(got.token) == next_offset
        assert request.next_page(got) == dataclasses.replace(request, offset=next_offset)


@pytest.mark.parametrize(
    "offset, size, fetched, page, next_offset",
    [
        (0, 3, 0, [], None),
        (0, 3, 2, [0, 1], None),
        (0, 3, 3, [0, 1, 2], None),  # no extra row: the last page
        (0, 3, 4, [0, 1, 2], 3),  # the extra row only says that more follow
        (6, 3, 4, [0, 1, 2], 9),
        (6, 3, 1, [0], None),
    ],
)
def test_paged_reads_the_extra_row(
    offset: int, size: int, fetched: int, page: list[int], next_offset: int | None
) -> None:
    request = ExperimentSearch(max_results=size, offset=offset)
    got = request.paged(_items(fetched))
    assert list(got) == page
    if next_offset is None:
        assert got.token is None
    else:
        assert decode_page_token(got.token) == next_offset


def test_page_and_paged_agree() -> None:
    everything = _items(10)
    for size in (1, 3, 4, 10, 11):
        request: Any = ModelVersionSearch(max_results=size)
        while request is not None:
            whole = request.page(everything)
            paged = request.paged(everything[request.offset : request.offset + size + 1])
            assert (list(paged), paged.token) == (list(whole), whole.token)
            request = request.next_page(whole)


def test_page_token_round_trips() -> None:
    assert RunSearch(max_results=5).page_token is None
    token = encode_page_token(25)
    request = RunSearch.parse(["1"], page_token=token)
    assert request.page_token == token
    assert RunSearch.parse(["1"], page_token=request.page_token).offset == 25


def test_next_page_refuses_a_foreign_token() -> None:
    with pytest.raises(TrackyardError) as excinfo:
        RunSearch(max_results=5).next_page(PagedList([], "not-a-token"))
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


# ---------------------------------------------------------------------------------------------
# prompts

PROMPT_MARKER = Comparison(Entity.TAG, "mlflow.prompt.is_prompt", Op.EQ, "true")


def _linked(experiment_id: str) -> Comparison:
    return Comparison(Entity.TAG, "_mlflow_experiment_ids", Op.LIKE, f"%,{experiment_id},%")


def _no_positions(expr: Any) -> Any:
    if isinstance(expr, Comparison):
        return dataclasses.replace(expr, position=0)
    return type(expr)(tuple(_no_positions(item) for item in expr.items))


def test_parse_prompts_puts_the_marker_first() -> None:
    assert RegisteredModelSearch.parse_prompts().filter == PROMPT_MARKER
    request = RegisteredModelSearch.parse_prompts("name = 'a' AND tags.t = 'x'", 5, ["name DESC"])
    assert _no_positions(request.filter) == And(
        (
            PROMPT_MARKER,
            Comparison(Entity.ATTRIBUTE, "name", Op.EQ, "a"),
            Comparison(Entity.TAG, "t", Op.EQ, "x"),
        )
    )
    assert request.order_by == parse_order_by(["name DESC"], "registered_models")
    assert request.max_results == 5
    assert RegisteredModelSearch.parse_prompts().max_results == 1000


def test_parse_prompts_turns_experiment_terms_into_tag_terms_at_any_depth() -> None:
    request = RegisteredModelSearch.parse_prompts(
        "(experiment_id = '7' OR name = 'x') AND experiment_id = '12'"
    )
    name_x = Comparison(Entity.ATTRIBUTE, "name", Op.EQ, "x")
    assert _no_positions(request.filter) == And(
        (PROMPT_MARKER, Or((_linked("7"), name_x)), _linked("12"))
    )
    either = RegisteredModelSearch.parse_prompts("experiment_id = '1' OR experiment_id = '2'")
    assert _no_positions(either.filter) == And((PROMPT_MARKER, Or((_linked("1"), _linked("2")))))


def test_parse_prompts_leaves_quoted_text_alone() -> None:
    request = RegisteredModelSearch.parse_prompts("tags.note = \"experiment_id = '1'\"")
    assert _no_positions(request.filter) == And(
        (PROMPT_MARKER, Comparison(Entity.TAG, "note", Op.EQ, "experiment_id = '1'"))
    )


def test_parse_prompts_checks_experiment_ids_with_the_filter() -> None:
    with pytest.raises(TrackyardError, match="Invalid experiment_id: 'x'"):
        RegisteredModelSearch.parse_prompts("experiment_id = 'x'", order_by=["bad.key"])
    with pytest.raises(TrackyardError, match="max_results"):
        RegisteredModelSearch.parse_prompts("experiment_id = 'x'", max_results=1001)
