"""Print the search AST back as filter text and order_by clauses.

:func:`format_filter` and :func:`format_order_by` are the inverse of
:func:`~trackyard.search.parse_filter` and :func:`~trackyard.search.parse_order_by`:
``parse_filter(format_filter(expr), kind) == expr`` for every expression the parser can
produce (character positions aside), and likewise for order keys. The text is MLflow's
spelling wherever MLflow has one, so a store that talks to an MLflow server can send it:

- identifiers: attributes bare (``start_time``), other keys after their plural prefix
  (``metrics.``, ``params.``, ``tags.``, ``datasets.``), bare when every dot-separated part
  is a plain identifier (``tags.mlflow.source.name``), else in backticks
  (```metrics.`val loss` ```), or in double quotes when the key holds a backtick;
- strings in single quotes, or in double quotes when the value holds a single quote (MLflow
  has no escape inside quotes); ``IN`` lists as ``('a', 'b')``;
- numbers as the shortest text that reads back as the same value: floats keep a decimal
  point or an exponent (``1.0``, ``-0.0``, ``1e-300``, ``1.7976931348623157e308``; never a
  ``+`` in the exponent, which MLflow refuses), integers are written out in full;
- ``AND`` and ``OR`` (a trackyard extension) with parentheses only around an ``OR`` inside
  an ``AND``.

What MLflow cannot express still prints, in trackyard's own syntax: a value holding both
quote characters is written with a doubled quote (``'it''s "x"'``), and a key holding a
backtick and a double quote with a doubled backtick. Pass ``for_mlflow=True`` to refuse
instead whatever MLflow 3.17.2 would reject or read differently (each rule was found by
having MLflow parse printed filters, tests/compat/test_mlflow_search_printer.py):

- ``OR`` and parentheses;
- a value holding both quote characters, or ending with a backslash (MLflow's tokenizer
  reads ``\\'`` and ``\\"`` as escaped quotes);
- a key holding a backtick and a double quote; a key with a backtick that ends with a
  backslash or is itself wrapped in backticks (MLflow strips them again);
- an ``IN`` item with a backslash or a line break (MLflow reads the list as Python literals);
- in order_by, a key with a double quote, a backtick or a backslash (MLflow reads clauses
  with shell quoting), or ending with white space (MLflow strips it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.ast import And, Comparison, Entity, Expr, Op, Or, OrderKey

__all__ = ["format_filter", "format_order_by"]

_PREFIX = {
    Entity.METRIC: "metrics.",
    Entity.PARAM: "params.",
    Entity.TAG: "tags.",
    Entity.DATASET: "datasets.",
    Entity.METADATA: "metadata.",
    Entity.SPAN: "span.",
    Entity.ATTRIBUTE: "",
}
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words that must not stand bare after a prefix: trackyard's keywords, and the words MLflow's
# tokenizer (sqlparse) reads as keywords wherever they appear.
_RESERVED = frozenset(
    {"AND", "OR", "NOT", "IN", "IS", "LIKE", "ILIKE", "RLIKE", "NULL", "ASC", "DESC"}
    | {"CASE", "VALUES", "USING", "FROM", "AS"}
)
# Characters MLflow's order_by reader turns into shell quoting (it reads backticks as `"`).
_SHELL_QUOTING = re.compile(r'["`\\]')
# Characters that change a string item of an IN list, which MLflow reads as a Python literal.
_PYTHON_ESCAPES = re.compile(r"[\\\r\n\x00]")


def format_filter(expr: Expr | None, *, for_mlflow: bool = False) -> str:
    """The filter text of ``expr`` (``""`` for None), as the module docstring describes.

    Args:
        expr: a parsed filter, or None for no filter.
        for_mlflow: refuse what MLflow 3.17.2 cannot read as meant, instead of writing it in
            trackyard's syntax.

    Returns:
        Text that :func:`~trackyard.search.parse_filter` reads back as ``expr``.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` with ``for_mlflow=True`` for what MLflow
            cannot express.
        ValueError: ``expr`` is not a well-formed filter (an empty ``And``, a NaN or
            infinite number, a value of the wrong type for its comparator).
    """
    if expr is None:
        return ""
    return _expr(expr, for_mlflow, inside_and=False)


def format_order_by(keys: Sequence[OrderKey], *, for_mlflow: bool = False) -> list[str]:
    """One ``"<identifier> ASC|DESC"`` clause per key, in order.

    Args:
        keys: order keys, e.g. a request's complete ``order_by``.
        for_mlflow: refuse keys MLflow 3.17.2 cannot read as meant (a key holding a double
            quote, a backtick or a backslash, which MLflow's order_by reader treats as shell
            quoting, or ending with white space, which it strips).

    Returns:
        Clauses that :func:`~trackyard.search.parse_order_by` reads back as ``keys`` (followed
        by the kind's defaults and tie-breakers, which a complete order already holds).

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` with ``for_mlflow=True`` for such keys.
    """
    clauses = []
    for key in keys:
        if for_mlflow and (_SHELL_QUOTING.search(key.key) or key.key != key.key.rstrip()):
            raise _not_for_mlflow(
                f"the order_by key {key.key!r} holds a quote character MLflow's order_by reader "
                "treats as shell quoting (a double quote, a backtick or a backslash), or ends "
                "with white space, which it strips"
            )
        direction = "ASC" if key.ascending else "DESC"
        clauses.append(f"{_identifier(key.entity, key.key, for_mlflow)} {direction}")
    return clauses


# -- expressions --------------------------------------------------------------------------------
def _expr(expr: Expr, for_mlflow: bool, *, inside_and: bool) -> str:
    if isinstance(expr, Comparison):
        return _comparison(expr, for_mlflow)
    if isinstance(expr, And):
        items = _items(expr)
        return " AND ".join(_expr(item, for_mlflow, inside_and=True) for item in items)
    if isinstance(expr, Or):
        items = _items(expr)
        if for_mlflow:
            raise _not_for_mlflow("MLflow filters cannot use OR")
        text = " OR ".join(_expr(item, for_mlflow, inside_and=False) for item in items)
        return f"({text})" if inside_and and len(items) > 1 else text
    raise ValueError(f"{expr!r} is not a filter expression")


def _items(expr: And | Or) -> tuple[Expr, ...]:
    if not expr.items:
        raise ValueError(f"An empty {type(expr).__name__} has no filter text")
    return expr.items


def _comparison(c: Comparison, for_mlflow: bool) -> str:
    ident = _identifier(c.entity, c.key, for_mlflow)
    op, value = c.op, c.value
    if op in (Op.IS_NULL, Op.IS_NOT_NULL):
        return f"{ident} {op.value}"
    if op in (Op.IN, Op.NOT_IN):
        if not isinstance(value, tuple) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{op.value} needs a non-empty tuple of strings, got {value!r}")
        if for_mlflow:
            for item in value:
                if _PYTHON_ESCAPES.search(item):
                    raise _not_for_mlflow(
                        f"the {op.value} item {item!r} holds a backslash or a line break"
                    )
        listed = ", ".join(_string(item, for_mlflow) for item in value)
        return f"{ident} {op.value} ({listed})"
    return f"{ident} {op.value} {_value(value, for_mlflow)}"


def _value(value: object, for_mlflow: bool) -> str:
    if isinstance(value, str):
        return _string(value, for_mlflow)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a filter value")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    raise ValueError(f"{value!r} is not a filter value")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} has no filter text")
    text = repr(value)  # the shortest text that reads back as the same float
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{exponent.lstrip('+')}" if e else text


def _string(value: str, for_mlflow: bool) -> str:
    if for_mlflow and value.endswith("\\"):
        raise _not_for_mlflow(
            f"the value {value!r} ends with a backslash, which MLflow reads as escaping the "
            "closing quote"
        )
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    if for_mlflow:
        raise _not_for_mlflow(f"the value {value!r} holds both quote characters")
    return "'" + value.replace("'", "''") + "'"


# -- identifiers --------------------------------------------------------------------------------
def _identifier(entity: Entity, key: str, for_mlflow: bool) -> str:
    prefix = _PREFIX[entity]
    if not key:
        raise ValueError("An empty key has no filter text")
    if _bare(key, dotted=bool(prefix)):
        return prefix + key
    return prefix + _quoted_key(key, for_mlflow)


def _bare(key: str, *, dotted: bool) -> bool:
    parts = key.split(".") if dotted else [key]
    return all(_PLAIN.fullmatch(part) and part.upper() not in _RESERVED for part in parts)


def _quoted_key(key: str, for_mlflow: bool) -> str:
    if "`" not in key:
        return f"`{key}`"
    if '"' not in key:
        if for_mlflow and (key.endswith("\\") or (len(key) > 1 and key[0] == key[-1] == "`")):
            raise _not_for_mlflow(
                f"the key {key!r} needs double quotes, which MLflow reads differently for a "
                "key that ends with a backslash or is wrapped in backticks"
            )
        return f'"{key}"'
    if for_mlflow:
        raise _not_for_mlflow(f"the key {key!r} holds a backtick and a double quote")
    return "`" + key.replace("`", "``") + "`"


def _not_for_mlflow(detail: str) -> TrackyardError:
    return TrackyardError(
        f"Cannot write this search for an MLflow server: {detail}",
        ErrorCode.INVALID_PARAMETER_VALUE,
    )
