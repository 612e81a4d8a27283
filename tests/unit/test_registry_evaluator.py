"""The reference semantics of registry search (trackyard.search.registry_evaluator)."""

from __future__ import annotations

import pytest

from trackyard import search
from trackyard.entities import PagedList
from trackyard.entities.model_registry import ModelVersion, RegisteredModel, Stage
from trackyard.errors import TrackyardError

PROMPT = {"mlflow.prompt.is_prompt": "true"}
K = "tags.`mlflow.prompt.is_prompt`"


def model(name: str, updated: int | None = 0, **tags: str) -> RegisteredModel:
    return RegisteredModel(name, creation_timestamp=0, last_updated_timestamp=updated, tags=tags)


def version(name: str, number: int, **fields: object) -> ModelVersion:
    return ModelVersion(name, str(number), **fields)  # type: ignore[arg-type]


def find_models(
    pool: list[RegisteredModel],
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> PagedList:
    request = search.RegisteredModelSearch.parse(filter_string, max_results, order_by, page_token)
    return search.search_registered_models_in_memory(pool, request)


def find_versions(
    pool: list[ModelVersion],
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> PagedList:
    request = search.ModelVersionSearch.parse(filter_string, None, order_by)
    return search.search_model_versions_in_memory(pool, request)


def names(page: list[RegisteredModel]) -> list[str]:
    return [m.name for m in page]


def keys(page: list[ModelVersion]) -> list[tuple[str, str]]:
    return [(v.name, v.version) for v in page]


@pytest.mark.parametrize(
    "filter_string, asks",
    [
        (None, False),
        ("name = 'x'", False),
        (f"{K} = 'true'", True),
        (f"{K} = 'TRUE'", True),
        (f"{K} != 'false'", True),
        (f"{K} = 'false'", False),
        (f"{K} != 'true'", False),
        (f"{K} LIKE 'true'", False),
        (f"name = 'x' AND {K} = 'true'", True),
        (f"{K} = 'false' AND {K} = 'true'", False),  # the first term decides, as MLflow
        (f"name = 'x' OR {K} = 'true'", False),  # only top-level AND terms count
    ],
)
def test_when_a_filter_asks_for_prompts(filter_string: str | None, asks: bool) -> None:
    kind = search.SearchKind.REGISTERED_MODELS
    assert search.filter_asks_for_prompts(search.parse_filter(filter_string, kind)) is asks


def test_prompt_terms_are_dropped_unless_asked() -> None:
    kind = search.SearchKind.REGISTERED_MODELS
    expr, prompts = search.effective_filter(search.parse_filter(f"{K} = 'false'", kind))
    assert (expr, prompts) == (None, False)
    expr, prompts = search.effective_filter(
        search.parse_filter(f"name = 'a' AND {K} != 'true'", kind)
    )
    assert expr == search.parse_filter("name = 'a'", kind) and not prompts


def test_registered_model_search() -> None:
    pool = [
        model("b", 5, team="nlp"),
        model("a", 9, team="vision"),
        model("C", None),
        model("p", 1, **PROMPT, team="nlp"),
    ]
    assert names(find_models(pool)) == ["C", "a", "b"]
    assert names(find_models(pool, f"{K} = 'true'")) == ["p"]
    assert names(find_models(pool, "tags.team = 'nlp'")) == ["b"]
    assert names(find_models(pool, "name ILIKE 'c'")) == ["C"]
    assert names(find_models(pool, "name IN ('a', 'p')")) == ["a"]
    by_time = find_models(pool, None, ["timestamp DESC"])
    assert names(by_time) == ["a", "b", "C"]  # a missing time sorts last in both directions
    assert names(find_models(pool, None, ["timestamp"])) == [
        "b",
        "a",
        "C",
    ]
    first = find_models(pool, max_results=2)
    assert names(first) == ["C", "a"] and first.token
    rest = find_models(pool, max_results=2, page_token=first.token)
    assert names(rest) == ["b"] and rest.token is None


def test_model_version_search() -> None:
    pool = [
        version("a", 1, run_id="r1", source="s3://x", last_updated_timestamp=3),
        version("a", 2, run_id=None, source="runs:/r/m", last_updated_timestamp=9),
        version("b", 1, run_id="r1", source="s3://y", tags={"t": "1"}, last_updated_timestamp=5),
        version("b", 2, current_stage=Stage.DELETED_INTERNAL, last_updated_timestamp=99),
        version("p", 1, tags=dict(PROMPT), last_updated_timestamp=7),
        version("p", 2, tags={}, last_updated_timestamp=8),  # left out with its prompt model
    ]
    found = find_versions
    assert keys(found(pool)) == [("a", "2"), ("b", "1"), ("a", "1")]  # newest change first
    assert keys(found(pool, order_by=["name"])) == [("a", "2"), ("a", "1"), ("b", "1")]
    assert keys(found(pool, "run_id != 'x'")) == [("b", "1"), ("a", "1")]  # None never matches
    assert keys(found(pool, "version_number >= 2")) == [("a", "2")]
    assert keys(found(pool, "source_path LIKE 's3://%'", ["version_number"])) == [
        ("a", "1"),
        ("b", "1"),
    ]
    assert keys(found(pool, f"{K} = 'true'")) == [("p", "1")]
    assert keys(found(pool, "tags.t = '1'")) == [("b", "1")]


def test_unsupported_keys_are_refused() -> None:
    with pytest.raises(TrackyardError):
        search.sort_registered_models([], [search.OrderKey(search.Entity.TAG, "t")])
    with pytest.raises(TrackyardError):
        search.model_version_matches(
            version("a", 1),
            search.Comparison(search.Entity.ATTRIBUTE, "status", search.Op.EQ, "READY"),
        )
