"""The rule tables of trace search (MLflow's ``SearchTraceUtils`` grammar).

``name``, ``run_id`` and ``prompt`` are attributes in MLflow's grammar but are kept as the tag
``mlflow.traceName``, the metadata ``mlflow.sourceRun`` and the tag ``mlflow.linkedPrompts``:
the parser turns them into those (:data:`TRACE_KEY_HOMES`), so stores see one spelling.
"""

from __future__ import annotations

from collections.abc import Mapping

from trackyard.search._rules import (
    _INT,
    _LIST_OPS,
    _NUMERIC_OPS,
    _STRING,
    _TRACE_STRING_OPS,
    _TRACE_TAG_OPS,
    _EntityRule,
    _FilterRules,
    _KeyRule,
    _keys,
    _OrderRules,
)
from trackyard.search.ast import Entity

__all__ = ["TRACE_FILTER_RULES", "TRACE_KEY_HOMES", "TRACE_ORDER_RULES"]

#: where trace search keys named as attributes are kept: key -> (entity, key)
TRACE_KEY_HOMES: Mapping[str, tuple[Entity, str]] = {
    "name": (Entity.TAG, "mlflow.traceName"),
    "run_id": (Entity.METADATA, "mlflow.sourceRun"),
    "prompt": (Entity.TAG, "mlflow.linkedPrompts"),
}

TRACE_FILTER_RULES = _FilterRules(
    prefixes={
        **dict.fromkeys(("attribute", "attributes", "trace"), Entity.ATTRIBUTE),
        **dict.fromkeys(("tag", "tags"), Entity.TAG),
        **dict.fromkeys(("metadata", "request_metadata"), Entity.METADATA),
        "span": Entity.SPAN,
    },
    entities={
        Entity.ATTRIBUTE: _EntityRule(
            "attribute",
            keys=_keys(
                ("request_id", _TRACE_STRING_OPS | _LIST_OPS, _STRING),
                ("client_request_id", _TRACE_STRING_OPS | _LIST_OPS, _STRING),
                ("status", _TRACE_STRING_OPS | _LIST_OPS, _STRING),
                ("timestamp_ms", _NUMERIC_OPS, _INT),
                ("execution_time_ms", _NUMERIC_OPS, _INT),
                ("end_time_ms", _NUMERIC_OPS, _INT),
                _KeyRule("name", _TRACE_TAG_OPS | _LIST_OPS, _STRING, Entity.TAG),
                _KeyRule("run_id", _TRACE_TAG_OPS | _LIST_OPS, _STRING, Entity.METADATA),
                _KeyRule("prompt", _TRACE_TAG_OPS | _LIST_OPS, _STRING, Entity.TAG),
                aliases={
                    "timestamp": "timestamp_ms",
                    "execution_time": "execution_time_ms",
                    "end_time": "end_time_ms",
                    "trace_id": "request_id",
                },
            ),
            refused={"text": "full-text search of span content is not supported"},
        ),
        Entity.TAG: _EntityRule("tag", any_key=(_TRACE_TAG_OPS | _LIST_OPS, _STRING)),
        Entity.METADATA: _EntityRule("metadata", any_key=(_TRACE_TAG_OPS | _LIST_OPS, _STRING)),
        Entity.SPAN: _EntityRule(
            "span field",
            keys=_keys(
                ("name", _TRACE_STRING_OPS | _LIST_OPS, _STRING),
                ("type", _TRACE_STRING_OPS | _LIST_OPS, _STRING),
                ("status", _TRACE_STRING_OPS | _LIST_OPS, _STRING),
            ),
        ),
    },
)

TRACE_ORDER_RULES = _OrderRules(
    prefixes={
        **dict.fromkeys(("attribute", "attributes", "trace"), Entity.ATTRIBUTE),
        **dict.fromkeys(("tag", "tags"), Entity.TAG),
        **dict.fromkeys(("metadata", "request_metadata"), Entity.METADATA),
    },
    any_key=frozenset({Entity.TAG, Entity.METADATA}),
    attributes={
        **{
            name: name
            for name in (
                "experiment_id",
                "timestamp_ms",
                "execution_time_ms",
                "end_time_ms",
                "status",
                "request_id",
            )
        },
        "timestamp": "timestamp_ms",
        "execution_time": "execution_time_ms",
        "end_time": "end_time_ms",
    },
    refused={},
    elsewhere={k: v for k, v in TRACE_KEY_HOMES.items() if k != "prompt"},
)
