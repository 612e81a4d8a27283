"""Registry input rules in trackyard.validation: names, aliases, versions, tags, stages."""

from __future__ import annotations

from typing import Any

import pytest

from trackyard import validation as v
from trackyard.errors import ErrorCode, TrackyardError


def _invalid(fn: Any, *args: Any) -> str:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    return excinfo.value.message


@pytest.mark.parametrize("name", ["m", " spaced ", "ünï", "a.b-c_d", "x" * 1000, "quote'd"])
def test_good_model_names(name: str) -> None:
    assert v.validate_model_name(name) == name


@pytest.mark.parametrize(
    "name, words",
    [
        ("", "empty"),
        ("a/b", "'/' or ':'"),
        ("a:b", "'/' or ':'"),
        ("..", "resolve"),
        (".", "resolve"),
        (None, "strings"),
        (3, "strings"),
    ],
)
def test_bad_model_names(name: Any, words: str) -> None:
    assert words in _invalid(v.validate_model_name, name)


def test_prompt_names() -> None:
    assert v.validate_prompt_name("a-b_c.d9") == "a-b_c.d9"
    for bad in ("a b", "a@b", "ü", "a/b", "", ".."):
        _invalid(v.validate_prompt_name, bad)
    assert "letters, digits" in _invalid(v.validate_prompt_name, "a b")


@pytest.mark.parametrize("good", [1, "1", "007", "-1", "+2", 10**12])
def test_good_versions(good: Any) -> None:
    assert v.validate_model_version(good) == str(int(good))


@pytest.mark.parametrize("bad", ["abc", "1.0", "", " 1", "1 ", "v1", 1.0, True, None, [1]])
def test_bad_versions(bad: Any) -> None:
    assert "must be an integer" in _invalid(v.validate_model_version, bad)


@pytest.mark.parametrize("good", ["champion", "a" * 255, "v", "v1a", "V_1", "éa", "1", "_-"])
def test_good_aliases(good: str) -> None:
    assert v.validate_model_alias(good) == good


@pytest.mark.parametrize(
    "bad, words",
    [
        ("latest", "reserved"),
        ("LaTeSt", "reserved"),
        ("v3", "reserved"),
        ("V12", "reserved"),
        ("v0", "reserved"),
        ("", "empty"),
        ("a" * 256, "255"),
        ("a b", "letters, digits"),
        ("a.b", "letters, digits"),
        ("x/y", "letters, digits"),
        (None, "strings"),
    ],
)
def test_bad_aliases(bad: Any, words: str) -> None:
    assert words in _invalid(v.validate_model_alias, bad)


def test_registry_tags() -> None:
    assert v.validate_registry_tag("k", 5) == ("k", "5")
    assert v.validate_registry_tag("a b/c:d", None) == ("a b/c:d", "None")
    assert v.validate_registry_tag("k", "x" * 100_000)[1] == "x" * 100_000
    assert "100000" in _invalid(v.validate_registry_tag, "k", "x" * 100_001)
    for key in ("", "../x", "k" * 251, "bad@key", 5):
        _invalid(v.validate_registry_tag, key, "v")


def test_tag_values_are_never_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "true")
    _invalid(v.validate_registry_tag, "k", "x" * 100_001)


def test_stages() -> None:
    assert v.validate_stage("staging") == "Staging"
    assert v.validate_stage(" PRODUCTION ") == "Production"
    assert v.validate_stage("none") == "None"
    assert v.validate_stage("archived") == "Archived"
    for bad in ("bogus", "", "Deleted_Internal", None):
        assert "None, Staging, Production, Archived" in _invalid(v.validate_stage, bad)
