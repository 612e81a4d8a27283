"""Validation rules and limits (reference section 3)."""

from __future__ import annotations

import math

import pytest

from trackyard import validation as v
from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError


def invalid(fn, *args, **kwargs) -> str:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
    return excinfo.value.message


def test_limits_match_mlflow() -> None:
    assert (v.MAX_ENTITY_KEY_LENGTH, v.MAX_PARAM_VAL_LENGTH, v.MAX_TAG_VAL_LENGTH) == (
        250,
        6000,
        8000,
    )
    assert (v.MAX_EXPERIMENT_NAME_LENGTH, v.MAX_EXPERIMENT_TAG_VAL_LENGTH) == (500, 20000)
    assert (v.MAX_PARAMS_TAGS_PER_BATCH, v.MAX_METRICS_PER_BATCH, v.MAX_ENTITIES_PER_BATCH) == (
        100,
        1000,
        1000,
    )


@pytest.mark.parametrize("key", ["a", "a/b", "x.y-z_1 :2", "k" * 250, "ü", "0"])
def test_good_keys(key: str) -> None:
    assert v.validate_key(key) == key


@pytest.mark.parametrize(
    "key, fragment",
    [
        ("k" * 251, "limit is 250"),
        ("a//b", "would resolve to 'a/b'"),
        ("a/./b", "would resolve"),
        ("a/", "would resolve to 'a'"),
        ("./a", "would resolve"),
        ("/a", "would resolve"),
        ("../a", "would resolve"),
        ("..", "would resolve"),
        ("", "would resolve to '.'"),
        ("a\x00b", "may only contain"),
        ("a*b", "may only contain"),
        (5, "must be strings"),
    ],
)
def test_bad_keys(key: object, fragment: str) -> None:
    assert fragment in invalid(v.validate_key, key, "metric")


def test_metric_values() -> None:
    m = v.validate_metric("m", 3, 10, 2)
    assert (m.value, type(m.value), m.timestamp, m.step) == (3.0, float, 10, 2)
    assert math.isnan(v.validate_metric("m", float("nan"), 0, 0).value)
    assert v.validate_metric("m", float("inf"), 0, 0).value == math.inf
    invalid(v.validate_metric, "m", None, 0, 0)
    assert "negative" in invalid(v.validate_metric, "m", 1.0, -1, 0)
    invalid(v.validate_metric, "m", 1.0, float("nan"), 0)
    invalid(v.validate_metric, "m", 1.0, 0, "x")


# What MLflow 3.17.2's client stores for each value (checked with the peer, see
# tests/compat/test_mlflow_dropin_compat.py): anything float() takes, bools included.
@pytest.mark.parametrize(
    "value, expected",
    [
        ("0.5", 0.5),
        (" 1e3 ", 1000.0),
        ("  7\n", 7.0),
        ("+3", 3.0),
        ("1_000", 1000.0),
        ("-inf", -math.inf),
        ("Infinity", math.inf),
        ("1e400", math.inf),
        ("\uff11", 1.0),  # a full-width digit: float() reads any Unicode decimal digit
        (b" 2.5", 2.5),
        (bytearray(b"3"), 3.0),
        (True, 1.0),
        (False, 0.0),
    ],
)
def test_metric_values_convert_as_mlflow(value: object, expected: float) -> None:
    m = v.validate_metric("m", value, 0, 0)
    assert type(m.value) is float and m.value == expected


@pytest.mark.parametrize("text", ["nan", "NaN", "-nan"])
def test_metric_value_nan_strings(text: str) -> None:
    assert math.isnan(v.validate_metric("m", text, 0, 0).value)


@pytest.mark.parametrize("value", ["", "abc", "0x10", "1.5f", None, 1 + 0j, [1], {}, object()])
def test_metric_values_refused(value: object) -> None:
    assert "valid double" in invalid(v.validate_metric, "m", value, 0, 0)


class _OneNumber:
    """Stands for a one-element array or tensor: it has ``item()``, like numpy and torch."""

    def __init__(self, *values: float) -> None:
        self.values = values

    def item(self) -> float:
        if len(self.values) != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.values[0]


def test_metric_values_with_item() -> None:
    assert v.validate_metric("m", _OneNumber(0.25), 0, 0).value == 0.25
    invalid(v.validate_metric, "m", _OneNumber(1.0, 2.0), 0, 0)


@pytest.mark.parametrize("bad", ["1000", "5", True, False, float("inf"), float("nan"), None, "1e3"])
def test_timestamps_and_steps_must_be_numbers(bad: object) -> None:
    # MLflow refuses strings here too; booleans and non-finite numbers are refused as well
    invalid(v.validate_metric, "m", 1.0, bad, 0)
    invalid(v.validate_metric, "m", 1.0, 0, bad)
    invalid(v.validate_timestamp, bad)


def test_timestamps_and_steps_must_fit_in_int64() -> None:
    # the stores keep them as BIGINT: a larger number is bad input, not a database error
    top, bottom = 2**63 - 1, -(2**63)
    assert v.validate_metric("m", 1.0, top, top).timestamp == top
    assert v.validate_metric("m", 1.0, 0, bottom).step == bottom
    assert v.validate_timestamp(top) == top
    assert "64-bit" in invalid(v.validate_metric, "m", 1.0, 2**70, 0)
    assert "64-bit" in invalid(v.validate_metric, "m", 1.0, 0, 2**63)
    assert "64-bit" in invalid(v.validate_metric, "m", 1.0, 0, bottom - 1)
    assert "64-bit" in invalid(v.validate_timestamp, 2**63)
    for bad in (Metric("m", 1.0, 2**70, 0), Metric("m", 1.0, 0, -(2**64))):
        assert "64-bit" in invalid(v.validate_batch, [bad])


def test_batch_metric_values_convert() -> None:
    metrics, _, _ = v.validate_batch([Metric("a", "0.5", 1, 2), Metric("b", b"7", 1.9, 2.2)])
    assert [(m.key, m.value, m.timestamp, m.step) for m in metrics] == [
        ("a", 0.5, 1, 2),
        ("b", 7.0, 1, 2),
    ]
    assert "valid double" in invalid(v.validate_batch, [Metric("a", "high", 1, 2)])


def test_numpy_like_numbers_are_accepted() -> None:
    import fractions

    m = v.validate_metric("m", fractions.Fraction(1, 4), 5.0, 3.0)
    assert (m.value, m.timestamp, m.step) == (0.25, 5, 3)


def test_truncation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRUNCATE_LONG_VALUES", raising=False)
    assert v.validate_param("p", "x" * 6001).value == "x" * 6000
    assert v.validate_tag("t", "x" * 8001).value == "x" * 8000
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "false")
    invalid(v.validate_param, "p", "x" * 6001)
    monkeypatch.setenv("TRACKYARD_TRUNCATE_LONG_VALUES", "true")  # ours wins over MLflow's
    assert len(v.validate_param("p", "x" * 6001).value) == 6000
    # experiment tags are never truncated
    invalid(v.validate_experiment_tag, "k", "x" * 20001)


def test_batch_rules() -> None:
    metrics, params, tags = v.validate_batch(
        [Metric("a", 1, 0, 0)], [Param("p", 1)], [RunTag("t", "1"), RunTag("t", "2")]
    )
    assert metrics[0].value == 1.0 and params == [Param("p", "1")] and tags == [RunTag("t", "2")]
    assert "Duplicate parameter keys" in invalid(
        v.validate_batch, [], [Param("p", "1"), Param("p", "1")], []
    )
    invalid(v.validate_batch, ["not a metric"], [], [])
    big = [Metric("ok", 1.0, i, i) for i in range(5000)] + [Metric("a//b", 1.0, 0, 0)]
    invalid(v.validate_batch, big, [], [])


def test_ids_and_names() -> None:
    assert v.validate_run_id("a" * 32) == "a" * 32
    invalid(v.validate_run_id, "../x")
    invalid(v.validate_run_id, "")
    assert v.validate_experiment_id(3) == "3"
    invalid(v.validate_experiment_name, "")
    invalid(v.validate_experiment_name, "  ")
    invalid(v.validate_experiment_name, "n" * 501)
    assert v.validate_experiment_name("n" * 500)
    invalid(v.validate_run_name, "a", {"mlflow.runName": "b"})
    assert v.validate_run_name("a", {"mlflow.runName": "a"}) == "a"
    invalid(v.validate_experiment_artifact_location, "runs:/x/y")
    invalid(v.validate_timestamp, -5)
    assert v.validate_timestamp(5.0) == 5


@pytest.mark.parametrize(
    "given, expected",
    [
        ("0", "0"),
        ("1", "1"),
        (7, "7"),
        ("123456789012345678", "123456789012345678"),  # a file store id: 18 digits
        (" 07 ", "7"),  # MLflow's SQL store reads these with int() too
        ("+7", "7"),
        ("-1", "-1"),  # valid, and names nothing (RESOURCE_DOES_NOT_EXIST from the store)
        (2**63 - 1, str(2**63 - 1)),
    ],
)
def test_experiment_ids(given: object, expected: str) -> None:
    assert v.validate_experiment_id(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "churn-model",
        "abc",
        "1.0",
        "",
        " ",
        "1_0",
        "0x1",
        "\uff11",
        "x" * 65,
        1.0,
        True,
        None,
        2**63,
    ],
)
def test_experiment_ids_refused(given: object) -> None:
    message = invalid(v.validate_experiment_id, given)
    assert "Experiment ID must be a valid integer" in message
    if given in ("churn-model", "abc"):
        assert "get_experiment_by_name()" in message


@pytest.mark.parametrize(
    "path, expected",
    [
        ("", ""),
        (None, ""),
        ("a/b", "a/b"),
        ("a//b/", "a/b"),
        ("./a", "a"),
        ("dir/", "dir"),
        ("with space/ü.txt", "with space/ü.txt"),
        ("100%25.txt", "100%25.txt"),
    ],
)
def test_artifact_paths_ok(path: str, expected: str) -> None:
    assert v.validate_artifact_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x",
        "a/../../x",
        "/etc/passwd",
        "a\\b",
        "C:\\x",
        "C:/x",
        "%2e%2e/x",
        "%252e%252e/x",
        "a/%2E%2E/%2e%2e/x",
        "nul\x00",
        "a#b",
        "~/x",
        "%2Fetc",
        "..%2fx",
    ],
)
def test_artifact_paths_refused(path: str) -> None:
    invalid(v.validate_artifact_path, path)


def test_empty_artifact_path_refused_when_a_file_is_needed() -> None:
    invalid(v.validate_artifact_path, "", allow_empty=False)


# -- hardening: sources, names, artifact path limits ------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "s3://bucket/path/model",
        "runs:/0123456789abcdef0123456789abcdef/model",
        "models:/m/1",
        "models:/m@champion",
        "/tmp/a..b/model..v2",
        "file:///tmp/x%20y",
        "dbfs:/a/b",
        "https://host/x?a=b&c=d",
        "mlflow-artifacts:/1/abc/artifacts/model",
        "C:\\models\\m",
        "relative/path",
        "%",
    ],
)
def test_ordinary_model_version_sources_are_taken(source: str) -> None:
    from trackyard.validation import validate_model_version_source

    assert validate_model_version_source(source) == source


def test_sources_encoded_too_many_times_are_refused() -> None:
    from trackyard.validation import validate_model_version_source

    nested = "%78"  # "x", then percent-encoded five more times
    for _ in range(5):
        nested = nested.replace("%", "%25")
    with pytest.raises(TrackyardError) as excinfo:
        validate_model_version_source(nested)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


@pytest.mark.parametrize("name", ["ok name", " padded ", "ünïcode", "emoji 🙂", "a.b-c_d"])
def test_ordinary_names_are_taken(name: str) -> None:
    from trackyard.validation import validate_experiment_name, validate_model_name

    assert validate_experiment_name(name) == name
    assert validate_model_name(name) == name
