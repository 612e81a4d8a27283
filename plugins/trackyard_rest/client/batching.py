"""Split a ``log_batch`` into ``runs/log-batch`` requests that MLflow's server accepts.

MLflow's limits per request (reference section 3.1): at most 1000 metrics, 100 params,
100 tags and 1000 entities in all, and a JSON body of at most 1,000,000 bytes.

What is guaranteed: a batch within those limits goes in one request, which MLflow's SQL
store writes in one transaction (all or nothing). A bigger batch becomes several requests,
sent in order (params first, then tags, then metrics, each kind in the caller's order); the
first refused request stops the rest, but the requests before it stay written. Params go
first so that the usual refusal (a param re-logged with another value) happens before any
metric is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from trackyard.entities import Metric, Param, RunTag
from trackyard_rest.client.convert import key_values, metric_json

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ENTITIES",
    "MAX_METRICS",
    "MAX_PARAMS",
    "MAX_TAGS",
    "batch_bodies",
    "split_batch",
]

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
MAX_BODY_BYTES = 1_000_000


def split_batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> list[tuple[list[Metric], list[Param], list[RunTag]]]:
    """Group the items into requests within the count limits (params, tags, then metrics).

    Each group is filled as far as the limits allow before the next starts, so a batch that
    fits in one request stays one request.
    """
    groups: list[tuple[list[Metric], list[Param], list[RunTag]]] = []
    current: tuple[list[Metric], list[Param], list[RunTag]] = ([], [], [])

    def room(kind: int) -> bool:
        total = sum(len(part) for part in current)
        limit = (MAX_METRICS, MAX_PARAMS, MAX_TAGS)[kind]
        return total < MAX_ENTITIES and len(current[kind]) < limit

    for kind, items in ((1, params), (2, tags), (0, metrics)):
        for item in items:
            if not room(kind):
                groups.append(current)
                current = ([], [], [])
            current[kind].append(item)  # type: ignore[arg-type]
    if any(current) or not groups:
        groups.append(current)
    return groups


def _body(run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]) -> bytes:
    payload: dict[str, Any] = {"run_id": run_id}
    if metrics:
        payload["metrics"] = [metric_json(m) for m in metrics]
    if params:
        payload["params"] = key_values(params)
    if tags:
        payload["tags"] = key_values(tags)
    return json.dumps(payload, allow_nan=False).encode("utf-8")


def batch_bodies(
    run_id: str,
    metrics: Sequence[Metric],
    params: Sequence[Param],
    tags: Sequence[RunTag],
    max_body: int = MAX_BODY_BYTES,
) -> list[bytes]:
    """The JSON bodies of the ``runs/log-batch`` requests for one ``log_batch``, in order.

    A group whose body is over ``max_body`` bytes (long tag or param values) is halved until
    every body fits; a single item that is too big on its own is sent alone (the server then
    says what is wrong with it).
    """
    bodies: list[bytes] = []

    def add(m: list[Metric], p: list[Param], t: list[RunTag]) -> None:
        body = _body(run_id, m, p, t)
        items = len(m) + len(p) + len(t)
        if len(body) <= max_body or items <= 1:
            bodies.append(body)
            return
        flat: list[tuple[int, Any]] = (
            [(1, x) for x in p] + [(2, x) for x in t] + [(0, x) for x in m]
        )
        half = items // 2
        for part in (flat[:half], flat[half:]):
            add(
                [x for k, x in part if k == 0],
                [x for k, x in part if k == 1],
                [x for k, x in part if k == 2],
            )

    for m, p, t in split_batch(metrics, params, tags):
        add(m, p, t)
    return bodies
