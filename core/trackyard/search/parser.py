"""Parse search filter strings and order_by clauses into the typed AST.

Filter grammar (keywords are case-insensitive)::

    filter      := or_expr
    or_expr     := and_expr ("OR" and_expr)*                 # OR: trackyard extension
    and_expr    := primary ("AND" primary)*
    primary     := "(" or_expr ")" | comparison                # parentheses: extension
    comparison  := identifier comparator value
    identifier  := [prefix "."] key | quoted
    key         := bare | quoted
    bare        := letter-or-underscore followed by letters, digits, "_", ".", "-", "/", ":"
    quoted      := "`" ... "`" | '"' ... '"'                 # a doubled quote escapes itself
    comparator  := "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE"
                 | "IN" | "NOT IN" | "IS NULL" | "IS NOT NULL"
    value       := string | number | "(" string ("," string)* [","] ")"
    string      := "'" ... "'" | '"' ... '"'                  # a doubled quote escapes itself

``AND`` binds tighter than ``OR``. An identifier splits on its *first* dot: the part before
is the entity prefix (``metrics``, ``params``, ``tags``...), the rest is the key
(``tags.mlflow.source.name`` has key ``mlflow.source.name``). An identifier without a dot,
or quoted as a whole (```Run name```), names an attribute. Backslashes have no special
meaning inside quotes.

Which prefixes, keys, comparators and value types are valid depends on the
:class:`~trackyard.search.ast.SearchKind`; the rule tables in this module are the single
source of those rules. Every problem raises
``TrackyardError(..., INVALID_PARAMETER_VALUE)`` naming the offending token and its
0-based character offset in the string as given. Tokens come from
:mod:`trackyard.search._lexer`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NoReturn

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search._lexer import (
    _BT,
    _COMMA,
    _DQ,
    _EOF,
    _ERROR,
    _INTEGER_RE,
    _KEYWORDS,
    _LPAREN,
    _NUMBER,
    _OP,
    _RPAREN,
    _SQ,
    _WORD,
    _Token,
    _tokenize,
)
from trackyard.search._rules import (
    _FLOAT,
    _INT,
    _LIST_OPS,
    _NULL_OPS,
    _NUMERIC_OPS,
    _OP_ORDER,
    _STRING,
    _STRING_OPS,
    _SYMBOL_OPS,
    _EntityRule,
    _FilterRules,
    _KeyRule,
    _keys,
    _OrderRules,
)
from trackyard.search._trace_rules import TRACE_FILTER_RULES, TRACE_KEY_HOMES, TRACE_ORDER_RULES
from trackyard.search.ast import And, Comparison, Entity, Expr, Op, Or, OrderKey, SearchKind

__all__ = [
    "MAX_FILTER_COMPARISONS",
    "MAX_FILTER_VALUES",
    "complete_order",
    "parse_filter",
    "parse_order_by",
]

# ---------------------------------------------------------------------------------------------
# Limits

# Numeric attributes are epoch milliseconds or version numbers: keep them in SQL's BIGINT.
_MAX_INT = 2**63 - 1
# Deeper nesting than this is refused (it would otherwise exhaust Python's recursion limit).
_MAX_DEPTH = 64
#: Most comparisons one filter may hold: larger filters exceed what databases take in one
#: expression (SQLite refuses expression trees deeper than 1,000), so the parser refuses
#: them with INVALID_PARAMETER_VALUE before any store sees them.
MAX_FILTER_COMPARISONS = 200
#: Most values one filter may hold in all (each value of an ``IN`` list counts): databases
#: bind each as a query parameter, and PostgreSQL takes at most 65,535 per query.
MAX_FILTER_VALUES = 5000
# Longer filters are parsed every time: the cache would otherwise keep them alive.
_MAX_CACHED = 4096
# Filters longer than this are shortened in error messages.
_MAX_SHOWN = 500


# ---------------------------------------------------------------------------------------------
# Rules per search kind


_RUN_PREFIXES: Mapping[str, Entity] = {
    "metric": Entity.METRIC,
    "metrics": Entity.METRIC,
    "param": Entity.PARAM,
    "params": Entity.PARAM,
    "parameter": Entity.PARAM,
    "parameters": Entity.PARAM,
    "tag": Entity.TAG,
    "tags": Entity.TAG,
    "attribute": Entity.ATTRIBUTE,
    "attributes": Entity.ATTRIBUTE,
    "attr": Entity.ATTRIBUTE,
    "run": Entity.ATTRIBUTE,
    "dataset": Entity.DATASET,
    "datasets": Entity.DATASET,
}
_OTHER_PREFIXES: Mapping[str, Entity] = {
    "attribute": Entity.ATTRIBUTE,
    "attributes": Entity.ATTRIBUTE,
    "tag": Entity.TAG,
    "tags": Entity.TAG,
}
_RUN_NAME_ALIASES = ("Run name", "Run Name", "run name")

_FILTER_RULES: Mapping[SearchKind, _FilterRules] = {
    SearchKind.RUNS: _FilterRules(
        prefixes=_RUN_PREFIXES,
        entities={
            Entity.METRIC: _EntityRule("metric", any_key=(_NUMERIC_OPS, _FLOAT)),
            Entity.PARAM: _EntityRule("param", any_key=(_STRING_OPS | _NULL_OPS, _STRING)),
            Entity.TAG: _EntityRule("tag", any_key=(_STRING_OPS | _NULL_OPS, _STRING)),
            Entity.ATTRIBUTE: _EntityRule(
                "attribute",
                keys=_keys(
                    ("run_id", _STRING_OPS | _LIST_OPS, _STRING),
                    ("run_name", _STRING_OPS, _STRING),
                    ("user_id", _STRING_OPS, _STRING),
                    ("status", _STRING_OPS, _STRING),
                    ("artifact_uri", _STRING_OPS, _STRING),
                    ("start_time", _NUMERIC_OPS, _INT),
                    ("end_time", _NUMERIC_OPS, _INT),
                    aliases={
                        "created": "start_time",
                        "Created": "start_time",
                        **dict.fromkeys(_RUN_NAME_ALIASES, "run_name"),
                    },
                ),
                refused={
                    "experiment_id": "runs cannot be filtered by experiment_id; "
                    "pass experiment_ids to the search instead",
                    "lifecycle_stage": "runs cannot be filtered by lifecycle_stage; "
                    "pass run_view_type to the search instead",
                },
            ),
            Entity.DATASET: _EntityRule(
                "dataset field",
                keys=_keys(
                    ("name", _STRING_OPS | _LIST_OPS, _STRING),
                    ("digest", _STRING_OPS | _LIST_OPS, _STRING),
                    ("context", _STRING_OPS | _LIST_OPS, _STRING),
                ),
            ),
        },
    ),
    SearchKind.EXPERIMENTS: _FilterRules(
        prefixes=_OTHER_PREFIXES,
        entities={
            Entity.ATTRIBUTE: _EntityRule(
                "attribute",
                keys=_keys(
                    ("name", _STRING_OPS, _STRING),
                    ("experiment_id", _STRING_OPS | _LIST_OPS, _STRING),
                    ("creation_time", _NUMERIC_OPS, _INT),
                    ("last_update_time", _NUMERIC_OPS, _INT),
                ),
            ),
            Entity.TAG: _EntityRule("tag", any_key=(_STRING_OPS | _NULL_OPS, _STRING)),
        },
    ),
    SearchKind.REGISTERED_MODELS: _FilterRules(
        prefixes=_OTHER_PREFIXES,
        entities={
            Entity.ATTRIBUTE: _EntityRule(
                "attribute", keys=_keys(("name", _STRING_OPS | _LIST_OPS, _STRING))
            ),
            Entity.TAG: _EntityRule("tag", any_key=(_STRING_OPS, _STRING)),
        },
    ),
    # search_prompts: the registered-model keys plus MLflow's `experiment_id = '<id>'` term,
    # which the client turns into a tag condition (RegisteredModelSearch.parse_prompts).
    SearchKind.PROMPTS: _FilterRules(
        prefixes=_OTHER_PREFIXES,
        entities={
            Entity.ATTRIBUTE: _EntityRule(
                "attribute",
                keys=_keys(
                    ("name", _STRING_OPS | _LIST_OPS, _STRING),
                    ("experiment_id", frozenset({Op.EQ}), _STRING),
                ),
            ),
            Entity.TAG: _EntityRule("tag", any_key=(_STRING_OPS, _STRING)),
        },
    ),
    SearchKind.MODEL_VERSIONS: _FilterRules(
        prefixes=_OTHER_PREFIXES,
        entities={
            Entity.ATTRIBUTE: _EntityRule(
                "attribute",
                keys=_keys(
                    ("name", _STRING_OPS | _LIST_OPS, _STRING),
                    ("run_id", _STRING_OPS | _LIST_OPS, _STRING),
                    ("source_path", _STRING_OPS, _STRING),
                    ("version_number", _NUMERIC_OPS, _INT),
                ),
            ),
            Entity.TAG: _EntityRule("tag", any_key=(_STRING_OPS, _STRING)),
        },
    ),
    # Logged models: MLflow accepts only the plural prefixes here.
    SearchKind.LOGGED_MODELS: _FilterRules(
        prefixes={
            "attributes": Entity.ATTRIBUTE,
            "metrics": Entity.METRIC,
            "params": Entity.PARAM,
            "tags": Entity.TAG,
        },
        entities={
            Entity.ATTRIBUTE: _EntityRule(
                "attribute",
                keys=_keys(
                    ("model_id", _STRING_OPS | _LIST_OPS, _STRING),
                    ("name", _STRING_OPS | _LIST_OPS, _STRING),
                    ("status", _STRING_OPS | _LIST_OPS, _STRING),
                    ("source_run_id", _STRING_OPS | _LIST_OPS, _STRING),
                    ("model_type", _STRING_OPS | _LIST_OPS, _STRING),
                    ("creation_timestamp", _NUMERIC_OPS, _INT),
                    ("last_updated_timestamp", _NUMERIC_OPS, _INT),
                    aliases={
                        "creation_time": "creation_timestamp",
                        "creation_timestamp_ms": "creation_timestamp",
                        "last_updated_timestamp_ms": "last_updated_timestamp",
                    },
                ),
            ),
            Entity.METRIC: _EntityRule("metric", any_key=(_NUMERIC_OPS, _FLOAT)),
            Entity.PARAM: _EntityRule("param", any_key=(_STRING_OPS | _LIST_OPS, _STRING)),
            Entity.TAG: _EntityRule("tag", any_key=(_STRING_OPS | _LIST_OPS, _STRING)),
        },
    ),
    # MLflow's SearchTraceUtils: name, run_id and prompt are a tag / metadata in disguise.
    SearchKind.TRACES: TRACE_FILTER_RULES,
}

_REGISTERED_MODEL_ORDER = _OrderRules(
    prefixes={"attribute": Entity.ATTRIBUTE, "attributes": Entity.ATTRIBUTE},
    any_key=frozenset(),
    attributes={
        "name": "name",
        "timestamp": "last_updated_timestamp",
        "last_updated_timestamp": "last_updated_timestamp",
    },
    refused={
        "creation_timestamp": "registered models can be ordered by name, timestamp "
        "or last_updated_timestamp only",
    },
)

_ORDER_RULES: Mapping[SearchKind, _OrderRules] = {
    SearchKind.RUNS: _OrderRules(
        prefixes={k: v for k, v in _RUN_PREFIXES.items() if v is not Entity.DATASET},
        any_key=frozenset({Entity.METRIC, Entity.PARAM, Entity.TAG}),
        attributes={
            **{
                name: name
                for name in (
                    "run_id",
                    "run_name",
                    "user_id",
                    "status",
                    "artifact_uri",
                    "start_time",
                    "end_time",
                )
            },
            "created": "start_time",
            "Created": "start_time",
        },
        refused=dict.fromkeys(_RUN_NAME_ALIASES, "order by run_name instead"),
    ),
    SearchKind.EXPERIMENTS: _OrderRules(
        prefixes={"attribute": Entity.ATTRIBUTE, "attributes": Entity.ATTRIBUTE},
        any_key=frozenset(),
        attributes={
            name: name for name in ("name", "experiment_id", "creation_time", "last_update_time")
        },
        refused={},
    ),
    SearchKind.REGISTERED_MODELS: _REGISTERED_MODEL_ORDER,
    SearchKind.PROMPTS: _REGISTERED_MODEL_ORDER,
    SearchKind.MODEL_VERSIONS: _OrderRules(
        prefixes={"attribute": Entity.ATTRIBUTE, "attributes": Entity.ATTRIBUTE},
        any_key=frozenset(),
        attributes={
            name: name
            for name in ("name", "version_number", "creation_timestamp", "last_updated_timestamp")
        },
        refused={},
    ),
    SearchKind.LOGGED_MODELS: _OrderRules(
        prefixes={"metrics": Entity.METRIC, "attributes": Entity.ATTRIBUTE},
        any_key=frozenset({Entity.METRIC}),
        attributes={
            **{
                name: name
                for name in (
                    "model_id",
                    "name",
                    "status",
                    "source_run_id",
                    "model_type",
                    "creation_timestamp",
                    "last_updated_timestamp",
                )
            },
            "creation_time": "creation_timestamp",
            "creation_timestamp_ms": "creation_timestamp",
            "last_updated_timestamp_ms": "last_updated_timestamp",
        },
        refused={},
    ),
    SearchKind.TRACES: TRACE_ORDER_RULES,
}

_ENTITY_NOUN = {
    Entity.METRIC: "metrics",
    Entity.PARAM: "params",
    Entity.TAG: "tags",
    Entity.ATTRIBUTE: "attributes",
    Entity.DATASET: "datasets",
    Entity.METADATA: "metadata",
    Entity.SPAN: "span",
}


def complete_order(kind: SearchKind, keys: Sequence[OrderKey]) -> tuple[OrderKey, ...]:
    """``keys`` followed by the kind's defaults and tie-breakers (see :func:`parse_order_by`).

    Idempotent: a complete order comes back unchanged.
    """
    kind = _as_kind(kind)
    present = {(k.entity, k.key) for k in keys}
    extra: list[OrderKey] = []

    def add(key: str, ascending: bool) -> None:
        if (Entity.ATTRIBUTE, key) not in present:
            extra.append(OrderKey(Entity.ATTRIBUTE, key, ascending))

    if kind is SearchKind.RUNS:
        add("start_time", False)
        add("run_id", True)
    elif kind is SearchKind.EXPERIMENTS:
        if not keys:
            add("creation_time", False)
        add("experiment_id", True)
    elif kind in (SearchKind.REGISTERED_MODELS, SearchKind.PROMPTS):
        add("name", True)
    elif kind is SearchKind.LOGGED_MODELS:
        add("creation_timestamp", False)
        add("model_id", True)
    elif kind is SearchKind.TRACES:
        add("timestamp_ms", False)
        add("request_id", True)
    else:
        if not keys:  # MLflow 3.17.2's default when order_by is empty: newest change first
            add("last_updated_timestamp", False)
        add("name", True)
        add("version_number", False)
    return (*keys, *extra)


# ---------------------------------------------------------------------------------------------
# Parsers


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _clip(text: str, limit: int = 60) -> str:
    """Shorten a fragment of user input quoted in an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Parser:
    """Token cursor plus identifier reading, shared by filters and order_by clauses."""

    _what = "filter"

    def __init__(self, text: str, kind: SearchKind):
        self._text = text
        self._kind = kind
        self._tokens = _tokenize(text)
        self._index = 0

    def _fail(self, detail: str, pos: int, hint: str | None = None) -> NoReturn:
        message = f'Invalid {self._what} "{_shorten(self._text)}": {detail} at character {pos}'
        if hint:
            message += f"; {hint}"
        raise TrackyardError(message, ErrorCode.INVALID_PARAMETER_VALUE)

    def _peek(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind == _ERROR:
            self._fail(token.value, token.pos)
        return token

    def _next(self) -> _Token:
        token = self._peek()
        if token.kind != _EOF:
            self._index += 1
        return token

    def _read_identifier(self, expected: str) -> tuple[str | None, str, int, str]:
        """Read ``[prefix.]key`` and return (prefix or None, key, position, source text)."""
        token = self._next()
        if token.kind in (_BT, _DQ):
            return None, token.value, token.pos, token.text
        if token.kind != _WORD or token.text.upper() in _KEYWORDS:
            hint = None
            if token.kind == _SQ:
                hint = "keys are quoted with backticks or double quotes, not single quotes"
            self._fail(f"expected {expected}, found {token.describe()}", token.pos, hint)
        text = token.text
        follower = self._peek()
        if text.endswith(".") and follower.kind == _SQ and follower.pos == token.end:
            self._fail(
                f"unexpected {follower.describe()} after '{_clip(text)}'",
                follower.pos,
                "keys are quoted with backticks or double quotes, not single quotes",
            )
        if text.endswith(".") and follower.kind in (_BT, _DQ) and follower.pos == token.end:
            self._next()
            prefix = text[:-1]
            source = self._text[token.pos : follower.end]
            if "." in prefix:
                self._fail(
                    f"unexpected quoted key after '{_clip(text)}'",
                    follower.pos,
                    "quote the whole key after the entity prefix, as in tags.`a.b`",
                )
            return prefix, follower.value, token.pos, source
        prefix, dot, key = text.partition(".")
        if not dot:
            return None, text, token.pos, text
        return prefix, key, token.pos, text


class _FilterParser(_Parser):
    """Recursive-descent parser of one filter string."""

    def __init__(self, text: str, kind: SearchKind):
        super().__init__(text, kind)
        self._rules = _FILTER_RULES[kind]
        self._comparisons = 0
        self._values = 0

    def parse(self) -> Expr:
        expr = self._parse_or(0)
        token = self._peek()
        if token.kind == _RPAREN:
            self._fail("unbalanced ')'", token.pos)
        if token.kind != _EOF:
            self._fail(f"expected AND, OR or end of input, found {token.describe()}", token.pos)
        return expr

    def _parse_or(self, depth: int) -> Expr:
        items = [self._parse_and(depth)]
        while self._peek().is_word("OR"):
            self._next()
            items.append(self._parse_and(depth))
        return _combine(Or, items)

    def _parse_and(self, depth: int) -> Expr:
        items = [self._parse_primary(depth)]
        while self._peek().is_word("AND"):
            self._next()
            items.append(self._parse_primary(depth))
        return _combine(And, items)

    def _parse_primary(self, depth: int) -> Expr:
        token = self._peek()
        if token.kind != _LPAREN:
            return self._parse_comparison()
        if depth >= _MAX_DEPTH:
            self._fail(f"parentheses nested deeper than {_MAX_DEPTH} levels", token.pos)
        self._next()
        if self._peek().kind == _RPAREN:
            self._fail("empty parentheses", token.pos)
        inner = self._parse_or(depth + 1)
        close = self._peek()
        if close.kind != _RPAREN:
            self._fail(
                f"expected ')', found {close.describe()}",
                close.pos,
                f"the '(' at offset {token.pos} is not closed",
            )
        self._next()
        return inner

    def _parse_comparison(self) -> Comparison:
        self._comparisons += 1
        if self._comparisons > MAX_FILTER_COMPARISONS:
            self._fail(
                f"the filter has more than {MAX_FILTER_COMPARISONS} comparisons",
                self._peek().pos,
                "split the search, or use IN (...) for many values of one key",
            )
        prefix, key, pos, source = self._read_identifier("a comparison")
        entity, rule, label = self._resolve(prefix, key, pos, source)
        op, op_pos, op_text = self._parse_comparator(source)
        if op not in rule.ops:
            allowed = ", ".join(o.value for o in _OP_ORDER if o in rule.ops)
            self._fail(
                f"comparator '{op_text}' is not supported for {label}",
                op_pos,
                f"use one of {allowed}",
            )
        value = self._parse_value(op, rule.value_type, label)
        if not isinstance(value, tuple):
            self._count_value(pos)
        if rule.entity is not None:  # a trace's name / run_id: a tag / metadata key
            entity, key = rule.entity, TRACE_KEY_HOMES[rule.key][1]
            return Comparison(entity, key, op, value, pos)
        return Comparison(entity, rule.key, op, value, pos)

    def _count_value(self, pos: int) -> None:
        self._values += 1
        if self._values > MAX_FILTER_VALUES:
            self._fail(
                f"the filter has more than {MAX_FILTER_VALUES} values", pos, "split the search"
            )

    def _resolve(
        self, prefix: str | None, key: str, pos: int, source: str
    ) -> tuple[Entity, _KeyRule, str]:
        kind_name = self._kind.value.replace("_", " ")
        if prefix is None:
            entity = Entity.ATTRIBUTE
        else:
            found = self._rules.prefixes.get(prefix)
            if found is None:
                valid = ", ".join(sorted(self._rules.prefixes))
                self._fail(
                    f"unknown entity '{_clip(prefix)}' in '{_clip(source)}' for {kind_name}",
                    pos,
                    f"use one of: {valid}",
                )
            entity = found
        entity_rule = self._rules.entities[entity]
        if key == "":
            self._fail(f"empty key in '{_clip(source)}'", pos)
        if entity_rule.refused and key in entity_rule.refused:
            self._fail(f"'{_clip(key)}' is not searchable", pos, entity_rule.refused[key])
        rule = entity_rule.lookup(key)
        if rule is None:
            valid = ", ".join(entity_rule.valid_keys())
            noun = "attribute" if entity is Entity.ATTRIBUTE else entity_rule.label
            self._fail(
                f"unknown {noun} '{_clip(key)}' for {kind_name}", pos, f"valid {noun}s: {valid}"
            )
        return entity, rule, f"{entity_rule.label} '{_clip(key)}'"

    def _parse_comparator(self, source: str) -> tuple[Op, int, str]:
        token = self._next()
        if token.kind == _OP:
            op = _SYMBOL_OPS.get(token.text)
            if op is None:
                hint = {"==": "use '='", "<>": "use '!='"}.get(token.text)
                self._fail(f"unsupported comparator '{_clip(token.text)}'", token.pos, hint)
            return op, token.pos, token.text
        if token.kind != _WORD:
            self._fail(
                f"expected a comparator after '{_clip(source)}', found {token.describe()}",
                token.pos,
            )
        word = token.text.upper()
        if word in ("LIKE", "ILIKE", "IN", "RLIKE"):
            return Op(word), token.pos, token.text
        if word == "NOT":
            second = self._next()
            if second.is_word("IN"):
                return Op.NOT_IN, token.pos, f"{token.text} {second.text}"
            self._fail(
                f"unsupported comparator '{f'NOT {_clip(second.text)}'.rstrip()}'",
                token.pos,
                "NOT is only supported in NOT IN and IS NOT NULL",
            )
        if word == "IS":
            second = self._next()
            if second.is_word("NULL"):
                return Op.IS_NULL, token.pos, f"{token.text} {second.text}"
            if second.is_word("NOT"):
                third = self._next()
                if third.is_word("NULL"):
                    return Op.IS_NOT_NULL, token.pos, f"{token.text} {second.text} {third.text}"
                second = third
            self._fail(f"expected NULL or NOT NULL after IS, found {second.describe()}", second.pos)
        self._fail(f"unsupported comparator '{_clip(token.text)}'", token.pos)

    def _parse_value(
        self, op: Op, value_type: str, label: str
    ) -> str | float | int | tuple[str, ...] | None:
        if op in _NULL_OPS:
            return None
        if op in _LIST_OPS:
            return self._parse_list(op)
        token = self._next()
        if value_type == _STRING:
            if token.kind in (_SQ, _DQ):
                return token.value
            hint = "string values must be quoted with single or double quotes"
            if token.kind == _BT:
                hint = "backticks quote keys; quote values with single or double quotes"
            elif token.is_word("NULL"):
                hint = "use IS NULL or IS NOT NULL"
            self._fail(
                f"expected a quoted string for {label}, found {token.describe()}", token.pos, hint
            )
        if token.kind != _NUMBER:
            self._fail(
                f"expected a number for {label}, found {token.describe()}",
                token.pos,
                "numeric values are written without quotes",
            )
        if value_type == _FLOAT:
            number = float(token.text)
            if not math.isfinite(number):
                self._fail(f"{token.describe()} is out of range", token.pos)
            return number
        return self._to_int(token, label)

    def _to_int(self, token: _Token, label: str) -> int:
        text = token.text
        if _INTEGER_RE.fullmatch(text):
            # Strip zeros first: int() refuses strings of more than 4300 digits.
            digits = text.lstrip("+-").lstrip("0") or "0"
            if len(digits) > 19:  # beyond int64 either way
                self._fail(f"{token.describe()} is out of range", token.pos)
            value = -int(digits) if text.startswith("-") else int(digits)
        else:
            number = float(text)
            if not math.isfinite(number):
                self._fail(f"{token.describe()} is out of range", token.pos)
            if not number.is_integer():
                self._fail(f"expected an integer for {label}, found {token.describe()}", token.pos)
            value = int(number)
        if not -_MAX_INT - 1 <= value <= _MAX_INT:
            self._fail(f"{token.describe()} is out of range", token.pos)
        return value

    def _parse_list(self, op: Op) -> tuple[str, ...]:
        opening = self._next()
        if opening.kind != _LPAREN:
            self._fail(
                f"expected a parenthesised list of quoted strings after {op.value}, "
                f"found {opening.describe()}",
                opening.pos,
            )
        items: list[str] = []
        while True:
            token = self._next()
            if token.kind == _RPAREN:
                if not items:
                    self._fail(f"empty list after {op.value}", token.pos)
                return tuple(items)
            if token.kind not in (_SQ, _DQ):
                if token.kind == _EOF:
                    self._fail(
                        "expected ')', found end of input",
                        token.pos,
                        f"the '(' at offset {opening.pos} is not closed",
                    )
                self._fail(
                    f"expected a quoted string in the {op.value} list, found {token.describe()}",
                    token.pos,
                )
            items.append(token.value)
            self._count_value(token.pos)
            separator = self._next()
            if separator.kind == _RPAREN:
                return tuple(items)
            if separator.kind != _COMMA:
                self._fail(
                    f"expected ',' or ')' in the {op.value} list, found {separator.describe()}",
                    separator.pos,
                )


def _combine(cls: type[And] | type[Or], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, cls):
            flat.extend(item.items)
        else:
            flat.append(item)
    return cls(tuple(flat))


class _OrderParser(_Parser):
    """Parser of one order_by item: ``<identifier> [ASC|DESC]``."""

    _what = "order_by clause"

    def parse(self) -> OrderKey:
        rules = _ORDER_RULES[self._kind]
        if self._peek().kind == _EOF:
            self._fail("empty clause", 0)
        prefix, key, pos, source = self._read_identifier("an identifier")
        entity, key = self._resolve(rules, prefix, key, pos, source)
        ascending = True
        token = self._next()
        if token.is_word("ASC", "DESC"):
            ascending = token.text.upper() == "ASC"
            token = self._next()
        if token.kind == _COMMA:
            self._fail(
                "unexpected ','",
                token.pos,
                "give one clause per order_by list item, as in ['metrics.a DESC', 'params.b']",
            )
        if token.kind != _EOF:
            self._fail(f"expected ASC, DESC or end of clause, found {token.describe()}", token.pos)
        return OrderKey(entity, key, ascending)

    def _resolve(
        self, rules: _OrderRules, prefix: str | None, key: str, pos: int, source: str
    ) -> tuple[Entity, str]:
        kind_name = self._kind.value.replace("_", " ")
        entity = Entity.ATTRIBUTE
        if prefix is not None:
            found = rules.prefixes.get(prefix)
            if found is None:
                valid = ", ".join(sorted(rules.prefixes))
                self._fail(
                    f"cannot order {kind_name} by '{_clip(source)}'",
                    pos,
                    f"valid entity prefixes: {valid}",
                )
            entity = found
        if key == "":
            self._fail(f"empty key in '{_clip(source)}'", pos)
        if entity in rules.any_key:
            return entity, key
        if key in rules.refused:
            self._fail(f"cannot order {kind_name} by '{_clip(key)}'", pos, rules.refused[key])
        if rules.elsewhere and key in rules.elsewhere:
            return rules.elsewhere[key]
        canonical = rules.attributes.get(key)
        if canonical is None:
            valid = ", ".join(sorted(rules.attributes))
            self._fail(
                f"cannot order {kind_name} by attribute '{_clip(key)}'",
                pos,
                f"valid attributes: {valid}",
            )
        return entity, canonical


# ---------------------------------------------------------------------------------------------
# Public API


def _as_kind(kind: SearchKind | str) -> SearchKind:
    try:
        return SearchKind(kind)
    except ValueError:
        valid = ", ".join(k.value for k in SearchKind)
        raise TrackyardError(
            f"Unknown search kind {kind!r}; expected one of {valid}",
            ErrorCode.INVALID_PARAMETER_VALUE,
        ) from None


def parse_filter(filter_string: str | None, kind: SearchKind = SearchKind.RUNS) -> Expr | None:
    """Parse a search filter into an :data:`~trackyard.search.ast.Expr`.

    The client parses each search once and stores receive the result (see
    :mod:`trackyard.search.request`). Filters of up to 4,096 characters are cached: a page
    loop or a dashboard repeats the same filter, and a cache hit costs about 1 µs against
    about 100 µs to parse a three-term filter.

    Args:
        filter_string: the filter, e.g. ``"metrics.acc > 0.9 AND params.lr = '0.1'"``.
        kind: which search the filter is for; it decides the valid keys and comparators.

    Returns:
        None for None, an empty or an all-whitespace filter. Otherwise a bare
        :class:`~trackyard.search.ast.Comparison` for a single comparison, or
        :class:`~trackyard.search.ast.And` / :class:`~trackyard.search.ast.Or` nodes whose
        nested nodes of the same type are flattened.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for any malformed filter, quoting the
            filter and naming the offending token and its character offset, e.g.
            ``Invalid filter "metrics.acc == 1": unsupported comparator '==' at character 12``.
    """
    if filter_string is None:
        return None
    if not isinstance(filter_string, str):
        raise TrackyardError(
            f"Invalid filter {filter_string!r}: a filter must be a string",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    kind = _as_kind(kind)
    if len(filter_string) > _MAX_CACHED:
        return _parse_filter_uncached(filter_string, kind)
    return _parse_filter_cached(filter_string, kind)


def _parse_filter_uncached(filter_string: str, kind: SearchKind) -> Expr | None:
    if not filter_string.strip():
        return None
    return _FilterParser(filter_string, kind).parse()


_parse_filter_cached = lru_cache(maxsize=1024)(_parse_filter_uncached)


def parse_order_by(
    order_by: Sequence[str] | None, kind: SearchKind = SearchKind.RUNS
) -> tuple[OrderKey, ...]:
    """Parse order_by clauses into the complete order a backend must apply.

    The result is the user's clauses followed by the kind's defaults and tie-breakers:

    - runs: ``start_time DESC`` unless start_time was given, then ``run_id ASC`` unless given
      (no order_by gives ``start_time DESC, run_id ASC``);
    - experiments: no order_by gives ``creation_time DESC, experiment_id ASC``; otherwise
      ``experiment_id ASC`` is appended unless given;
    - registered models: ``name ASC`` unless given (``timestamp`` and
      ``last_updated_timestamp`` both give the key ``last_updated_timestamp``);
    - model versions: no order_by gives ``last_updated_timestamp DESC, name ASC,
      version_number DESC`` (as MLflow 3.17.2 does); otherwise ``name ASC`` and
      ``version_number DESC`` are appended unless given;
    - prompts: as registered models;
    - logged models: ``creation_timestamp DESC`` unless given, then ``model_id ASC`` unless
      given.

    Results are cached as filters are (see :func:`parse_filter`).

    Args:
        order_by: a list of ``"<identifier> [ASC|DESC]"`` strings, one clause each, or None.
        kind: which search the clauses are for.

    Returns:
        The effective order, most significant key first.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for a malformed clause, a key the kind
            cannot be ordered by, or the same field given twice.
    """
    kind = _as_kind(kind)
    if order_by is None:
        return _parse_order_by_cached((), kind)
    if isinstance(order_by, (str, bytes)) or not isinstance(order_by, Sequence):
        raise TrackyardError(
            f"Invalid order_by {order_by!r}: expected a list of strings",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    clauses = tuple(order_by)
    for clause in clauses:
        if not isinstance(clause, str):
            raise TrackyardError(
                f"Invalid order_by clause {clause!r}: expected a string",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
    if sum(len(clause) for clause in clauses) > _MAX_CACHED:
        return _parse_order_by_uncached(clauses, kind)
    return _parse_order_by_cached(clauses, kind)


def _parse_order_by_uncached(clauses: tuple[str, ...], kind: SearchKind) -> tuple[OrderKey, ...]:
    keys: list[OrderKey] = []
    seen: dict[tuple[Entity, str], str] = {}
    for clause in clauses:
        key = _OrderParser(clause, kind).parse()
        field = (key.entity, key.key)
        if field in seen:
            shown = _clip(key.key)
            if key.entity is not Entity.ATTRIBUTE:
                shown = f"{_ENTITY_NOUN[key.entity]}.{shown}"
            raise TrackyardError(
                f'Invalid order_by clause "{_shorten(clause)}": {shown} is already ordered by '
                f'"{_shorten(seen[field])}"; each field may appear once',
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        seen[field] = clause
        keys.append(key)
    return complete_order(kind, keys)


_parse_order_by_cached = lru_cache(maxsize=256)(_parse_order_by_uncached)
