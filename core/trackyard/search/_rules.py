"""The building blocks of the search rule tables: comparator sets, value types, rule classes.

:mod:`trackyard.search.parser` holds the tables of runs, experiments and registry searches;
:mod:`trackyard.search._trace_rules` those of trace search.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trackyard.search.ast import Entity, Op

_STRING_OPS = frozenset({Op.EQ, Op.NE, Op.LIKE, Op.ILIKE})
_LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
_NUMERIC_OPS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
_NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})
_TRACE_STRING_OPS = _STRING_OPS | {Op.RLIKE}
_TRACE_TAG_OPS = _TRACE_STRING_OPS | _NULL_OPS
_OP_ORDER = (
    Op.EQ,
    Op.NE,
    Op.LT,
    Op.LE,
    Op.GT,
    Op.GE,
    Op.LIKE,
    Op.ILIKE,
    Op.IN,
    Op.NOT_IN,
    Op.IS_NULL,
    Op.IS_NOT_NULL,
    Op.RLIKE,
)
_SYMBOL_OPS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}

_STRING = "string"
_FLOAT = "float"
_INT = "int"


@dataclass(frozen=True, slots=True)
class _KeyRule:
    """What a key accepts: its canonical name, comparators and value type."""

    key: str
    ops: frozenset[Op]
    value_type: str
    entity: Entity | None = None  # set when the key is stored elsewhere (trace ``name``)


@dataclass(frozen=True, slots=True)
class _EntityRule:
    """The keys of one entity: either any key with one rule, or a fixed set of keys."""

    label: str
    any_key: tuple[frozenset[Op], str] | None = None
    keys: Mapping[str, _KeyRule] | None = None
    refused: Mapping[str, str] | None = None

    def lookup(self, key: str) -> _KeyRule | None:
        if self.any_key is not None:
            return _KeyRule(key, *self.any_key)
        assert self.keys is not None
        return self.keys.get(key)

    def valid_keys(self) -> list[str]:
        assert self.keys is not None
        return sorted({rule.key for rule in self.keys.values()})


@dataclass(frozen=True, slots=True)
class _FilterRules:
    prefixes: Mapping[str, Entity]
    entities: Mapping[Entity, _EntityRule]


@dataclass(frozen=True, slots=True)
class _OrderRules:
    prefixes: Mapping[str, Entity]
    any_key: frozenset[Entity]
    attributes: Mapping[str, str]
    refused: Mapping[str, str]
    elsewhere: Mapping[str, tuple[Entity, str]] | None = None  # attribute -> (entity, key)


def _keys(
    *rules: tuple[str, frozenset[Op], str] | _KeyRule, aliases: Mapping[str, str] | None = None
) -> dict[str, _KeyRule]:
    table = {
        rule.key if isinstance(rule, _KeyRule) else rule[0]: (
            rule if isinstance(rule, _KeyRule) else _KeyRule(*rule)
        )
        for rule in rules
    }
    for alias, target in (aliases or {}).items():
        table[alias] = table[target]
    return table
