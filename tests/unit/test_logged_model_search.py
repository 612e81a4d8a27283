"""Logged-model search: grammar, requests (order objects, datasets, page tokens), evaluator."""

from __future__ import annotations

import base64
import json

import pytest

from trackyard.entities import LoggedModel, LoggedModelStatus, Metric
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import Comparison, Entity, Op, SearchKind, parse_filter
from trackyard.search.logged_model_evaluator import (
    logged_model_matches,
    newest_metric_value,
    search_logged_models_in_memory,
)
from trackyard.search.request import DatasetOrderKey, LoggedModelSearch


def _model(mid: str, ts: int, metrics: list[Metric] | None = None, **kw: object) -> LoggedModel:
    return LoggedModel(
        experiment_id="1",
        model_id=mid,
        name=kw.pop("name", mid),  # type: ignore[arg-type]
        artifact_location="/a",
        creation_timestamp=ts,
        last_updated_timestamp=ts,
        metrics=metrics,
        **kw,  # type: ignore[arg-type]
    )


def _point(
    key: str, value: float, ts: int, step: int = 0, ds: str | None = None, run: str = "r"
) -> Metric:
    return Metric(key, value, ts, step, dataset_name=ds, run_id=run)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name = 'a'", Comparison(Entity.ATTRIBUTE, "name", Op.EQ, "a", 0)),
        ("creation_time > 5", Comparison(Entity.ATTRIBUTE, "creation_timestamp", Op.GT, 5, 0)),
        ("metrics.acc >= 1", Comparison(Entity.METRIC, "acc", Op.GE, 1.0, 0)),
        ("params.lr IN ('1')", Comparison(Entity.PARAM, "lr", Op.IN, ("1",), 0)),
        ("attributes.status != 'READY'", Comparison(Entity.ATTRIBUTE, "status", Op.NE, "READY", 0)),
    ],
)
def test_grammar(text: str, expected: Comparison) -> None:
    assert parse_filter(text, SearchKind.LOGGED_MODELS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "metric.acc > 1",
        "param.lr = 'x'",
        "tag.t = 'x'",
        "attribute.name = 'x'",
        "datasets.name = 'x'",
        "tags.t IS NULL",
        "run_id = 'x'",
    ],
)
def test_singular_prefixes_and_unknown_keys_are_refused(text: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        parse_filter(text, SearchKind.LOGGED_MODELS)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_order_objects_and_defaults() -> None:
    req = LoggedModelSearch.parse(
        ["1"],
        order_by=[{"field_name": "metrics.acc", "ascending": False, "dataset_name": "d"}, "name"],
    )
    first, second, *rest = req.order_by
    assert first == DatasetOrderKey(Entity.METRIC, "acc", False, "d", None)
    assert (second.key, second.ascending) == ("name", True)
    assert [(k.key, k.ascending) for k in rest] == [
        ("creation_timestamp", False),
        ("model_id", True),
    ]
    assert req.max_results == 100


def test_page_tokens_carry_the_search_and_are_checked() -> None:
    req = LoggedModelSearch.parse(["1"], "name = 'a'", max_results=1)
    page = req.page([1, 2, 3])
    assert page.token is not None
    payload = json.loads(base64.b64decode(page.token))
    assert payload == {
        "experiment_ids": ["1"],
        "filter_string": "name = 'a'",
        "order_by": None,
        "offset": 1,
    }
    again = LoggedModelSearch.parse(["1"], "name = 'a'", max_results=1, page_token=page.token)
    assert again.offset == 1
    for other in (
        {"experiment_ids": ["2"], "filter_string": "name = 'a'"},
        {"experiment_ids": ["1"], "filter_string": "name = 'b'"},
    ):
        with pytest.raises(TrackyardError, match="token"):
            LoggedModelSearch.parse(
                other["experiment_ids"], other["filter_string"], page_token=page.token
            )
    with pytest.raises(TrackyardError):
        LoggedModelSearch.parse(["1"], page_token=base64.b64encode(b"[1]").decode())


def test_metric_filters_look_at_any_point_and_order_at_the_newest() -> None:
    old_high = _model("m-a", 1, [_point("acc", 0.9, 1), _point("acc", 0.1, 2)])
    steady = _model("m-b", 2, [_point("acc", 0.5, 1)])
    expr = parse_filter("metrics.acc > 0.8", SearchKind.LOGGED_MODELS)
    assert logged_model_matches(old_high, expr)
    assert not logged_model_matches(steady, expr)
    assert newest_metric_value(old_high.metrics or [], "acc", None, None) == 0.1
    req = LoggedModelSearch.parse(["1"], order_by=[{"field_name": "metrics.acc"}])
    assert [m.model_id for m in search_logged_models_in_memory([steady, old_high], req)] == [
        "m-a",
        "m-b",
    ]


def test_newest_point_ties_go_to_the_smallest_run_id() -> None:
    points = [_point("acc", 1.0, 5, 1, run="b"), _point("acc", 2.0, 5, 1, run="a")]
    assert newest_metric_value(points, "acc", None, None) == 2.0


def test_datasets_restrict_metric_terms_and_require_a_point() -> None:
    on_train = _model("m-a", 1, [_point("acc", 0.9, 1, ds="train")])
    on_eval = _model("m-b", 1, [_point("acc", 0.9, 1, ds="eval")])
    bare = _model("m-c", 1)
    expr = parse_filter("metrics.acc > 0.5", SearchKind.LOGGED_MODELS)
    datasets = (("train", None),)
    assert logged_model_matches(on_train, expr, datasets)
    assert not logged_model_matches(on_eval, expr, datasets)
    assert logged_model_matches(on_train, None, datasets)
    assert not logged_model_matches(bare, None, datasets)


def test_status_compares_by_name() -> None:
    ready = _model("m-a", 1, status=LoggedModelStatus.READY)
    expr = parse_filter("status LIKE 'RE%'", SearchKind.LOGGED_MODELS)
    assert logged_model_matches(ready, expr)
