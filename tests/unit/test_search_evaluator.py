"""Tests of trackyard.search.evaluator: the reference semantics of search."""

from __future__ import annotations

import itertools
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
    ViewType,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import (
    And,
    Comparison,
    Entity,
    Op,
    Or,
    OrderKey,
    SearchKind,
    decode_page_token,
    encode_page_token,
    experiment_matches,
    like_matches,
    paginate,
    parse_filter,
    parse_order_by,
    run_matches,
    search_experiments_in_memory,
    search_runs_in_memory,
    sort_experiments,
    sort_runs,
)
from trackyard.search.request import ExperimentSearch, RunSearch

NAN = float("nan")
INF = float("inf")


def make_run(
    run_id: str = "r",
    *,
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    start_time: int | None = 100,
    end_time: int | None = None,
    status: str | int = "RUNNING",
    run_name: str | None = "name",
    user_id: str = "alice",
    artifact_uri: str | None = "file:///tmp/a",
    datasets: list[tuple[str, str, str | None]] | None = None,
) -> Run:
    info = RunInfo(
        run_id=run_id,
        experiment_id="0",
        user_id=user_id,
        status=status,  # type: ignore[arg-type]
        start_time=start_time,
        end_time=end_time,
        lifecycle_stage="active",
        artifact_uri=artifact_uri,
        run_name=run_name,
    )
    data = RunData(
        metrics=[Metric(k, v, 0, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, v) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )
    inputs = RunInputs(
        dataset_inputs=tuple(
            DatasetInput(
                Dataset(name=name, digest=digest, source_type="local", source="x"),
                tags=() if context is None else (InputTag("mlflow.data.context", context),),
            )
            for name, digest, context in (datasets or [])
        )
    )
    return Run(info=info, data=data, inputs=inputs)


def matches(run: Run, filter_string: str) -> bool:
    return run_matches(run, parse_filter(filter_string))


def make_exp(
    experiment_id: str,
    name: str = "e",
    *,
    tags: dict[str, str] | None = None,
    creation_time: int | None = 0,
    last_update_time: int | None = 0,
) -> Experiment:
    return Experiment(
        experiment_id=experiment_id,
        name=name,
        artifact_location=f"/a/{experiment_id}",
        lifecycle_stage="active",
        tags=dict(tags or {}),
        creation_time=creation_time,
        last_update_time=last_update_time,
    )


def ids(items) -> list[str]:
    return [item.info.run_id if isinstance(item, Run) else item.experiment_id for item in items]


# ---------------------------------------------------------------------------------------------
# LIKE


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "ab", False),
        ("abc", "%", True),
        ("", "%", True),
        ("", "", True),
        ("", "_", False),
        ("abc", "a%", True),
        ("abc", "%c", True),
        ("abc", "%b%", True),
        ("abc", "a_c", True),
        ("abc", "a__", True),
        ("abc", "a___", False),
        ("abc", "___", True),
        ("abc", "%%%", True),
        ("abc", "a%%c", True),
        ("abc", "b%", False),
        ("abc", "ABC", False),
        ("aXbXc", "a%b%c", True),
        ("aXbXc", "a%c%b", False),
        ("mississippi", "%iss%ppi", True),
        ("mississippi", "m%issi%i", True),
        ("mississippi", "m%issip_", False),
        ("50%", "50\\%", False),  # no escape syntax: backslash is a literal
        ("50\\%", "50\\%", True),
        ("a.b", "a.b", True),
        ("axb", "a.b", False),  # no regex semantics
        ("a*b", "a*b", True),
        ("line\nbreak", "line%", True),
        ("line\nbreak", "line_break", True),
        ("ünï", "_n_", True),
    ],
)
def test_like(value, pattern, expected):
    assert like_matches(value, pattern) is expected


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [("ABC", "abc", True), ("abc", "A%", True), ("Straße", "STRASSE", False), ("ÉTÉ", "été", True)],
)
def test_ilike(value, pattern, expected):
    assert like_matches(value, pattern, case_sensitive=False) is expected


def _like_reference(value: str, pattern: str) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


@settings(max_examples=1000)
@given(value=st.text(alphabet="ab%_", max_size=10), pattern=st.text(alphabet="ab%_", max_size=8))
def test_like_agrees_with_a_regex_reference(value, pattern):
    assert like_matches(value, pattern) is _like_reference(value, pattern)


def test_like_has_no_catastrophic_backtracking():
    value = "a" * 20000
    pattern = "%a" * 30 + "%b"
    assert like_matches(value, pattern) is False


# ---------------------------------------------------------------------------------------------
# Metrics


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.m = 0.5", True),
        ("metrics.m = 0.50", True),
        ("metrics.m != 0.5", False),
        ("metrics.m != 1", True),
        ("metrics.m < 1", True),
        ("metrics.m < 0.5", False),
        ("metrics.m <= 0.5", True),
        ("metrics.m > 0.4", True),
        ("metrics.m > 0.5", False),
        ("metrics.m >= 0.5", True),
        ("metrics.m >= 5e-1", True),
        ("metrics.m > -1", True),
    ],
)
def test_metric_comparisons(filter_string, expected):
    assert matches(make_run(metrics={"m": 0.5}), filter_string) is expected


def test_metric_comparisons_use_the_latest_value():
    run = make_run(metrics={"m": 3.0})
    assert matches(run, "metrics.m = 3")
    assert matches(run, "metric.m = 3.0")


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_nan_never_matches(op):
    run = make_run(metrics={"m": NAN})
    for value in ("0", "1", "-1", "1e308"):
        assert not matches(run, f"metrics.m {op} {value}")


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_missing_metric_never_matches(op):
    run = make_run(metrics={"other": 1.0})
    assert not matches(run, f"metrics.m {op} 1")


def test_infinite_metrics_compare_as_numbers():
    assert matches(make_run(metrics={"m": INF}), "metrics.m > 1e308")
    assert matches(make_run(metrics={"m": -INF}), "metrics.m < -1e308")
    assert matches(make_run(metrics={"m": INF}), "metrics.m != 1")


def test_integer_metric_values():
    assert matches(make_run(metrics={"m": 2}), "metrics.m = 2.0")


def test_metric_keys_with_special_characters():
    run = make_run(metrics={"my metric": 1.0, "a.b/c-d": 2.0})
    assert matches(run, "metrics.`my metric` = 1")
    assert matches(run, "metrics.a.b/c-d = 2")


# ---------------------------------------------------------------------------------------------
# Params and tags


@pytest.mark.parametrize("entity", ["params", "tags"])
@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("= 'Adam'", True),
        ("= 'adam'", False),
        ("!= 'adam'", True),
        ("!= 'Adam'", False),
        ("LIKE 'Ad%'", True),
        ("LIKE 'ad%'", False),
        ("LIKE 'A_am'", True),
        ("LIKE 'Ada'", False),
        ("ILIKE 'ad%'", True),
        ("ILIKE 'ADAM'", True),
        ("ILIKE 'adamw'", False),
        ("IS NULL", False),
        ("IS NOT NULL", True),
    ],
)
def test_string_comparisons_on_present_keys(entity, clause, expected):
    run = make_run(params={"opt": "Adam"}, tags={"opt": "Adam"})
    assert matches(run, f"{entity}.opt {clause}") is expected


@pytest.mark.parametrize("entity", ["params", "tags"])
@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("= 'Adam'", False),
        ("!= 'Adam'", False),
        ("LIKE '%'", False),
        ("ILIKE '%'", False),
        ("IS NULL", True),
        ("IS NOT NULL", False),
    ],
)
def test_string_comparisons_on_missing_keys(entity, clause, expected):
    run = make_run(params={"other": "x"}, tags={"other": "x"})
    assert matches(run, f"{entity}.opt {clause}") is expected


def test_empty_string_is_present():
    run = make_run(tags={"t": ""})
    assert matches(run, "tags.t = ''")
    assert matches(run, "tags.t IS NOT NULL")
    assert matches(run, "tags.t LIKE '%'")
    assert not matches(run, "tags.t IS NULL")


def test_params_and_tags_are_separate():
    run = make_run(params={"k": "p"}, tags={"k": "t"})
    assert matches(run, "params.k = 'p' AND tags.k = 't'")
    assert not matches(run, "params.k = 't'")


def test_system_tags_with_dots():
    run = make_run(tags={"mlflow.source.name": "train.py"})
    assert matches(run, "tags.mlflow.source.name = 'train.py'")
    assert matches(run, "tags.`mlflow.source.name` LIKE '%.py'")


def test_string_values_are_not_numbers():
    run = make_run(params={"lr": "0.10"})
    assert not matches(run, "params.lr = '0.1'")
    assert matches(run, "params.lr = '0.10'")


# ---------------------------------------------------------------------------------------------
# Attributes


def test_string_attributes():
    run = make_run(
        "abc123", status="FINISHED", run_name="Best Run", user_id="bob", artifact_uri="s3://b/x"
    )
    assert matches(run, "run_id = 'abc123'")
    assert matches(run, "attributes.run_id LIKE 'abc%'")
    assert matches(run, "status = 'FINISHED'")
    assert not matches(run, "status = 'finished'")
    assert matches(run, "status ILIKE 'finished'")
    assert matches(run, "run_name = 'Best Run'")
    assert matches(run, "`Run name` LIKE 'Best%'")
    assert matches(run, "user_id != 'alice'")
    assert matches(run, "artifact_uri LIKE 's3://%'")


def test_integer_statuses_are_compared_by_name():
    assert matches(make_run(status=3), "status = 'FINISHED'")


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("run_id IN ('a', 'b')", True),
        ("run_id IN ('b')", False),
        ("run_id IN ('A')", False),
        ("run_id NOT IN ('b', 'c')", True),
        ("run_id NOT IN ('a')", False),
    ],
)
def test_run_id_lists(filter_string, expected):
    assert matches(make_run("a"), filter_string) is expected


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("start_time = 100", True),
        ("start_time != 100", False),
        ("start_time > 99", True),
        ("start_time >= 100", True),
        ("start_time < 100", False),
        ("start_time <= 1e2", True),
        ("created = 100", True),
        ("Created > 50", True),
        ("end_time > 100", True),
        ("end_time = 200", True),
        ("end_time < 150", False),
    ],
)
def test_numeric_attributes(filter_string, expected):
    assert matches(make_run(start_time=100, end_time=200), filter_string) is expected


def test_numeric_attributes_compare_numerically():
    run = make_run(start_time=9)
    assert matches(run, "start_time < 10")  # as strings, "9" > "10"


@pytest.mark.parametrize(
    "filter_string",
    [
        "end_time = 1",
        "end_time != 1",
        "end_time < 1",
        "end_time > 1",
        "run_name = 'x'",
        "run_name != 'x'",
        "run_name LIKE '%'",
        "artifact_uri != 'x'",
        "start_time != 5",
    ],
)
def test_none_attributes_never_match(filter_string):
    run = make_run(end_time=None, run_name=None, artifact_uri=None, start_time=None)
    assert not matches(run, filter_string)


# ---------------------------------------------------------------------------------------------
# Datasets


@pytest.fixture
def dataset_run() -> Run:
    return make_run(
        datasets=[
            ("train_ds", "d1", "training"),
            ("eval_ds", "d2", "evaluation"),
            ("x", "d3", None),
        ]
    )


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("datasets.name = 'train_ds'", True),
        ("datasets.name = 'other'", False),
        ("datasets.name != 'train_ds'", True),  # some other input has another name
        ("datasets.name LIKE '%_ds'", True),
        ("datasets.name ILIKE 'TRAIN%'", True),
        ("datasets.name IN ('a', 'eval_ds')", True),
        ("datasets.name NOT IN ('train_ds', 'eval_ds', 'x')", False),
        ("datasets.digest = 'd2'", True),
        ("dataset.digest IN ('zz')", False),
        ("datasets.context = 'training'", True),
        ("datasets.context = 'evaluation'", True),
        ("datasets.context = 'test'", False),
        ("datasets.context LIKE '%ing'", True),
        ("datasets.context NOT IN ('training', 'evaluation')", False),  # no context never matches
    ],
)
def test_dataset_comparisons(dataset_run, filter_string, expected):
    assert matches(dataset_run, filter_string) is expected


def test_dataset_comparisons_without_inputs():
    run = make_run()
    for text in ("datasets.name = 'a'", "datasets.name != 'a'", "datasets.context NOT IN ('a')"):
        assert not matches(run, text)


def test_dataset_conditions_are_independent():
    run = make_run(datasets=[("a", "d1", "training"), ("b", "d2", "evaluation")])
    # each comparison may be satisfied by a different input
    assert matches(run, "datasets.name = 'a' AND datasets.context = 'evaluation'")


# ---------------------------------------------------------------------------------------------
# AND / OR


def test_no_filter_matches_everything():
    assert run_matches(make_run(), None)
    assert matches(make_run(), "   ")


def test_and_or_precedence():
    run = make_run(metrics={"a": 1.0, "b": 0.0, "c": 0.0})
    assert matches(run, "metrics.a = 1 OR metrics.b = 1 AND metrics.c = 1")
    assert not matches(run, "(metrics.a = 1 OR metrics.b = 1) AND metrics.c = 1")
    assert matches(run, "metrics.a = 1 AND (metrics.b = 1 OR metrics.c = 0)")
    assert not matches(run, "metrics.a = 0 OR metrics.b = 1")


def test_hand_built_expressions():
    run = make_run(params={"p": "x"})
    yes = Comparison(Entity.PARAM, "p", Op.EQ, "x")
    no = Comparison(Entity.PARAM, "p", Op.EQ, "y")
    assert run_matches(run, And((yes, yes)))
    assert not run_matches(run, And((yes, no)))
    assert run_matches(run, Or((no, yes)))
    assert not run_matches(run, Or((no, no)))


@pytest.mark.parametrize(
    "expr",
    [
        Comparison(Entity.ATTRIBUTE, "experiment_id", Op.EQ, "0"),
        Comparison(Entity.DATASET, "source", Op.EQ, "x"),
        "not an expression",
    ],
)
def test_unsupported_expressions_raise_trackyard_errors(expr):
    run = make_run(datasets=[("a", "b", None)])
    with pytest.raises(TrackyardError) as info:
        run_matches(run, expr)  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


# ---------------------------------------------------------------------------------------------
# Sorting runs


def test_default_run_order():
    runs = [
        make_run("b", start_time=1),
        make_run("a", start_time=2),
        make_run("c", start_time=2),
        make_run("d", start_time=None),
    ]
    assert ids(sort_runs(runs, parse_order_by(None))) == ["a", "c", "b", "d"]


def test_metric_order_numbers_then_nan_then_missing():
    runs = [
        make_run("missing"),
        make_run("nan", metrics={"m": NAN}),
        make_run("big", metrics={"m": 10.0}),
        make_run("neg", metrics={"m": -1.0}),
        make_run("inf", metrics={"m": INF}),
        make_run("ninf", metrics={"m": -INF}),
        make_run("zero", metrics={"m": 0.0}),
    ]
    ascending = sort_runs(runs, parse_order_by(["metrics.m ASC"]))
    assert ids(ascending) == ["ninf", "neg", "zero", "big", "inf", "nan", "missing"]
    descending = sort_runs(runs, parse_order_by(["metrics.m DESC"]))
    assert ids(descending) == ["inf", "big", "zero", "neg", "ninf", "nan", "missing"]


def test_string_order_is_by_code_point_with_missing_last():
    runs = [
        make_run("1", params={"p": "b"}),
        make_run("2", params={"p": "B"}),
        make_run("3"),
        make_run("4", params={"p": "a"}),
        make_run("5", params={"p": "é"}),
        make_run("6", params={"p": ""}),
        make_run("7", params={"p": "10"}),
        make_run("8", params={"p": "9"}),
    ]
    assert ids(sort_runs(runs, parse_order_by(["params.p"]))) == [
        "6",
        "7",
        "8",
        "2",
        "4",
        "1",
        "5",
        "3",
    ]
    assert ids(sort_runs(runs, parse_order_by(["params.p DESC"]))) == [
        "5",
        "1",
        "4",
        "2",
        "8",
        "7",
        "6",
        "3",
    ]


def test_tag_and_attribute_order():
    runs = [
        make_run("x", tags={"t": "2"}, end_time=5, status="FINISHED"),
        make_run("y", tags={"t": "1"}, end_time=None, status="FAILED"),
        make_run("z", end_time=3, status="RUNNING"),
    ]
    assert ids(sort_runs(runs, parse_order_by(["tags.t"]))) == ["y", "x", "z"]
    assert ids(sort_runs(runs, parse_order_by(["tags.t DESC"]))) == ["x", "y", "z"]
    assert ids(sort_runs(runs, parse_order_by(["end_time"]))) == ["z", "x", "y"]
    assert ids(sort_runs(runs, parse_order_by(["end_time DESC"]))) == ["x", "z", "y"]
    assert ids(sort_runs(runs, parse_order_by(["status DESC"]))) == ["z", "x", "y"]


def test_multi_key_order_with_mixed_directions():
    runs = [
        make_run("r1", params={"g": "a"}, metrics={"m": 1.0}),
        make_run("r2", params={"g": "b"}, metrics={"m": 5.0}),
        make_run("r3", params={"g": "a"}, metrics={"m": 3.0}),
        make_run("r4", params={"g": "b"}, metrics={"m": 2.0}),
        make_run("r5", metrics={"m": 9.0}),
        make_run("r6", params={"g": "a"}),
    ]
    order = parse_order_by(["params.g ASC", "metrics.m DESC"])
    assert ids(sort_runs(runs, order)) == ["r3", "r1", "r6", "r2", "r4", "r5"]


def test_run_id_breaks_ties():
    runs = [make_run(run_id, start_time=1) for run_id in ("c", "a", "b")]
    assert ids(sort_runs(runs, parse_order_by(["start_time DESC"]))) == ["a", "b", "c"]
    assert ids(sort_runs(runs, parse_order_by(["run_id DESC"]))) == ["c", "b", "a"]


def test_sort_without_keys_keeps_input_order():
    runs = [make_run(run_id) for run_id in ("c", "a", "b")]
    assert ids(sort_runs(runs, ())) == ["c", "a", "b"]


def test_sort_accepts_iterables_and_returns_new_lists():
    runs = [make_run("b"), make_run("a")]
    result = sort_runs(iter(runs), parse_order_by(["run_id"]))
    assert ids(result) == ["a", "b"]
    assert ids(runs) == ["b", "a"]


def test_sort_by_unknown_keys_fails_cleanly():
    with pytest.raises(TrackyardError):
        sort_runs([make_run()], [OrderKey(Entity.ATTRIBUTE, "lifecycle_stage")])
    with pytest.raises(TrackyardError):
        sort_runs([make_run()], [OrderKey(Entity.DATASET, "name")])


METRIC_VALUES = st.one_of(
    st.none(),
    st.just(NAN),
    st.floats(allow_nan=False),
    st.integers(min_value=-5, max_value=5).map(float),
)


@settings(max_examples=300)
@given(values=st.lists(METRIC_VALUES, max_size=12), ascending=st.booleans())
def test_metric_sort_property(values, ascending):
    runs = [
        make_run(f"r{i:02d}", metrics={} if v is None else {"m": v}) for i, v in enumerate(values)
    ]
    direction = "ASC" if ascending else "DESC"
    result = sort_runs(runs, parse_order_by([f"metrics.m {direction}"]))
    assert sorted(ids(result)) == sorted(ids(runs))

    def klass(run: Run) -> int:
        value = run.data.metrics.get("m")
        return 2 if value is None else 1 if math.isnan(value) else 0

    classes = [klass(run) for run in result]
    assert classes == sorted(classes)  # numbers, then NaN, then missing
    numbers = [run.data.metrics["m"] for run in result if klass(run) == 0]
    assert numbers == sorted(numbers, reverse=not ascending)
    # ties (and the NaN and missing groups) fall back to start_time DESC (equal), run_id ASC
    for first, second in itertools.pairwise(result):
        if klass(first) == klass(second) and (
            klass(first) > 0 or first.data.metrics["m"] == second.data.metrics["m"]
        ):
            assert first.info.run_id < second.info.run_id


# ---------------------------------------------------------------------------------------------
# Experiments


def test_experiment_matching():
    exp = make_exp("7", "My Exp", tags={"team": "vision"}, creation_time=10, last_update_time=20)
    yes = [
        "name = 'My Exp'",
        "name LIKE 'My%'",
        "name ILIKE 'my exp'",
        "name != 'x'",
        "attributes.name = 'My Exp'",
        "experiment_id = '7'",
        "experiment_id IN ('1', '7')",
        "experiment_id NOT IN ('1')",
        "creation_time = 10",
        "creation_time < 11",
        "last_update_time >= 20",
        "tags.team = 'vision'",
        "tag.team LIKE 'vis%'",
        "tags.team IS NOT NULL",
        "tags.other IS NULL",
        "name = 'x' OR tags.team = 'vision'",
    ]
    no = [
        "name = 'my exp'",
        "experiment_id = '07'",
        "experiment_id NOT IN ('7')",
        "creation_time > 10",
        "tags.team != 'vision'",
        "tags.other != 'x'",
        "tags.other LIKE '%'",
        "tags.team IS NULL",
        "name = 'My Exp' AND tags.team = 'nlp'",
    ]
    for text in yes:
        assert experiment_matches(exp, parse_filter(text, SearchKind.EXPERIMENTS)), text
    for text in no:
        assert not experiment_matches(exp, parse_filter(text, SearchKind.EXPERIMENTS)), text
    assert experiment_matches(exp, None)


def test_experiments_with_missing_times_never_match_time_filters():
    exp = make_exp("1", creation_time=None, last_update_time=None)
    for text in ("creation_time != 1", "creation_time > 0", "last_update_time < 5"):
        assert not experiment_matches(exp, parse_filter(text, SearchKind.EXPERIMENTS))


def test_experiment_unsupported_expression():
    with pytest.raises(TrackyardError):
        experiment_matches(make_exp("1"), Comparison(Entity.METRIC, "m", Op.EQ, 1.0))


def test_experiment_order():
    exps = [
        make_exp("1", "b", creation_time=5, last_update_time=1),
        make_exp("2", "a", creation_time=7, last_update_time=None),
        make_exp("3", "c", creation_time=7, last_update_time=3),
        make_exp("4", "a", creation_time=None, last_update_time=2),
    ]
    default = parse_order_by(None, SearchKind.EXPERIMENTS)
    assert ids(sort_experiments(exps, default)) == ["2", "3", "1", "4"]
    by_name = parse_order_by(["name"], SearchKind.EXPERIMENTS)
    assert ids(sort_experiments(exps, by_name)) == ["2", "4", "1", "3"]
    by_update = parse_order_by(["last_update_time DESC"], SearchKind.EXPERIMENTS)
    assert ids(sort_experiments(exps, by_update)) == ["3", "4", "1", "2"]


# ---------------------------------------------------------------------------------------------
# Paging


def test_paginate_pages_and_tokens():
    items = list(range(7))
    first = paginate(items, 3, None)
    assert isinstance(first, PagedList)
    assert list(first) == [0, 1, 2]
    assert decode_page_token(first.token) == 3
    second = paginate(items, 3, first.token)
    assert list(second) == [3, 4, 5]
    third = paginate(items, 3, second.token)
    assert list(third) == [6]
    assert third.token is None


def test_paginate_exact_multiple_has_no_trailing_token():
    items = list(range(6))
    second = paginate(items, 3, encode_page_token(3))
    assert list(second) == [3, 4, 5]
    assert second.token is None
    assert paginate(items, 6, "").token is None
    assert paginate(items, 5, "").token is not None


def test_paginate_beyond_the_end_and_empty_inputs():
    assert list(paginate([1, 2], 5, encode_page_token(10))) == []
    assert paginate([1, 2], 5, encode_page_token(10)).token is None
    empty = paginate([], 10, None)
    assert list(empty) == []
    assert empty.token is None


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, None])
def test_paginate_rejects_bad_sizes(bad):
    with pytest.raises(TrackyardError) as info:
        paginate([1], bad, None)  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_paginate_rejects_bad_tokens():
    with pytest.raises(TrackyardError) as info:
        paginate([1], 1, "garbage")
    assert info.value.message.startswith("Invalid page token")


# ---------------------------------------------------------------------------------------------
# search_*_in_memory


@pytest.fixture
def runs() -> list[Run]:
    return [
        make_run(
            f"run{i:02d}",
            metrics={"acc": i / 10},
            params={"even": str(i % 2 == 0)},
            start_time=1000 + i % 3,
        )
        for i in range(10)
    ]


def _all_pages(search, request):
    """Every page of ``request``, followed through ``next_page``."""
    pages = []
    while request is not None:
        page = search(request)
        pages.append(page)
        request = request.next_page(page)
    return pages


def test_search_runs_end_to_end(runs):
    request = RunSearch.parse(
        ["0"], "params.even = 'True' AND metrics.acc >= 0.2", 1, 2, ["metrics.acc DESC"]
    )
    result = search_runs_in_memory(runs, request)
    assert ids(result) == ["run08", "run06"]
    assert result.token is not None
    rest = search_runs_in_memory(runs, request.next_page(result))
    assert ids(rest) == ["run04", "run02"]
    assert rest.token is None


def test_search_runs_defaults(runs):
    result = search_runs_in_memory(runs, RunSearch.parse(["0"]))
    assert result.token is None
    expected = sorted(runs, key=lambda r: (-r.info.start_time, r.info.run_id))
    assert ids(result) == ids(expected)


def test_search_runs_takes_requests_built_from_nodes(runs):
    request = RunSearch(
        experiment_ids=("0",),
        filter=Comparison(Entity.PARAM, "even", Op.EQ, "False"),
        order_by=(OrderKey(Entity.METRIC, "acc", False),),
        max_results=3,
    )
    assert ids(search_runs_in_memory(runs, request)) == ["run09", "run07", "run05"]


def test_search_runs_applies_the_requests_scope():
    runs = [
        make_run("a"),
        make_run("b"),
        make_run("c"),
        make_run("d"),
    ]
    runs[1].info.experiment_id = "7"
    runs[2].info.lifecycle_stage = "deleted"
    runs[3].info.experiment_id = "7"
    runs[3].info.lifecycle_stage = "deleted"

    def found(experiment_ids, view_type):
        return ids(search_runs_in_memory(runs, RunSearch.parse(experiment_ids, None, view_type)))

    assert found(["0"], ViewType.ACTIVE_ONLY) == ["a"]
    assert found(["0"], ViewType.DELETED_ONLY) == ["c"]
    assert found(["0", "7"], ViewType.ALL) == ["a", "b", "c", "d"]
    assert found(["7", "7"], ViewType.ACTIVE_ONLY) == ["b"]
    assert found([], ViewType.ALL) == []


@pytest.mark.parametrize("page_size", [1, 3, 4, 9, 10, 11])
def test_paging_through_every_page_gives_the_full_order(runs, page_size):
    order = ["params.even", "metrics.acc"]
    full = ids(search_runs_in_memory(runs, RunSearch.parse(["0"], None, 1, None, order)))
    request = RunSearch.parse(["0"], None, 1, page_size, order)
    pages = _all_pages(lambda r: search_runs_in_memory(runs, r), request)
    assert [run for page in pages for run in ids(page)] == full
    assert len(pages) == max(1, math.ceil(len(runs) / page_size))
    assert all(page.token for page in pages[:-1]) and pages[-1].token is None


def test_search_experiments_end_to_end():
    exps = [
        make_exp(str(i), f"exp-{i % 3}", tags={"k": "v"} if i % 2 else {}, creation_time=i)
        for i in range(6)
    ]
    request = ExperimentSearch.parse(1, 2, "tags.k IS NOT NULL")
    result = search_experiments_in_memory(exps, request)
    assert ids(result) == ["5", "3"]
    assert ids(search_experiments_in_memory(exps, request.next_page(result))) == ["1"]
    by_name = search_experiments_in_memory(
        exps, ExperimentSearch.parse(1, None, "name LIKE 'exp-%'", ["name DESC"])
    )
    assert ids(by_name) == ["2", "5", "1", "4", "0", "3"]


def test_search_experiments_applies_the_view_type():
    exps = [make_exp("1"), make_exp("2"), make_exp("3")]
    exps[1].lifecycle_stage = "deleted"

    def found(view_type):
        return ids(search_experiments_in_memory(exps, ExperimentSearch.parse(view_type)))

    assert found(ViewType.ACTIVE_ONLY) == ["1", "3"]
    assert found(ViewType.DELETED_ONLY) == ["2"]
    assert found(ViewType.ALL) == ["1", "2", "3"]
