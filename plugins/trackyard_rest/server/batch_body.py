"""The ``runs/log-batch`` request body, read without pydantic when it is in its plain form.

A 500-metric batch validated through pydantic models cost the server more CPU than
anything else in the request (a third of a worker's time under load). Nearly every client
sends the plain JSON form: ``key`` a string, ``value`` a JSON number, ``timestamp`` and
``step`` JSON integers, params and tags as string pairs. :func:`read_plain` builds the
entities of such a body directly; a body in any other form (numbers as strings, ``"NaN"``,
a wrong type, a missing field) gets ``None`` and goes through the pydantic model, so its
values are coerced, and its errors worded, exactly as before. For a plain body both
paths give the same entities (``tests/unit/test_rest_batch_body.py`` checks them side by
side).
"""

from __future__ import annotations

from typing import Any

from trackyard.entities import Metric, Param, RunTag

__all__ = ["PlainBatch", "read_plain"]

#: ``(run id or None, metrics, params, tags)``.
PlainBatch = tuple[str | None, list[Metric], list[Param], list[RunTag]]


def _text_or_none(value: object) -> bool:
    return value is None or type(value) is str


def _metrics(items: object) -> list[Metric] | None:
    if items is None:
        return []
    if type(items) is not list:
        return None
    out: list[Metric] = []
    append = out.append
    for item in items:
        if type(item) is not dict:
            return None
        key = item.get("key")
        value: Any = item.get("value")
        ts = item.get("timestamp")
        step = item.get("step", 0)
        if type(key) is not str or type(ts) is not int:
            return None
        kind = type(value)
        if kind is int:
            try:
                value = float(value)
            except OverflowError:
                return None
        elif kind is not float:
            return None
        if step is None:
            step = 0
        elif type(step) is not int:
            return None
        model_id = item.get("model_id")
        name = item.get("dataset_name")
        digest = item.get("dataset_digest")
        if model_id is None and name is None and digest is None:
            append(Metric(key, value, ts, step))
        elif _text_or_none(model_id) and _text_or_none(name) and _text_or_none(digest):
            append(Metric(key, value, ts, step, model_id, name, digest))
        else:
            return None
    return out


def _pairs(items: object) -> list[tuple[str, str]] | None:
    if items is None:
        return []
    if type(items) is not list:
        return None
    out: list[tuple[str, str]] = []
    for item in items:
        if type(item) is not dict:
            return None
        key = item.get("key")
        value = item.get("value")
        if type(key) is not str or not _text_or_none(value):
            return None
        out.append((key, "" if value is None else value))
    return out


def read_plain(body: Any) -> PlainBatch | None:
    """The run id and entities of a log-batch body in its plain form, else None.

    The run id is ``run_id``, else the deprecated ``run_uuid`` (None when both are absent
    or empty: the caller answers MLflow's missing-parameter error). Unknown fields are
    ignored, as everywhere in MLflow's API.
    """
    if type(body) is not dict:
        return None
    run_id = body.get("run_id")
    run_uuid = body.get("run_uuid")
    if not (_text_or_none(run_id) and _text_or_none(run_uuid)):
        return None
    metrics = _metrics(body.get("metrics"))
    if metrics is None:
        return None
    params = _pairs(body.get("params"))
    tags = _pairs(body.get("tags"))
    if params is None or tags is None:
        return None
    return (
        run_id or run_uuid or None,
        metrics,
        [Param(k, v) for k, v in params],
        [RunTag(k, v) for k, v in tags],
    )
