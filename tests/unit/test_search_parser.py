"""Tests of trackyard.search.parser: filter strings and order_by clauses."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import (
    And,
    Comparison,
    Entity,
    Op,
    Or,
    OrderKey,
    SearchKind,
    parse_filter,
    parse_order_by,
)
from trackyard.search.parser import MAX_FILTER_COMPARISONS, MAX_FILTER_VALUES

RUNS = SearchKind.RUNS
EXPS = SearchKind.EXPERIMENTS
RMS = SearchKind.REGISTERED_MODELS
MVS = SearchKind.MODEL_VERSIONS


def cmp(entity: Entity, key: str, op: Op, value: object, position: int = 0) -> Comparison:
    return Comparison(entity, key, op, value, position)  # type: ignore[arg-type]


def fails(filter_string: str, kind: SearchKind = RUNS) -> str:
    """Parse ``filter_string`` expecting INVALID_PARAMETER_VALUE; return the message."""
    with pytest.raises(TrackyardError) as info:
        parse_filter(filter_string, kind)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert info.value.message.startswith(f'Invalid filter "{filter_string[:400]}')
    return info.value.message


def fails_order(order_by: list[str], kind: SearchKind = RUNS) -> str:
    with pytest.raises(TrackyardError) as info:
        parse_order_by(order_by, kind)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    return info.value.message


def at(message: str) -> int:
    """The character offset an error message points at."""
    found = re.search(r"at character (\d+)", message)
    assert found, message
    return int(found.group(1))


# ---------------------------------------------------------------------------------------------
# Empty filters


@pytest.mark.parametrize("text", [None, "", " ", "\t\n  "])
@pytest.mark.parametrize("kind", list(SearchKind))
def test_empty_filters_parse_to_none(text, kind):
    assert parse_filter(text, kind) is None


def test_kind_may_be_given_as_its_value():
    assert parse_filter("name = 'a'", "experiments") == cmp(Entity.ATTRIBUTE, "name", Op.EQ, "a")


def test_unknown_kind_is_a_trackyard_error():
    with pytest.raises(TrackyardError) as info:
        parse_filter("name = 'a'", "widgets")  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


@pytest.mark.parametrize("bad", [1, b"tags.x = 'a'", ["tags.x = 'a'"]])
def test_non_string_filter_is_a_trackyard_error(bad):
    with pytest.raises(TrackyardError) as info:
        parse_filter(bad)  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


# ---------------------------------------------------------------------------------------------
# Prefixes and keys


@pytest.mark.parametrize(
    ("prefix", "entity", "clause"),
    [
        ("metric", Entity.METRIC, "> 1"),
        ("metrics", Entity.METRIC, "> 1"),
        ("param", Entity.PARAM, "= 'v'"),
        ("params", Entity.PARAM, "= 'v'"),
        ("parameter", Entity.PARAM, "= 'v'"),
        ("parameters", Entity.PARAM, "= 'v'"),
        ("tag", Entity.TAG, "= 'v'"),
        ("tags", Entity.TAG, "= 'v'"),
    ],
)
def test_run_prefix_aliases_for_free_keys(prefix, entity, clause):
    result = parse_filter(f"{prefix}.my_key {clause}")
    assert isinstance(result, Comparison)
    assert (result.entity, result.key) == (entity, "my_key")


@pytest.mark.parametrize("prefix", ["attribute", "attributes", "attr", "run"])
def test_run_attribute_prefix_aliases(prefix):
    assert parse_filter(f"{prefix}.run_id = 'r'") == cmp(Entity.ATTRIBUTE, "run_id", Op.EQ, "r")


@pytest.mark.parametrize("prefix", ["dataset", "datasets"])
def test_run_dataset_prefix_aliases(prefix):
    assert parse_filter(f"{prefix}.digest = 'd'") == cmp(Entity.DATASET, "digest", Op.EQ, "d")


def test_no_prefix_means_attribute():
    assert parse_filter("status = 'FINISHED'") == cmp(Entity.ATTRIBUTE, "status", Op.EQ, "FINISHED")


def test_identifier_splits_on_the_first_dot():
    assert parse_filter("tags.mlflow.source.name = 'x'") == cmp(
        Entity.TAG, "mlflow.source.name", Op.EQ, "x"
    )
    assert parse_filter("metrics.a.b.c < 2") == cmp(Entity.METRIC, "a.b.c", Op.LT, 2.0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.`my metric` > 1", "my metric"),
        ('metrics."my metric" > 1', "my metric"),
        ("metrics.`a.b` > 1", "a.b"),
        ("metrics.`it``s` > 1", "it`s"),
        ('metrics."say ""hi""" > 1', 'say "hi"'),
        ("metrics.`a'b` > 1", "a'b"),
        ("metrics.`loss (val)` > 1", "loss (val)"),
        ("metrics.`=1 AND x` > 1", "=1 AND x"),
        ("metrics.train/loss > 1", "train/loss"),
        ("metrics.val-loss > 1", "val-loss"),
        ("metrics.a:b > 1", "a:b"),
        ("metrics.précision > 1", "précision"),
        ("metrics.1st > 1", "1st"),
        ("metrics.and > 1", "and"),
    ],
)
def test_key_quoting_and_bare_key_characters(text, key):
    assert parse_filter(text) == cmp(Entity.METRIC, key, Op.GT, 1.0)


@pytest.mark.parametrize(
    "text", ["params.`p 1` = 'v'", 'params."p 1" = "v"', "param.\"p 1\" = 'v'"]
)
def test_quoted_param_keys(text):
    assert parse_filter(text) == cmp(Entity.PARAM, "p 1", Op.EQ, "v")


@pytest.mark.parametrize(
    "text",
    ["`Run name` = 'x'", "\"Run name\" = 'x'", "`Run Name` = 'x'", "attributes.`Run name` = 'x'"],
)
def test_run_name_alias(text):
    assert parse_filter(text) == cmp(Entity.ATTRIBUTE, "run_name", Op.EQ, "x")


@pytest.mark.parametrize("text", ["created > 5", "Created > 5", "attr.created > 5"])
def test_created_alias(text):
    assert parse_filter(text) == cmp(Entity.ATTRIBUTE, "start_time", Op.GT, 5)


def test_quoted_attribute_names_resolve():
    assert parse_filter("`run_id` = 'a'") == cmp(Entity.ATTRIBUTE, "run_id", Op.EQ, "a")
    assert parse_filter("attributes.`status` = 'a'") == cmp(Entity.ATTRIBUTE, "status", Op.EQ, "a")


def test_whole_quoted_identifier_is_not_split():
    message = fails("`metrics.acc` > 1")
    assert "unknown attribute 'metrics.acc'" in message
    assert at(message) == 0


def test_single_quoted_keys_are_rejected():
    message = fails("tags.'x' = 'a'")
    assert at(message) == 5
    assert "backticks or double quotes" in message
    message = fails("'status' = 'a'")
    assert at(message) == 0
    assert "backticks or double quotes" in message


def test_quoted_key_must_follow_prefix_directly():
    message = fails("tags.mlflow.`x` = 'a'")
    assert at(message) == 12
    # a space between the prefix and the quoted key leaves an empty key
    message = fails("tags. `x` = 'a'")
    assert "empty key" in message
    assert at(message) == 0


@pytest.mark.parametrize(
    ("text", "pos"),
    [
        ("metrics. > 1", 0),
        ("tags.`` = 'a'", 0),
        ("`` = 'a'", 0),
        ("tags.a = 'b' AND tags. = 'a'", 17),
    ],
)
def test_empty_keys_are_rejected(text, pos):
    message = fails(text)
    assert at(message) == pos


@pytest.mark.parametrize(
    ("text", "pos"),
    [
        ("foo.bar = 'x'", 0),
        ("Metrics.acc > 1", 0),
        ("metrics.a > 1 AND mertics.b > 1", 18),
        ("model.name = 'x'", 0),
    ],
)
def test_unknown_prefix(text, pos):
    message = fails(text)
    assert "unknown entity" in message
    assert at(message) == pos


@pytest.mark.parametrize(
    ("text", "pos"),
    [
        ("foo = 'x'", 0),
        ("run_uuid = 'x'", 0),
        ("RUN_ID = 'x'", 0),
        ("metrics.a > 1 AND name = 'x'", 18),
        ("attributes.lifecycle = 'x'", 0),
    ],
)
def test_unknown_run_attributes(text, pos):
    message = fails(text)
    assert "unknown attribute" in message
    assert "valid attributes: artifact_uri, end_time, run_id" in message
    assert at(message) == pos


@pytest.mark.parametrize("key", ["experiment_id", "lifecycle_stage"])
def test_unfilterable_run_attributes_have_a_clear_error(key):
    message = fails(f"{key} = '1'")
    assert f"'{key}' is not searchable" in message
    assert at(message) == 0
    hint = "experiment_ids" if key == "experiment_id" else "run_view_type"
    assert hint in message


def test_unknown_dataset_field():
    message = fails("datasets.source = 'x'")
    assert "unknown dataset field 'source'" in message
    assert "context, digest, name" in message


# ---------------------------------------------------------------------------------------------
# Comparators per entity

NUMERIC = ["=", "!=", "<", "<=", ">", ">="]
STRING = ["=", "!=", "LIKE", "ILIKE"]
ALL_OPS = [*NUMERIC, "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]


def _value_for(op: str, numeric: bool) -> str:
    if op in ("IN", "NOT IN"):
        return "('a', 'b')"
    if op in ("IS NULL", "IS NOT NULL"):
        return ""
    return "5" if numeric else "'a'"


def _expected_value(op: str, numeric: bool, as_float: bool):
    if op in ("IN", "NOT IN"):
        return ("a", "b")
    if op in ("IS NULL", "IS NOT NULL"):
        return None
    if numeric:
        return 5.0 if as_float else 5
    return "a"


ALLOWED = {
    # (kind, identifier): (allowed comparators, numeric?, float?, entity, canonical key)
    (RUNS, "metrics.m"): (NUMERIC, True, True, Entity.METRIC, "m"),
    (RUNS, "params.p"): ([*STRING, "IS NULL", "IS NOT NULL"], False, False, Entity.PARAM, "p"),
    (RUNS, "tags.t"): ([*STRING, "IS NULL", "IS NOT NULL"], False, False, Entity.TAG, "t"),
    (RUNS, "run_id"): ([*STRING, "IN", "NOT IN"], False, False, Entity.ATTRIBUTE, "run_id"),
    (RUNS, "run_name"): (STRING, False, False, Entity.ATTRIBUTE, "run_name"),
    (RUNS, "`Run name`"): (STRING, False, False, Entity.ATTRIBUTE, "run_name"),
    (RUNS, "user_id"): (STRING, False, False, Entity.ATTRIBUTE, "user_id"),
    (RUNS, "status"): (STRING, False, False, Entity.ATTRIBUTE, "status"),
    (RUNS, "artifact_uri"): (STRING, False, False, Entity.ATTRIBUTE, "artifact_uri"),
    (RUNS, "start_time"): (NUMERIC, True, False, Entity.ATTRIBUTE, "start_time"),
    (RUNS, "end_time"): (NUMERIC, True, False, Entity.ATTRIBUTE, "end_time"),
    (RUNS, "created"): (NUMERIC, True, False, Entity.ATTRIBUTE, "start_time"),
    (RUNS, "datasets.name"): ([*STRING, "IN", "NOT IN"], False, False, Entity.DATASET, "name"),
    (RUNS, "datasets.digest"): ([*STRING, "IN", "NOT IN"], False, False, Entity.DATASET, "digest"),
    (RUNS, "dataset.context"): ([*STRING, "IN", "NOT IN"], False, False, Entity.DATASET, "context"),
    (EXPS, "name"): (STRING, False, False, Entity.ATTRIBUTE, "name"),
    (EXPS, "attribute.name"): (STRING, False, False, Entity.ATTRIBUTE, "name"),
    (EXPS, "experiment_id"): (
        [*STRING, "IN", "NOT IN"],
        False,
        False,
        Entity.ATTRIBUTE,
        "experiment_id",
    ),
    (EXPS, "creation_time"): (NUMERIC, True, False, Entity.ATTRIBUTE, "creation_time"),
    (EXPS, "last_update_time"): (NUMERIC, True, False, Entity.ATTRIBUTE, "last_update_time"),
    (EXPS, "tags.t"): ([*STRING, "IS NULL", "IS NOT NULL"], False, False, Entity.TAG, "t"),
    (EXPS, "tag.t"): ([*STRING, "IS NULL", "IS NOT NULL"], False, False, Entity.TAG, "t"),
    (RMS, "name"): ([*STRING, "IN", "NOT IN"], False, False, Entity.ATTRIBUTE, "name"),
    (RMS, "tags.t"): (STRING, False, False, Entity.TAG, "t"),
    (MVS, "name"): ([*STRING, "IN", "NOT IN"], False, False, Entity.ATTRIBUTE, "name"),
    (MVS, "run_id"): ([*STRING, "IN", "NOT IN"], False, False, Entity.ATTRIBUTE, "run_id"),
    (MVS, "source_path"): (STRING, False, False, Entity.ATTRIBUTE, "source_path"),
    (MVS, "version_number"): (NUMERIC, True, False, Entity.ATTRIBUTE, "version_number"),
    (MVS, "tags.t"): (STRING, False, False, Entity.TAG, "t"),
}
COMBINATIONS = [
    (kind, ident, op, op in spec[0]) for (kind, ident), spec in ALLOWED.items() for op in ALL_OPS
]


@pytest.mark.parametrize(("kind", "ident", "op", "allowed"), COMBINATIONS)
def test_every_comparator_for_every_key(kind, ident, op, allowed):
    _, numeric, as_float, entity, key = ALLOWED[(kind, ident)]
    text = f"{ident} {op} {_value_for(op, numeric)}".rstrip()
    if allowed:
        expected = cmp(entity, key, Op(op), _expected_value(op, numeric, as_float))
        assert parse_filter(text, kind) == expected
    else:
        message = fails(text, kind)
        assert f"comparator '{op}' is not supported" in message
        assert at(message) == len(ident) + 1


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("tags.t like 'a'", Op.LIKE),
        ("tags.t Like 'a'", Op.LIKE),
        ("tags.t ilike 'a'", Op.ILIKE),
        ("run_id in ('a')", Op.IN),
        ("run_id In ('a')", Op.IN),
        ("run_id not in ('a')", Op.NOT_IN),
        ("run_id NOT   IN ('a')", Op.NOT_IN),
        ("tags.t is null", Op.IS_NULL),
        ("tags.t Is Not Null", Op.IS_NOT_NULL),
    ],
)
def test_comparator_keywords_are_case_insensitive(text, op):
    result = parse_filter(text)
    assert isinstance(result, Comparison)
    assert result.op is op


def test_double_equals_is_rejected_with_position():
    with pytest.raises(TrackyardError) as info:
        parse_filter("metrics.acc == 1")
    assert info.value.message.startswith(
        "Invalid filter \"metrics.acc == 1\": unsupported comparator '==' at character 12"
    )


@pytest.mark.parametrize(
    ("text", "bad", "pos"),
    [
        ("metrics.acc <> 1", "<>", 12),
        ("params.p == 'a'", "==", 9),
        ("params.p ! 'a'", "!", 9),
        ("tags.t BETWEEN 'a'", "BETWEEN", 7),
        ("tags.t NOT LIKE 'a'", "NOT LIKE", 7),
        ("tags.t NOT", "NOT", 7),
    ],
)
def test_unsupported_comparators(text, bad, pos):
    message = fails(text)
    assert f"unsupported comparator '{bad}'" in message
    assert at(message) == pos


def test_rlike_is_a_trace_comparator():
    message = fails("tags.t RLIKE 'a'")
    assert "comparator 'RLIKE' is not supported for tag 't'" in message
    assert at(message) == 7


@pytest.mark.parametrize(
    ("text", "pos"),
    [("tags.t IS 'a'", 10), ("tags.t IS NOT 'a'", 14), ("tags.t IS", 9), ("tags.t IS NOT", 13)],
)
def test_is_needs_null(text, pos):
    message = fails(text)
    assert "expected NULL or NOT NULL after IS" in message
    assert at(message) == pos


@pytest.mark.parametrize(("text", "pos"), [("tags.t", 6), ("tags.t 'a'", 7), ("tags.t (", 7)])
def test_missing_comparator(text, pos):
    message = fails(text)
    assert "expected a comparator after 'tags.t'" in message
    assert at(message) == pos


# ---------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1.0),
        ("0", 0.0),
        ("-3", -3.0),
        ("+3", 3.0),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-2.5e+2", -250.0),
        ("123456789012345678901234567890", 1.2345678901234568e29),
    ],
)
def test_metric_values_are_bare_numbers(literal, value):
    assert parse_filter(f"metrics.m >= {literal}") == cmp(Entity.METRIC, "m", Op.GE, value)
    assert parse_filter(f"metrics.m>={literal}") == cmp(Entity.METRIC, "m", Op.GE, value)


@pytest.mark.parametrize(
    ("text", "pos", "needle"),
    [
        ("metrics.m = '1'", 12, "expected a number for metric 'm', found string '1'"),
        ('metrics.m = "1"', 12, "expected a number"),
        ("metrics.m = nan", 12, "expected a number"),
        ("metrics.m = inf", 12, "expected a number"),
        ("metrics.m = 1e400", 12, "out of range"),
        ("metrics.m = -1e400", 12, "out of range"),
        ("metrics.m = 1abc", 12, "malformed number '1abc'"),
        ("metrics.m = 1.2.3", 12, "malformed number '1.2.3'"),
        ("metrics.m = 1e", 12, "malformed number '1e'"),
        ("metrics.m = - 1", 12, "unexpected character '-'"),
        ("metrics.m = ", 12, "expected a number"),
        ("metrics.m = (1)", 12, "expected a number"),
    ],
)
def test_bad_metric_values(text, pos, needle):
    message = fails(text)
    assert needle in message
    assert at(message) == pos


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1700000000000", 1700000000000),
        ("-5", -5),
        ("1e3", 1000),
        ("1.0", 1),
        ("2.5e1", 25),
        ("0007", 7),
        ("-0", 0),
        ("0" * 5000 + "42", 42),
        ("-" + "0" * 5000 + "42", -42),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_numeric_attribute_values_are_ints(literal, value):
    result = parse_filter(f"start_time > {literal}")
    assert result == cmp(Entity.ATTRIBUTE, "start_time", Op.GT, value)
    assert isinstance(result.value, int)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("start_time > 1.5", "expected an integer for attribute 'start_time', found number 1.5"),
        ("end_time > 9223372036854775808", "out of range"),
        ("end_time > 1e19", "out of range"),
        ("end_time > " + "9" * 5000, "out of range"),
        ("end_time > 1e999", "out of range"),
        ("end_time > '5'", "expected a number for attribute 'end_time'"),
    ],
)
def test_bad_numeric_attribute_values(text, needle):
    message = fails(text)
    assert needle in message
    assert at(message) == (11 if text.startswith("end") else 13)


def test_version_number_is_an_int():
    assert parse_filter("version_number >= 3", MVS) == cmp(
        Entity.ATTRIBUTE, "version_number", Op.GE, 3
    )
    assert "expected an integer" in fails("version_number = 1.5", MVS)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'a'", "a"),
        ('"a"', "a"),
        ("''", ""),
        ('""', ""),
        ("'it''s'", "it's"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"say ""hi"""', 'say "hi"'),
        ("'C:\\temp\\x'", "C:\\temp\\x"),
        ("'%_%'", "%_%"),
        ("' spaced  '", " spaced  "),
        ("'AND OR ( ) ; --'", "AND OR ( ) ; --"),
        ("'ünïcødé ✓'", "ünïcødé ✓"),
        ("'line\nbreak'", "line\nbreak"),
    ],
)
def test_string_values(literal, value):
    assert parse_filter(f"params.p = {literal}") == cmp(Entity.PARAM, "p", Op.EQ, value)


@pytest.mark.parametrize(
    ("text", "pos", "needle"),
    [
        ("params.p = 1", 11, "expected a quoted string for param 'p', found number 1"),
        ("params.p = abc", 11, "must be quoted"),
        ("params.p = `abc`", 11, "backticks quote keys"),
        ("params.p = NULL", 11, "use IS NULL"),
        ("tags.t = 'abc", 9, "unterminated quote '"),
        ('tags.t = "abc', 9, 'unterminated quote "'),
        ("tags.`abc = 'x'", 5, "unterminated quote `"),
        ("tags.t = 'it\\'s'", 14, "expected AND, OR or end of input, found 's'"),
        ("run_id = ", 9, "expected a quoted string"),
        ("tags.t = 'a' 'b'", 13, "expected AND, OR or end of input, found string 'b'"),
    ],
)
def test_bad_string_values(text, pos, needle):
    message = fails(text)
    assert needle in message
    assert at(message) == pos


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("('a')", ("a",)),
        ("('a',)", ("a",)),
        ("('a', 'b')", ("a", "b")),
        ("('a','b',)", ("a", "b")),
        ("(\"a\", 'b')", ("a", "b")),
        ("(  'a'  ,  'b'  )", ("a", "b")),
        ("('a', 'a')", ("a", "a")),
        ("('it''s')", ("it's",)),
        ("('x,y')", ("x,y",)),
    ],
)
def test_in_lists(literal, value):
    assert parse_filter(f"run_id IN {literal}") == cmp(Entity.ATTRIBUTE, "run_id", Op.IN, value)
    assert parse_filter(f"run_id NOT IN {literal}") == cmp(
        Entity.ATTRIBUTE, "run_id", Op.NOT_IN, value
    )


@pytest.mark.parametrize(
    ("text", "pos", "needle"),
    [
        ("run_id IN ()", 11, "empty list after IN"),
        ("run_id NOT IN ()", 15, "empty list after NOT IN"),
        ("run_id IN (,)", 11, "expected a quoted string in the IN list, found ','"),
        ("run_id IN ('a',,)", 15, "expected a quoted string"),
        ("run_id IN ('a' 'b')", 15, "expected ',' or ')' in the IN list"),
        ("run_id IN (1, 2)", 11, "expected a quoted string in the IN list, found number 1"),
        ("run_id IN ('a', 2)", 16, "found number 2"),
        ("run_id IN 'a'", 10, "expected a parenthesised list"),
        ("run_id IN ('a'", 14, "expected ',' or ')'"),
        (
            "run_id IN ('a',",
            15,
            "expected ')', found end of input at character 15; the '(' at offset 10",
        ),
        ("run_id IN (('a'))", 11, "expected a quoted string"),
        ("run_id IN ('a') )", 16, "unbalanced ')'"),
    ],
)
def test_bad_in_lists(text, pos, needle):
    message = fails(text)
    assert needle in message
    assert at(message) == pos


def test_in_lists_only_for_list_keys():
    for ident in ("run_name", "user_id", "status", "artifact_uri", "tags.t", "params.p"):
        message = fails(f"{ident} IN ('a')")
        assert "comparator 'IN' is not supported" in message
    assert "comparator 'IN' is not supported" in fails("name IN ('a')", EXPS)
    assert "comparator 'IN' is not supported" in fails("source_path IN ('a')", MVS)


def test_null_checks_only_for_params_and_tags():
    assert "comparator 'IS NULL' is not supported" in fails("run_name IS NULL")
    assert "comparator 'IS NOT NULL' is not supported" in fails("metrics.m IS NOT NULL")
    assert "comparator 'IS NULL' is not supported" in fails("tags.t IS NULL", RMS)
    assert "comparator 'IS NULL' is not supported" in fails("tags.t IS NULL", MVS)
    assert "comparator 'IS NULL' is not supported" in fails("name IS NULL", EXPS)


# ---------------------------------------------------------------------------------------------
# Entities allowed per kind


@pytest.mark.parametrize(
    "text",
    [
        "metrics.m > 1",
        "params.p = 'a'",
        "attr.name = 'a'",
        "run.name = 'a'",
        "datasets.name = 'a'",
        "run_id = 'a'",
        "lifecycle_stage = 'active'",
        "artifact_location = 'x'",
    ],
)
def test_experiment_filters_reject_run_entities(text):
    message = fails(text, EXPS)
    assert at(message) == 0


@pytest.mark.parametrize("kind", [RMS, MVS])
@pytest.mark.parametrize(
    "text", ["metrics.m > 1", "params.p = 'a'", "datasets.name = 'a'", "creation_timestamp > 1"]
)
def test_registry_filters_reject_other_entities(kind, text):
    message = fails(text, kind)
    assert at(message) == 0


def test_registered_models_do_not_filter_by_run_id():
    assert "unknown attribute 'run_id'" in fails("run_id = 'a'", RMS)


# ---------------------------------------------------------------------------------------------
# AND, OR, parentheses

A = cmp(Entity.METRIC, "a", Op.GT, 1.0, 0)


def _c(key: str, position: int) -> Comparison:
    return cmp(Entity.METRIC, key, Op.GT, 1.0, position)


def test_single_comparison_is_bare():
    assert parse_filter("metrics.a > 1") == A
    assert parse_filter("(metrics.a > 1)") == _c("a", 1)
    assert parse_filter("((( metrics.a > 1 )))") == _c("a", 4)


@pytest.mark.parametrize("word", ["AND", "and", "And", "aNd"])
def test_and_in_any_case(word):
    assert parse_filter(f"metrics.a > 1 {word} metrics.b > 1") == And(
        (_c("a", 0), _c("b", 14 + len(word) + 1))
    )


def test_conjunctions_are_flattened():
    text = "metrics.a > 1 AND metrics.b > 1 AND metrics.c > 1"
    assert parse_filter(text) == And((_c("a", 0), _c("b", 18), _c("c", 36)))
    text = "(metrics.a > 1 AND metrics.b > 1) AND metrics.c > 1"
    assert parse_filter(text) == And((_c("a", 1), _c("b", 19), _c("c", 38)))
    text = "metrics.a > 1 AND (metrics.b > 1 AND metrics.c > 1)"
    assert parse_filter(text) == And((_c("a", 0), _c("b", 19), _c("c", 37)))


def test_disjunctions_are_flattened():
    text = "metrics.a > 1 OR (metrics.b > 1 or metrics.c > 1)"
    assert parse_filter(text) == Or((_c("a", 0), _c("b", 18), _c("c", 35)))


def test_and_binds_tighter_than_or():
    text = "metrics.a > 1 OR metrics.b > 1 AND metrics.c > 1"
    assert parse_filter(text) == Or((_c("a", 0), And((_c("b", 17), _c("c", 35)))))
    text = "metrics.a > 1 AND metrics.b > 1 OR metrics.c > 1"
    assert parse_filter(text) == Or((And((_c("a", 0), _c("b", 18))), _c("c", 35)))


def test_parentheses_override_precedence():
    text = "(metrics.a > 1 OR metrics.b > 1) AND metrics.c > 1"
    assert parse_filter(text) == And((Or((_c("a", 1), _c("b", 18))), _c("c", 37)))
    text = "metrics.a > 1 AND (metrics.b > 1 OR metrics.c > 1) AND metrics.d > 1"
    assert parse_filter(text) == And((_c("a", 0), Or((_c("b", 19), _c("c", 36))), _c("d", 55)))


def test_nested_mixed_groups_keep_their_shape():
    text = "(metrics.a > 1 OR (metrics.b > 1 AND (metrics.c > 1 OR metrics.d > 1)))"
    assert parse_filter(text) == Or(
        (_c("a", 1), And((_c("b", 19), Or((_c("c", 38), _c("d", 55))))))
    )


@pytest.mark.parametrize(
    ("text", "pos", "needle"),
    [
        ("metrics.a > 1 AND", 17, "expected a comparison, found end of input"),
        ("metrics.a > 1 OR", 16, "expected a comparison, found end of input"),
        ("AND metrics.a > 1", 0, "expected a comparison, found 'AND'"),
        ("OR metrics.a > 1", 0, "expected a comparison, found 'OR'"),
        ("metrics.a > 1 AND AND metrics.b > 1", 18, "found 'AND'"),
        ("metrics.a > 1 AND OR metrics.b > 1", 18, "found 'OR'"),
        ("metrics.a > 1 AND () AND metrics.b > 1", 18, "empty parentheses"),
        ("()", 0, "empty parentheses"),
        ("(metrics.a > 1", 14, "'(' at offset 0 is not closed"),
        ("((metrics.a > 1)", 16, "'(' at offset 0 is not closed"),
        ("metrics.a > 1)", 13, "unbalanced ')'"),
        (")", 0, "expected a comparison, found ')'"),
        ("metrics.a > 1 metrics.b > 1", 14, "expected AND, OR or end of input"),
        ("metrics.a > 1 (metrics.b > 1)", 14, "expected AND, OR or end of input"),
        ("metrics.a > 1 AND (metrics.b > 1 metrics.c > 1)", 33, "expected ')', found 'metrics.c'"),
        ("NOT metrics.a > 1", 0, "found 'NOT'"),
        ("metrics.a > 1 && metrics.b > 1", 14, "unexpected character '&'"),
        ("metrics.a > 1 || metrics.b > 1", 14, "unexpected character '|'"),
        ("metrics.a > 1,", 13, "expected AND, OR or end of input, found ','"),
        ("metrics.a > 1 AND,", 17, "found ','"),
        ("metrics.a > 1 ANDmetrics.b > 1", 14, "expected AND, OR or end of input"),
    ],
)
def test_structural_errors(text, pos, needle):
    message = fails(text)
    assert needle in message
    assert at(message) == pos


def test_deep_nesting_is_bounded():
    deep = "(" * 64 + "metrics.a > 1" + ")" * 64
    assert parse_filter(deep) == _c("a", 64)
    too_deep = "(" * 65 + "metrics.a > 1" + ")" * 65
    message = fails(too_deep)
    assert "nested deeper than 64" in message
    assert at(message) == 64
    assert "nested deeper" in fails("(" * 100000)


# ---------------------------------------------------------------------------------------------
# Hostile input


@pytest.mark.parametrize(
    ("text", "pos"),
    [
        ("params.x = 'a'; DROP TABLE runs; --", 14),
        ("tags.x = 'a' OR 1=1", 16),
        ("tags.x = 'a' OR '1'='1'", 16),
        ("tags.x = 'a' -- comment", 13),
        ("tags.x = 'a' /* c */", 13),
        ("tags.x = 'a' UNION SELECT * FROM runs", 13),
        ("tags.x = a' OR 'b", 9),
        ("1=1", 0),
        ("tags.x = 'a'\x00", 12),
        ("metrics.m > 1; --", 13),
        ("tags.x = $$a$$", 9),
        ("tags.x = @var", 9),
        ("tags.x = ?", 9),
        ("tags.x = :name", 9),
        ("tags.x = 'a' #", 13),
        ("tags.x = 'a'[0]", 12),
        ("tags.x = 'a'\\", 12),
    ],
)
def test_injection_attempts_are_clean_errors(text, pos):
    message = fails(text)
    assert at(message) == pos


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("tags.x = 'a''; DROP TABLE runs; --'", "a'; DROP TABLE runs; --"),
        ("tags.x = 'a'' OR ''1''=''1'", "a' OR '1'='1"),
        ('tags.x = "a\'; DELETE FROM runs; --"', "a'; DELETE FROM runs; --"),
    ],
)
def test_injection_in_literals_stays_a_literal(text, value):
    assert parse_filter(text) == cmp(Entity.TAG, "x", Op.EQ, value)


def test_backslash_does_not_escape_a_quote():
    # the literal ends at the second quote, so what follows is a syntax error
    assert at(fails("tags.x = '\\'; --'")) == 12


def test_injection_in_keys_stays_a_key():
    result = parse_filter("tags.`x' OR 1=1; --` = 'a'")
    assert result == cmp(Entity.TAG, "x' OR 1=1; --", Op.EQ, "a")


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100000 + " = 'a'",
        "tags.x " + "y" * 100000 + " 'a'",
        "tags.x NOT " + "y" * 100000,
        "tags." + "x" * 100000 + " + 1",
        "foo" * 100000 + ".bar = 'a'",
        "start_time > " + "9" * 100000,
        "metrics.m > " + "9" * 100000 + "e999",
    ],
)
def test_huge_tokens_are_clipped_in_messages(text):
    assert len(fails(text)) < 1000
    with pytest.raises(TrackyardError) as info:
        parse_order_by([text.split(" ")[0], text.split(" ")[0]])
    assert len(info.value.message) < 1500


def test_long_filters_are_shortened_in_messages():
    text = "tags.x = 'a' AND " * 100 + "bogus = 'x'"
    with pytest.raises(TrackyardError) as info:
        parse_filter(text)
    assert len(info.value.message) < 800
    assert at(info.value.message) == len(text) - len("bogus = 'x'")


# ---------------------------------------------------------------------------------------------
# Caching and speed


def test_parse_filter_is_cached():
    text = "metrics.cached_key > 1 AND tags.t = 'x'"
    assert parse_filter(text) is parse_filter(text)
    assert parse_filter(text, "runs") is parse_filter(text, RUNS)


def test_long_filters_and_orders_are_not_kept_by_the_cache():
    text = "tags.t = '" + "x" * 5000 + "'"
    first, second = parse_filter(text), parse_filter(text)
    assert first == second and first is not second
    clauses = ["tags.`" + "k" * 5000 + "` DESC"]
    assert parse_order_by(clauses) == parse_order_by(clauses)
    assert parse_order_by(clauses) is not parse_order_by(clauses)


def test_errors_are_raised_every_time():
    for _ in range(2):
        fails("metrics.acc == 1")


def test_parsing_is_linear_enough():
    half = MAX_FILTER_COMPARISONS // 2
    clauses = [f"metrics.m{i} > {i} AND tags.t{i} LIKE 'v%{i}'" for i in range(half)]
    result = parse_filter(" OR ".join(clauses))
    assert isinstance(result, Or)
    assert len(result.items) == half
    # long quoted and unterminated strings are scanned once
    assert parse_filter("tags.t = '" + "x" * 1_000_000 + "'") is not None
    fails("tags.t = '" + "x''" * 300_000)


@pytest.mark.parametrize("joiner", [" AND ", " OR "])
def test_filter_size_limit_is_a_clear_error(joiner: str) -> None:
    at_limit = joiner.join(f"metrics.m{i} > {i}" for i in range(MAX_FILTER_COMPARISONS))
    assert parse_filter(at_limit) is not None
    for size in (MAX_FILTER_COMPARISONS + 1, 5000):
        text = joiner.join(f"metrics.m{i} > {i}" for i in range(size))
        message = fails(text)
        assert f"more than {MAX_FILTER_COMPARISONS} comparisons" in message


def test_filter_value_limit_counts_in_lists() -> None:
    values = ",".join(f"'r{i}'" for i in range(MAX_FILTER_VALUES))
    assert parse_filter(f"attributes.run_id IN ({values})") is not None
    message = fails(f"attributes.run_id IN ({values}, 'one-more')")
    assert f"more than {MAX_FILTER_VALUES} values" in message
    message = fails(f"attributes.run_id IN ({values}) AND metrics.a > 1")
    assert f"more than {MAX_FILTER_VALUES} values" in message


# ---------------------------------------------------------------------------------------------
# Property tests

ANY_KIND = st.sampled_from(list(SearchKind))
FILTER_ALPHABET = st.sampled_from(
    [
        *"abcmetrisgpd_.`'\"()=!<>,;%- 019eE+",
        " AND ",
        " OR ",
        " and ",
        " IN ",
        " NOT IN ",
        " IS NULL",
        " IS NOT NULL",
        " LIKE ",
        " ILIKE ",
        "metrics.",
        "params.",
        "tags.",
        "attributes.",
        "datasets.",
        "run_id",
        "start_time",
        "name",
        "`Run name`",
        "'x'",
        "1.5e3",
        "(",
        ")",
    ]
)


def _assert_parses_or_fails_cleanly(text: str, kind: SearchKind) -> None:
    try:
        result = parse_filter(text, kind)
    except TrackyardError as exc:
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert exc.message.startswith("Invalid filter")
        assert "at character" in exc.message
        assert 0 <= at(exc.message) <= len(text)
        assert len(exc.message) < 1000
    else:
        assert result is None or isinstance(result, (Comparison, And, Or))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), kind=ANY_KIND)
def test_arbitrary_text_never_crashes(text, kind):
    _assert_parses_or_fails_cleanly(text, kind)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(FILTER_ALPHABET, max_size=30), kind=ANY_KIND)
def test_grammar_like_text_never_crashes(parts, kind):
    _assert_parses_or_fails_cleanly("".join(parts), kind)


# Round trip: render random ASTs to text and parse them back.

KEYS = st.text(min_size=1, max_size=12)
STRINGS = st.text(max_size=12)


def _quote(text: str, quote: str) -> str:
    return quote + text.replace(quote, quote * 2) + quote


@st.composite
def comparisons(draw) -> tuple[str, Comparison]:
    choice = draw(st.sampled_from(["metric", "param", "tag", "run_id", "start_time", "dataset"]))
    if choice == "metric":
        key = draw(KEYS)
        op = draw(st.sampled_from(NUMERIC))
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
        prefix = draw(st.sampled_from(["metric", "metrics"]))
        text = f"{prefix}.{_quote(key, '`')} {op} {value!r}"
        return text, cmp(Entity.METRIC, key, Op(op), value)
    if choice in ("param", "tag"):
        key = draw(KEYS)
        op = draw(st.sampled_from([*STRING, "IS NULL", "IS NOT NULL"]))
        quote = draw(st.sampled_from(["`", '"']))
        entity = Entity.PARAM if choice == "param" else Entity.TAG
        ident = f"{choice}s.{_quote(key, quote)}"
        if op.startswith("IS"):
            return f"{ident} {op}", cmp(entity, key, Op(op), None)
        value = draw(STRINGS)
        quote = draw(st.sampled_from(["'", '"']))
        return f"{ident} {op} {_quote(value, quote)}", cmp(entity, key, Op(op), value)
    if choice == "run_id":
        values = tuple(draw(st.lists(STRINGS, min_size=1, max_size=4)))
        op = draw(st.sampled_from(["IN", "NOT IN"]))
        listed = ", ".join(_quote(v, "'") for v in values)
        return f"run_id {op} ({listed})", cmp(Entity.ATTRIBUTE, "run_id", Op(op), values)
    if choice == "dataset":
        key = draw(st.sampled_from(["name", "digest", "context"]))
        value = draw(STRINGS)
        return f"datasets.{key} = {_quote(value, chr(39))}", cmp(Entity.DATASET, key, Op.EQ, value)
    value = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    op = draw(st.sampled_from(NUMERIC))
    return f"start_time {op} {value}", cmp(Entity.ATTRIBUTE, "start_time", Op(op), value)


def _strip_positions(expr):
    if isinstance(expr, Comparison):
        return cmp(expr.entity, expr.key, expr.op, expr.value, 0)
    return type(expr)(tuple(_strip_positions(item) for item in expr.items))


def _flatten(expr):
    if isinstance(expr, Comparison):
        return expr
    items = []
    for item in (_flatten(i) for i in expr.items):
        if type(item) is type(expr):
            items.extend(item.items)
        else:
            items.append(item)
    return type(expr)(tuple(items))


@st.composite
def expressions(draw, depth: int = 0) -> tuple[str, object]:
    if depth >= 3 or draw(st.booleans()):
        return draw(comparisons())
    node = draw(st.sampled_from([And, Or]))
    children = [draw(expressions(depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    word = draw(st.sampled_from(["AND", "and"] if node is And else ["OR", "or"]))
    text = f" {word} ".join(f"({child_text})" for child_text, _ in children)
    return text, node(tuple(child for _, child in children))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=expressions())
def test_rendered_expressions_round_trip(case):
    text, expected = case
    parsed = parse_filter(text)
    assert _strip_positions(parsed) == _flatten(expected)


@settings(max_examples=200)
@given(case=comparisons())
def test_positions_point_at_the_identifier(case):
    text, _ = case
    padded = "  " + text
    parsed = parse_filter(padded)
    assert isinstance(parsed, Comparison)
    assert parsed.position == 2


# ---------------------------------------------------------------------------------------------
# order_by


def ok(entity: Entity, key: str, ascending: bool = True) -> OrderKey:
    return OrderKey(entity, key, ascending)


START_DESC = ok(Entity.ATTRIBUTE, "start_time", False)
RUN_ID_ASC = ok(Entity.ATTRIBUTE, "run_id")


@pytest.mark.parametrize("order_by", [None, [], ()])
def test_runs_default_order(order_by):
    assert parse_order_by(order_by) == (START_DESC, RUN_ID_ASC)


def test_runs_order_appends_defaults():
    assert parse_order_by(["metrics.acc DESC"]) == (
        ok(Entity.METRIC, "acc", False),
        START_DESC,
        RUN_ID_ASC,
    )
    assert parse_order_by(["start_time"]) == (ok(Entity.ATTRIBUTE, "start_time"), RUN_ID_ASC)
    assert parse_order_by(["created desc"]) == (START_DESC, RUN_ID_ASC)
    assert parse_order_by(["run_id DESC"]) == (ok(Entity.ATTRIBUTE, "run_id", False), START_DESC)
    assert parse_order_by(["params.p", "run_id", "start_time ASC"]) == (
        ok(Entity.PARAM, "p"),
        RUN_ID_ASC,
        ok(Entity.ATTRIBUTE, "start_time"),
    )


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.m", ok(Entity.METRIC, "m")),
        ("metric.m ASC", ok(Entity.METRIC, "m")),
        ("metrics.m asc", ok(Entity.METRIC, "m")),
        ("metrics.m DESC", ok(Entity.METRIC, "m", False)),
        ("metrics.m desc", ok(Entity.METRIC, "m", False)),
        ("metrics.m Desc", ok(Entity.METRIC, "m", False)),
        ("  metrics.m   DESC  ", ok(Entity.METRIC, "m", False)),
        ("metrics.`my metric` DESC", ok(Entity.METRIC, "my metric", False)),
        ('metrics."my metric"', ok(Entity.METRIC, "my metric")),
        ("params.p", ok(Entity.PARAM, "p")),
        ("param.p", ok(Entity.PARAM, "p")),
        ("parameters.p", ok(Entity.PARAM, "p")),
        ("parameter.p", ok(Entity.PARAM, "p")),
        ("tags.mlflow.runName", ok(Entity.TAG, "mlflow.runName")),
        ("tag.`a b`", ok(Entity.TAG, "a b")),
        ("attribute.status", ok(Entity.ATTRIBUTE, "status")),
        ("attributes.user_id", ok(Entity.ATTRIBUTE, "user_id")),
        ("attr.artifact_uri", ok(Entity.ATTRIBUTE, "artifact_uri")),
        ("run.run_name", ok(Entity.ATTRIBUTE, "run_name")),
        ("run_name", ok(Entity.ATTRIBUTE, "run_name")),
        ("`end_time` DESC", ok(Entity.ATTRIBUTE, "end_time", False)),
        ("Created", ok(Entity.ATTRIBUTE, "start_time")),
    ],
)
def test_runs_order_clauses(clause, expected):
    assert parse_order_by([clause])[0] == expected


@pytest.mark.parametrize(
    ("clause", "pos", "needle"),
    [
        ("`Run name`", 0, "order by run_name instead"),
        ('"Run name" DESC', 0, "order by run_name instead"),
        ("metrics.a, params.b", 9, "unexpected ','"),
        ("metrics.a DESC, params.b", 14, "unexpected ','"),
        ("metrics.a DESCENDING", 10, "expected ASC, DESC or end of clause"),
        ("metrics.a DESC ASC", 15, "expected ASC, DESC or end of clause"),
        ("metrics.a DESC;", 14, "unexpected character ';'"),
        ("", 0, "empty clause"),
        ("   ", 0, "empty clause"),
        ("DESC", 0, "cannot order runs by attribute 'DESC'"),
        ("ASC metrics.a", 0, "cannot order runs by attribute 'ASC'"),
        ("datasets.name", 0, "cannot order runs by 'datasets.name'"),
        ("foo.bar", 0, "cannot order runs by 'foo.bar'"),
        ("experiment_id", 0, "cannot order runs by attribute 'experiment_id'"),
        ("lifecycle_stage", 0, "cannot order runs by attribute"),
        ("metrics.", 0, "empty key"),
        ("metrics.`unterminated", 8, "unterminated quote `"),
        ("'start_time'", 0, "backticks or double quotes"),
        ("metrics.a > 1", 10, "expected ASC, DESC or end of clause"),
        ("(metrics.a)", 0, "expected an identifier, found '('"),
    ],
)
def test_bad_runs_order_clauses(clause, pos, needle):
    message = fails_order([clause])
    assert message.startswith(f'Invalid order_by clause "{clause}"')
    assert needle in message
    assert at(message) == pos


@pytest.mark.parametrize(
    "order_by",
    [
        ["metrics.a", "metrics.a DESC"],
        ["metrics.a", "metric.a"],
        ["created", "start_time"],
        ["run_id", "attr.run_id DESC"],
        ["tags.`x`", 'tag."x"'],
    ],
)
def test_duplicate_order_fields_are_rejected(order_by):
    message = fails_order(order_by)
    assert "already ordered by" in message


def test_same_key_on_different_entities_is_not_a_duplicate():
    keys = parse_order_by(["metrics.a", "params.a", "tags.a"])
    assert keys[:3] == (ok(Entity.METRIC, "a"), ok(Entity.PARAM, "a"), ok(Entity.TAG, "a"))


@pytest.mark.parametrize("bad", ["start_time DESC", b"x"])
def test_order_by_must_be_a_list(bad):
    message = fails_order(bad)  # type: ignore[arg-type]
    assert "expected a list of strings" in message


def test_order_by_items_must_be_strings():
    assert "expected a string" in fails_order([1])  # type: ignore[list-item]
    assert "expected a string" in fails_order([None])  # type: ignore[list-item]


def test_experiments_order():
    creation_desc = ok(Entity.ATTRIBUTE, "creation_time", False)
    id_asc = ok(Entity.ATTRIBUTE, "experiment_id")
    assert parse_order_by(None, EXPS) == (creation_desc, id_asc)
    assert parse_order_by(["name"], EXPS) == (ok(Entity.ATTRIBUTE, "name"), id_asc)
    assert parse_order_by(["last_update_time DESC"], EXPS) == (
        ok(Entity.ATTRIBUTE, "last_update_time", False),
        id_asc,
    )
    assert parse_order_by(["creation_time"], EXPS) == (
        ok(Entity.ATTRIBUTE, "creation_time"),
        id_asc,
    )
    assert parse_order_by(["experiment_id DESC", "attributes.name"], EXPS) == (
        ok(Entity.ATTRIBUTE, "experiment_id", False),
        ok(Entity.ATTRIBUTE, "name"),
    )


@pytest.mark.parametrize(
    "clause",
    ["tags.t", "metrics.m", "artifact_location", "lifecycle_stage", "start_time", "attr.name"],
)
def test_experiments_order_only_by_attributes(clause):
    assert at(fails_order([clause], EXPS)) == 0


def test_registered_models_order():
    name_asc = ok(Entity.ATTRIBUTE, "name")
    assert parse_order_by(None, RMS) == (name_asc,)
    assert parse_order_by(["timestamp DESC"], RMS) == (
        ok(Entity.ATTRIBUTE, "last_updated_timestamp", False),
        name_asc,
    )
    assert parse_order_by(["last_updated_timestamp"], RMS) == (
        ok(Entity.ATTRIBUTE, "last_updated_timestamp"),
        name_asc,
    )
    assert parse_order_by(["name DESC"], RMS) == (ok(Entity.ATTRIBUTE, "name", False),)


def test_registered_models_order_rejections():
    message = fails_order(["creation_timestamp"], RMS)
    assert "cannot order registered models by 'creation_timestamp'" in message
    assert "already ordered by" in fails_order(["timestamp", "last_updated_timestamp DESC"], RMS)
    assert "already ordered by" in fails_order(["name", "name DESC"], RMS)
    fails_order(["tags.t"], RMS)
    fails_order(["version_number"], RMS)


def test_model_versions_order():
    name_asc = ok(Entity.ATTRIBUTE, "name")
    version_desc = ok(Entity.ATTRIBUTE, "version_number", False)
    updated_desc = ok(Entity.ATTRIBUTE, "last_updated_timestamp", False)
    assert parse_order_by(None, MVS) == (updated_desc, name_asc, version_desc)
    assert parse_order_by([], MVS) == (updated_desc, name_asc, version_desc)
    assert parse_order_by(["creation_timestamp DESC"], MVS) == (
        ok(Entity.ATTRIBUTE, "creation_timestamp", False),
        name_asc,
        version_desc,
    )
    assert parse_order_by(["version_number", "last_updated_timestamp"], MVS) == (
        ok(Entity.ATTRIBUTE, "version_number"),
        ok(Entity.ATTRIBUTE, "last_updated_timestamp"),
        name_asc,
    )
    for bad in (["timestamp"], ["tags.t"], ["run_id"], ["version"]):
        fails_order(bad, MVS)


def test_parse_order_by_is_cached():
    assert parse_order_by(["metrics.z DESC"]) is parse_order_by(("metrics.z DESC",))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    clauses=st.lists(st.one_of(st.text(max_size=30), FILTER_ALPHABET), max_size=4), kind=ANY_KIND
)
def test_arbitrary_order_by_never_crashes(clauses, kind):
    try:
        result = parse_order_by(clauses, kind)
    except TrackyardError as exc:
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    else:
        assert all(isinstance(key, OrderKey) for key in result)
        fields = [(key.entity, key.key) for key in result]
        assert len(fields) == len(set(fields))
