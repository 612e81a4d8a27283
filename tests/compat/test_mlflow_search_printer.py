"""MLflow 3.17.2 reads what trackyard's search printer writes, with the same meaning.

Seeded random ``AND``-only filters for runs, experiments, registered models and model
versions (keys and values full of quotes, backticks, backslashes, line breaks, keywords and
extreme numbers) are printed with ``format_filter(..., for_mlflow=True)`` and parsed in the
MLflow peer by ``SearchUtils`` and its subclasses; every comparison must come back with the
same entity, key, comparator and value. Filters the printer refuses for MLflow are counted,
and must be a minority. order_by clauses are checked the same way.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard.errors import TrackyardError
from trackyard.search import (
    And,
    Comparison,
    Entity,
    Op,
    OrderKey,
    SearchKind,
    complete_order,
    format_filter,
    format_order_by,
)
from trackyard.search.parser import _FILTER_RULES, _ORDER_RULES

pytestmark = [pytest.mark.compat, requires_mlflow]

KINDS = [
    SearchKind.RUNS,
    SearchKind.EXPERIMENTS,
    SearchKind.REGISTERED_MODELS,
    SearchKind.MODEL_VERSIONS,
]
PIECES = [
    *("'", '"', "`", "\\", "\n", "\t", " ", ".", "%", "_", "-", "(", ")", ",", ";", "#", "--"),
    *("AND", "or", "in", "IS", "null", "desc", "select", "é", "€", "1", "e5", "a", "Z", "x_y"),
]
FLOATS = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1.7976931348623157e308, 1e16, 0.1, -2.5, 3.0]
ENTITY_TYPE = {
    Entity.METRIC: "metric",
    Entity.PARAM: "parameter",
    Entity.TAG: "tag",
    Entity.ATTRIBUTE: "attribute",
    Entity.DATASET: "dataset",
}


def _text(rng: random.Random, *, empty: bool = True) -> str:
    while True:
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5)))
        if text or empty:
            return text


def _number(rng: random.Random, value_type: str) -> float | int:
    if value_type == "int":
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.randint(-(10**15), 10**15)])
    if rng.random() < 0.5:
        return rng.choice(FLOATS)
    return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-200, 200)


def _comparison(rng: random.Random, kind: SearchKind) -> Comparison:
    rules = _FILTER_RULES[kind]
    entity = rng.choice(sorted(rules.entities, key=lambda e: e.value))
    entity_rule = rules.entities[entity]
    if entity_rule.any_key is not None:
        key = _text(rng, empty=False)
        ops, value_type = entity_rule.any_key
    else:
        assert entity_rule.keys is not None
        rule = rng.choice(sorted({r.key: r for r in entity_rule.keys.values()}.items()))[1]
        key, ops, value_type = rule.key, rule.ops, rule.value_type
    op = rng.choice(sorted(ops, key=lambda o: o.value))
    value: Any
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        value = None
    elif op in (Op.IN, Op.NOT_IN):
        value = tuple(_text(rng) for _ in range(rng.randint(1, 3)))
    elif value_type == "string":
        value = _text(rng)
    else:
        value = _number(rng, value_type)
    return Comparison(entity, key, op, value)


def _filters(kind: SearchKind, count: int) -> tuple[list[Any], int]:
    """``count`` printed AND-only filters of ``kind`` as (text, comparisons); and the refusals."""
    rng = random.Random(f"printer-{kind.value}")
    cases: list[Any] = []
    refused = 0
    while len(cases) < count:
        items = [_comparison(rng, kind) for _ in range(rng.randint(1, 3))]
        expr = items[0] if len(items) == 1 else And(tuple(items))
        try:
            text = format_filter(expr, for_mlflow=True)
        except TrackyardError:
            refused += 1
            continue
        cases.append((text, items))
    return cases, refused


def _orders(kind: SearchKind, count: int) -> list[OrderKey]:
    rng = random.Random(f"printer-order-{kind.value}")
    rules = _ORDER_RULES[kind]
    keys = []
    while len(keys) < count:
        if rules.any_key and rng.random() < 0.7:
            entity = rng.choice(sorted(rules.any_key, key=lambda e: e.value))
            key = OrderKey(entity, _text(rng, empty=False), rng.random() < 0.5)
        else:
            name = rng.choice(sorted(set(rules.attributes.values())))
            key = OrderKey(Entity.ATTRIBUTE, name, rng.random() < 0.5)
        try:
            format_order_by([key], for_mlflow=True)
        except TrackyardError:
            continue
        keys.append(key)
    return keys


PEER = """
from mlflow.utils.search_utils import (
    SearchExperimentsUtils,
    SearchModelUtils,
    SearchModelVersionUtils,
    SearchUtils,
)

FILTERS = {
    "runs": SearchUtils.parse_search_filter,
    "experiments": SearchExperimentsUtils.parse_search_filter,
    "registered_models": SearchModelUtils.parse_search_filter,
    "model_versions": SearchModelVersionUtils.parse_search_filter,
}
ORDERS = {
    "runs": SearchUtils.parse_order_by_for_search_runs,
    "experiments": SearchExperimentsUtils.parse_order_by_for_search_experiments,
    "registered_models": SearchModelUtils.parse_order_by_for_search_registered_models,
    "model_versions": SearchModelVersionUtils.parse_order_by_for_search_model_versions,
}


def attempt(fn, text):
    try:
        return {"ok": fn(text)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float):
        return {"float": value.hex()}
    return value


out = {"filters": {}, "orders": {}}
for kind, texts in ARGS["filters"].items():
    results = []
    for text in texts:
        got = attempt(FILTERS[kind], text)
        if "ok" in got:
            got["ok"] = [
                {**c, "value": plain(c.get("value"))} for c in got["ok"]
            ]
        results.append(got)
    out["filters"][kind] = results
for kind, clauses in ARGS["orders"].items():
    results = []
    for clause in clauses:
        got = attempt(ORDERS[kind], clause)
        if "ok" in got:
            got["ok"] = list(got["ok"])
        results.append(got)
    out["orders"][kind] = results
emit(out)
"""


def _expected_value(c: Comparison, mlflow_value: Any) -> bool:
    if c.op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return mlflow_value is None
    if isinstance(c.value, tuple):
        return mlflow_value == list(c.value)
    if c.entity is Entity.METRIC:  # MLflow keeps a metric's number as its text
        number = float(mlflow_value)
        value = float(c.value)  # type: ignore[arg-type]
        return number == value and math.copysign(1, number) == math.copysign(1, value)
    if isinstance(mlflow_value, dict):  # a float numeric attribute
        return float.fromhex(mlflow_value["float"]) == c.value
    return bool(mlflow_value == c.value)


def _order_key_matches(key: OrderKey, got: list[Any]) -> bool:
    """MLflow answers (type, key, ascending) for runs and experiments, else (key, ascending)."""
    if len(got) == 3:
        return got == [ENTITY_TYPE[key.entity], key.key, key.ascending]
    return got == [key.key, key.ascending]


def test_mlflow_reads_printed_filters_and_order_by_as_meant() -> None:
    filters: dict[str, Any] = {}
    refusals: dict[str, int] = {}
    for kind in KINDS:
        filters[kind.value], refusals[kind.value] = _filters(kind, 300)
    orders = {kind.value: _orders(kind, 60) for kind in KINDS}
    for kind in KINDS:  # a complete order prints for MLflow too
        orders[kind.value].extend(complete_order(kind, []))
    result = run_mlflow(
        PEER,
        filters={k: [text for text, _ in cases] for k, cases in filters.items()},
        orders={k: [format_order_by([key])[0] for key in keys] for k, keys in orders.items()},
    )
    problems = []
    for kind, cases in filters.items():
        assert refusals[kind] < len(cases) // 2, (kind, refusals[kind])
        for (text, items), got in zip(cases, result["filters"][kind], strict=True):
            if "error" in got:
                problems.append(f"{kind}: MLflow refused {text!r}: {got['error']}")
                continue
            parsed = got["ok"]
            if len(parsed) != len(items):
                problems.append(f"{kind}: {text!r} gave {parsed!r}")
                continue
            for c, theirs in zip(items, parsed, strict=True):
                same = (
                    theirs["type"] == ENTITY_TYPE[c.entity]
                    and theirs["key"] == c.key
                    and theirs["comparator"].upper() == c.op.value
                    and _expected_value(c, theirs["value"])
                )
                if not same:
                    problems.append(f"{kind}: {text!r}: {c!r} read as {theirs!r}")
    for kind, keys in orders.items():
        for key, got in zip(keys, result["orders"][kind], strict=True):
            clause = format_order_by([key])[0]
            if "error" in got:
                problems.append(f"{kind}: MLflow refused order_by {clause!r}: {got['error']}")
            elif not _order_key_matches(key, got["ok"]):
                problems.append(f"{kind}: order_by {clause!r} read as {got['ok']!r}")
    assert not problems, "\n".join(problems[:40])
