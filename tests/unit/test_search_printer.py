"""Tests of trackyard.search.printer: AST back to filter text, checked by parsing it again.

Three sources of filters: random ASTs drawn from each search kind's own rule table, every
string of the parser's test corpus (tests/unit/test_search_parser.py) that parses, and random
grammar-like text. Each must survive ``parse(print(ast)) == ast``, with floats compared by
their exact bits (so ``-0.0`` is not ``0.0``) and positions ignored. MLflow itself reading the
printed text is checked in tests/compat/test_mlflow_search_printer.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.unit.test_search_parser as parser_tests
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import (
    And,
    Comparison,
    Entity,
    Op,
    Or,
    OrderKey,
    SearchKind,
    complete_order,
    format_filter,
    format_order_by,
    parse_filter,
    parse_order_by,
)
from trackyard.search.parser import _FILTER_RULES, _ORDER_RULES

KINDS = list(SearchKind)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1.7976931348623157e308, 1e16, 0.1]),
)
# Text with the characters that need care (quotes, backticks, backslashes, line breaks,
# SQL-ish words and dots) much more often than uniform text would give them.
TRICKY = st.sampled_from(
    [
        *("'", '"', "`", "\\", "\n", "\r", "\t", " ", ".", "%", "_", "-", "(", ")", ",", ";"),
        *("AND", "or", "in", "IS", "null", "desc", "é", "\u2028", "\x00", "1", "e5", "a", "Z"),
    ]
)
TEXT = st.one_of(st.text(max_size=12), st.lists(TRICKY, max_size=8).map("".join))
KEYS = TEXT.filter(bool)


# ---------------------------------------------------------------------------------------------
# Exact comparison


def canon(expr: Any) -> Any:
    """A comparable form of ``expr``: no positions, values with their type and exact repr."""
    if expr is None:
        return None
    if isinstance(expr, Comparison):
        value = expr.value
        if isinstance(value, float):
            shown: Any = ("float", value.hex())
        elif isinstance(value, tuple):
            shown = ("tuple", value)
        else:
            shown = (type(value).__name__, value)
        return ("cmp", expr.entity, expr.key, expr.op, shown)
    return (type(expr).__name__, tuple(canon(item) for item in expr.items))


def test_canon_tells_signed_zeros_and_types_apart() -> None:
    def metric(value: Any) -> Comparison:
        return Comparison(Entity.METRIC, "m", Op.GT, value)

    assert canon(metric(0.0)) != canon(metric(-0.0))
    assert canon(metric(1.0)) != canon(metric(1))
    assert canon(metric(0.1)) != canon(metric(0.1 + 1e-17 * 3))
    assert canon(dataclasses.replace(metric(1.0), position=9)) == canon(metric(1.0))


def round_trips(expr: Any, kind: SearchKind) -> None:
    text = format_filter(expr)
    assert canon(parse_filter(text, kind)) == canon(expr), text


# ---------------------------------------------------------------------------------------------
# Random ASTs from each kind's rules


def _value(draw: Any, op: Op, value_type: str) -> Any:
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return None
    if op in (Op.IN, Op.NOT_IN):
        return tuple(draw(st.lists(TEXT, min_size=1, max_size=4)))
    if value_type == "float":
        return draw(FLOATS)
    if value_type == "int":
        return draw(INT64)
    return draw(TEXT)


@st.composite
def comparisons(draw: Any, kind: SearchKind) -> Comparison:
    rules = _FILTER_RULES[kind]
    entity = draw(st.sampled_from(sorted(rules.entities, key=lambda e: e.value)))
    entity_rule = rules.entities[entity]
    if entity_rule.any_key is not None:
        key = draw(KEYS)
        ops, value_type = entity_rule.any_key
    else:
        assert entity_rule.keys is not None
        # keys kept elsewhere (a trace's `name` is a tag) never reach the AST as attributes
        rules_here = {r.key: r for r in entity_rule.keys.values() if r.entity is None}
        rule = draw(st.sampled_from(sorted(rules_here.items())))[1]
        key, ops, value_type = rule.key, rule.ops, rule.value_type
    op = draw(st.sampled_from(sorted(ops, key=lambda o: o.value)))
    return Comparison(entity, key, op, _value(draw, op, value_type))


@st.composite
def expressions(draw: Any, kind: SearchKind, depth: int = 0, parent: type | None = None) -> Any:
    """ASTs as the parser builds them: And/Or of two or more items, never nested in their own
    type (the parser flattens those)."""
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(comparisons(kind))
    node = draw(st.sampled_from([t for t in (And, Or) if t is not parent]))
    count = draw(st.integers(2, 3))
    return node(tuple(draw(expressions(kind, depth + 1, node)) for _ in range(count)))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_random_asts_round_trip(kind: SearchKind, data: Any) -> None:
    round_trips(data.draw(expressions(kind)), kind)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_and_only_asts_print_the_same_for_mlflow_or_are_refused(
    kind: SearchKind, data: Any
) -> None:
    items = data.draw(st.lists(comparisons(kind), min_size=1, max_size=4))
    expr = items[0] if len(items) == 1 else And(tuple(items))
    try:
        strict = format_filter(expr, for_mlflow=True)
    except TrackyardError as exc:
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert "MLflow" in exc.message
        assert _mlflow_cannot_say(expr), (expr, exc.message)
    else:
        assert strict == format_filter(expr)
        assert not _mlflow_cannot_say(expr)


def _mlflow_cannot_say(expr: Any) -> bool:
    """What the printer documents MLflow cannot read as meant, decided independently."""

    def bad_string(text: str) -> bool:
        return text.endswith("\\") or ("'" in text and '"' in text)

    def bad_key(key: str) -> bool:
        wrapped = len(key) > 1 and key[0] == key[-1] == "`"
        return "`" in key and ('"' in key or key.endswith("\\") or wrapped)

    for c in expr.items if isinstance(expr, And) else (expr,):
        if bad_key(c.key):
            return True
        if isinstance(c.value, str) and bad_string(c.value):
            return True
        if isinstance(c.value, tuple):
            for item in c.value:
                if any(ch in item for ch in "\\\r\n\x00") or bad_string(item):
                    return True
    return False


# ---------------------------------------------------------------------------------------------
# The parser's test corpus


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif hasattr(value, "values") and not isinstance(value, dict):  # pytest.param(...)
        yield from _strings(tuple(value.values))


def corpus() -> list[str]:
    """Every string in a ``parametrize`` of the parser tests, and its module-level tables."""
    found: set[str] = set()
    for name, obj in vars(parser_tests).items():
        if name.startswith("test_"):
            for mark in getattr(obj, "pytestmark", []):
                if mark.name == "parametrize":
                    found.update(_strings(mark.args[1]))
        elif name.isupper():
            found.update(_strings(obj))
    for _kind, ident, op, _allowed in parser_tests.COMBINATIONS:
        for numeric in (False, True):
            found.add(f"{ident} {op} {parser_tests._value_for(op, numeric)}".strip())
    return sorted(found)


def _parsed_corpus() -> list[tuple[str, SearchKind]]:
    pairs = []
    for text in corpus():
        for kind in KINDS:
            try:
                if parse_filter(text, kind) is not None:
                    pairs.append((text, kind))
            except TrackyardError:
                pass
    return pairs


PARSED = _parsed_corpus()


def test_the_corpus_is_not_empty() -> None:
    assert len(corpus()) > 300
    assert len(PARSED) > 200
    assert {kind for _, kind in PARSED} == set(KINDS)


@pytest.mark.parametrize("text, kind", PARSED)
def test_corpus_filters_round_trip(text: str, kind: SearchKind) -> None:
    round_trips(parse_filter(text, kind), kind)


def test_corpus_order_by_round_trips() -> None:
    checked = 0
    for text in corpus():
        for kind in KINDS:
            try:
                order = parse_order_by([text], kind)
            except TrackyardError:
                continue
            assert parse_order_by(format_order_by(order), kind) == order, text
            checked += 1
    assert checked >= 40


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(parts=st.lists(parser_tests.FILTER_ALPHABET, max_size=30), kind=st.sampled_from(KINDS))
def test_grammar_like_text_round_trips_when_it_parses(parts: list[str], kind: SearchKind) -> None:
    try:
        expr = parse_filter("".join(parts), kind)
    except TrackyardError:
        return  # most of this text is not a filter; the parser tests check those errors
    round_trips(expr, kind)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(case=parser_tests.expressions())
def test_rendered_parser_cases_round_trip(case: tuple[str, Any]) -> None:
    round_trips(parse_filter(case[0]), SearchKind.RUNS)


# ---------------------------------------------------------------------------------------------
# order_by


@st.composite
def order_keys(draw: Any, kind: SearchKind) -> list[OrderKey]:
    rules = _ORDER_RULES[kind]
    choices: list[Any] = sorted(set(rules.attributes.values()))
    entities = sorted(rules.any_key, key=lambda e: e.value)
    keys: list[OrderKey] = []
    seen: set[tuple[Entity, str]] = set()
    for _ in range(draw(st.integers(0, 4))):
        if entities and draw(st.booleans()):
            entity, key = draw(st.sampled_from(entities)), draw(KEYS)
        else:
            entity, key = Entity.ATTRIBUTE, draw(st.sampled_from(choices))
        if (entity, key) not in seen:
            seen.add((entity, key))
            keys.append(OrderKey(entity, key, draw(st.booleans())))
    return keys


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_random_order_keys_round_trip(kind: SearchKind, data: Any) -> None:
    keys = data.draw(order_keys(kind))
    clauses = format_order_by(keys)
    assert len(clauses) == len(keys)
    assert parse_order_by(clauses, kind) == complete_order(kind, keys), clauses
    complete = complete_order(kind, keys)
    assert parse_order_by(format_order_by(complete), kind) == complete


# ---------------------------------------------------------------------------------------------
# What the text looks like


def cmp(entity: Entity, key: str, op: Op, value: Any = None) -> Comparison:
    return Comparison(entity, key, op, value)


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc > 0.9 AND params.lr = '0.1'",
        "tags.mlflow.source.name = 'train.py'",
        "metrics.`val loss` <= 1e-300",
        'params.p = "it\'s"',
        "run_id IN ('a', 'b') AND status != 'FAILED'",
        "tags.t IS NULL AND tags.u IS NOT NULL",
        "start_time >= -9223372036854775808 AND end_time < 9223372036854775807",
        "metrics.a > 1.0 OR metrics.b > 2.5 AND metrics.c > -3.0",
        "(metrics.a > 1.0 OR metrics.b > 2.0) AND metrics.c > 3.0",
        "datasets.context NOT IN ('training')",
    ],
)
def test_canonical_text_prints_as_written(text: str) -> None:
    assert format_filter(parse_filter(text)) == text


@pytest.mark.parametrize(
    "value, text",
    [
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (1e-300, "1e-300"),
        (5e-324, "5e-324"),
        (1e16, "1e16"),
        (1.5e-07, "1.5e-07"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (0.1, "0.1"),
        (12345678901234567890.0, "1.2345678901234567e19"),
        (7, "7"),
        (-(2**63), "-9223372036854775808"),
    ],
)
def test_numbers_print_exactly(value: float | int, text: str) -> None:
    assert format_filter(cmp(Entity.METRIC, "m", Op.EQ, value)) == f"metrics.m = {text}"


@pytest.mark.parametrize(
    "entity, key, ident",
    [
        (Entity.METRIC, "acc", "metrics.acc"),
        (Entity.PARAM, "a.b_c", "params.a.b_c"),
        (Entity.TAG, "val loss", "tags.`val loss`"),
        (Entity.TAG, "in", "tags.`in`"),  # MLflow's tokenizer reads IN as a keyword anywhere
        (Entity.TAG, "a.desc", "tags.`a.desc`"),
        (Entity.TAG, "a.1", "tags.`a.1`"),
        (Entity.TAG, "1a", "tags.`1a`"),
        (Entity.TAG, "é", "tags.`é`"),
        (Entity.TAG, "a`b", 'tags."a`b"'),
        (Entity.TAG, 'a`"b', 'tags.`a``"b`'),
        (Entity.DATASET, "name", "datasets.name"),
        (Entity.ATTRIBUTE, "run_id", "run_id"),
    ],
)
def test_identifiers(entity: Entity, key: str, ident: str) -> None:
    op = Op.EQ
    assert format_filter(cmp(entity, key, op, "v")) == f"{ident} = 'v'"
    assert format_order_by([OrderKey(entity, key, False)]) == [f"{ident} DESC"]


@pytest.mark.parametrize(
    "value, text",
    [
        ("", "''"),
        ("plain", "'plain'"),
        ("it's", '"it\'s"'),
        ('say "hi"', "'say \"hi\"'"),
        ('it\'s "x"', "'it''s \"x\"'"),
        ("ends\\", "'ends\\'"),
        ("it's\\", '"it\'s\\"'),
        ("a\\b", "'a\\b'"),
        ("line\nbreak", "'line\nbreak'"),
    ],
)
def test_string_quoting(value: str, text: str) -> None:
    assert format_filter(cmp(Entity.PARAM, "p", Op.EQ, value)) == f"params.p = {text}"


def test_parentheses_only_where_needed() -> None:
    a, b, c, d = (cmp(Entity.METRIC, k, Op.GT, 1.0) for k in "abcd")
    assert (
        format_filter(Or((And((a, b)), c)))
        == "metrics.a > 1.0 AND metrics.b > 1.0 OR metrics.c > 1.0"
    )
    assert format_filter(And((Or((a, b)), Or((c, d))))) == (
        "(metrics.a > 1.0 OR metrics.b > 1.0) AND (metrics.c > 1.0 OR metrics.d > 1.0)"
    )
    assert format_filter(And((a, Or((b,))))) == "metrics.a > 1.0 AND metrics.b > 1.0"
    assert format_filter(None) == ""


@pytest.mark.parametrize(
    "expr, needle",
    [
        (Or((cmp(Entity.TAG, "a", Op.EQ, "1"), cmp(Entity.TAG, "b", Op.EQ, "2"))), "OR"),
        (cmp(Entity.TAG, "a", Op.EQ, 'it\'s "x"'), "both quote characters"),
        (cmp(Entity.TAG, "a", Op.EQ, "ends\\"), "ends with a backslash"),
        (cmp(Entity.TAG, "`k`", Op.EQ, "v"), "wrapped in backticks"),
        (cmp(Entity.TAG, "k`\\", Op.EQ, "v"), "ends with a backslash"),
        (cmp(Entity.TAG, 'k`"', Op.EQ, "v"), "backtick and a double quote"),
        (cmp(Entity.ATTRIBUTE, "run_id", Op.IN, ("a\\b",)), "backslash or a line break"),
        (cmp(Entity.ATTRIBUTE, "run_id", Op.NOT_IN, ("a", "b\nc")), "backslash or a line break"),
    ],
)
def test_for_mlflow_refuses_what_mlflow_cannot_read(expr: Any, needle: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        format_filter(expr, for_mlflow=True)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert needle in excinfo.value.message
    format_filter(expr)  # trackyard's own syntax can say it


@pytest.mark.parametrize("key", ['a"b', "a\\b", "a`b", "a ", "a\n"])
def test_for_mlflow_order_by_refuses_shell_quoting_and_trailing_space(key: str) -> None:
    with pytest.raises(TrackyardError, match="order_by key"):
        format_order_by([OrderKey(Entity.METRIC, key)], for_mlflow=True)
    assert parse_order_by(format_order_by([OrderKey(Entity.METRIC, key)]))[0].key == key


@pytest.mark.parametrize(
    "expr",
    [
        And(()),
        Or(()),
        cmp(Entity.METRIC, "m", Op.GT, math.nan),
        cmp(Entity.METRIC, "m", Op.GT, math.inf),
        cmp(Entity.METRIC, "m", Op.GT, True),
        cmp(Entity.ATTRIBUTE, "run_id", Op.IN, ()),
        cmp(Entity.ATTRIBUTE, "run_id", Op.IN, "a"),
        cmp(Entity.TAG, "", Op.EQ, "v"),
        "metrics.m > 1",
    ],
)
def test_malformed_asts_are_programming_errors(expr: Any) -> None:
    with pytest.raises(ValueError):
        format_filter(expr)
