"""MLflow's JSON wire format: entities to proto-JSON dicts, and the JSON response.

MLflow's server answers with protobuf messages printed as JSON (snake_case names, ids as
strings, int64 as numbers, enums as names, NaN and infinities as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``). Fields that are unset are left out; a field set to an
empty string is kept (proto2 semantics: ``"user_id": ""``). Empty repeated fields are left
out, so a search without hits is ``{}``. The server's own bookkeeping tag
(``trackyard.idempotencyKey`` on runs and experiments created with an ``Idempotency-Key``)
is left out of answers: clients see the tags they wrote, as from MLflow's server.

The encoders here are plain functions over trackyard entities: no per-object pydantic cost
on hot paths (a run with thousands of metrics, a page of 1,000 runs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response

from trackyard.entities import Experiment, Metric, Run, RunInfo
from trackyard.entities.model_registry import ModelVersion, RegisteredModel
from trackyard_rest.server.idempotency import TAG as _IDEMPOTENCY_TAG

_orjson: Any
try:
    import orjson as _orjson
except ModuleNotFoundError:  # pragma: no cover - the server extra installs it
    _orjson = None

__all__ = [
    "EMPTY",
    "empty_response",
    "experiment_json",
    "json_response",
    "metric_json",
    "model_version_json",
    "number",
    "page",
    "registered_model_json",
    "run_info_json",
    "run_json",
    "runs_response",
    "tags_json",
]


#: The ``{}`` answer of writes that return nothing.
EMPTY = b"{}"


def json_response(payload: Mapping[str, Any], status_code: int = 200) -> Response:
    """A JSON response of ``payload`` (compact; NaN must already be a string)."""
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return Response(body, status_code=status_code, media_type="application/json")


def runs_response(payload: Mapping[str, Any]) -> Response:
    """:func:`json_response` for answers made of :func:`run_json` messages (searches).

    A search of runs with many metrics prints tens of thousands of small objects; orjson
    (the ``server`` extra installs it) does that ~8x faster than :mod:`json`. Such payloads
    print doubles through :func:`number` (no bare NaN to refuse); anything orjson cannot
    print (an integer beyond 64 bits) falls back to :func:`json_response`.
    """
    if _orjson is not None:
        try:
            return Response(_orjson.dumps(payload), media_type="application/json")
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json_response(payload)


def empty_response() -> Response:
    """The ``{}`` answer."""
    return Response(EMPTY, media_type="application/json")


def number(value: float) -> float | str:
    """A double as proto JSON prints it: finite numbers as numbers, else a string."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        d[key] = value


def tags_json(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A tag dict as MLflow's repeated ``{key, value}`` messages."""
    return [{"key": k, "value": v} for k, v in tags.items()]


def _user_tags(tags: Mapping[str, str]) -> Mapping[str, str]:
    """``tags`` without the server's idempotency bookkeeping tag."""
    if _IDEMPOTENCY_TAG not in tags:
        return tags
    return {k: v for k, v in tags.items() if k != _IDEMPOTENCY_TAG}


def experiment_json(exp: Experiment) -> dict[str, Any]:
    """An Experiment message."""
    d: dict[str, Any] = {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
    }
    _put(d, "last_update_time", exp.last_update_time)
    _put(d, "creation_time", exp.creation_time)
    tags = _user_tags(exp.tags)
    if tags:
        d["tags"] = tags_json(tags)
    return d


def run_info_json(info: RunInfo) -> dict[str, Any]:
    """A RunInfo message (with both ``run_id`` and the deprecated ``run_uuid``)."""
    d: dict[str, Any] = {"run_uuid": info.run_id, "experiment_id": info.experiment_id}
    _put(d, "run_name", info.run_name)
    d["user_id"] = info.user_id or ""
    d["status"] = info.status
    _put(d, "start_time", info.start_time)
    _put(d, "end_time", info.end_time)
    _put(d, "artifact_uri", info.artifact_uri)
    d["lifecycle_stage"] = info.lifecycle_stage
    d["run_id"] = info.run_id
    return d


def metric_json(m: Metric) -> dict[str, Any]:
    """A Metric message."""
    d: dict[str, Any] = {
        "key": m.key,
        "value": number(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    _put(d, "dataset_name", m.dataset_name)
    _put(d, "dataset_digest", m.dataset_digest)
    _put(d, "model_id", m.model_id)
    return d


def _inputs_json(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {}
    datasets = []
    for di in run.inputs.dataset_inputs:
        ds = di.dataset
        dd: dict[str, Any] = {
            "name": ds.name,
            "digest": ds.digest,
            "source_type": ds.source_type,
            "source": ds.source,
        }
        _put(dd, "schema", ds.schema)
        _put(dd, "profile", ds.profile)
        item: dict[str, Any] = {"dataset": dd}
        if di.tags:
            item["tags"] = [{"key": t.key, "value": t.value} for t in di.tags]
        datasets.append(item)
    if datasets:
        out["dataset_inputs"] = datasets
    models = [{"model_id": m.model_id} for m in run.inputs.model_inputs]
    if models:
        out["model_inputs"] = models
    return out


def run_json(run: Run, *, outputs: bool = True) -> dict[str, Any]:
    """A Run message: info, data (metrics, params, tags), inputs and outputs."""
    data: dict[str, Any] = {}
    rows = run.data.metric_rows
    if rows:
        data["metrics"] = [
            # v - v is 0.0 for a finite value (the common case, one test), NaN otherwise
            {"key": k, "value": v if v - v == 0.0 else number(v), "timestamp": t, "step": s}
            for k, v, t, s in rows
        ]
    if run.data.params:
        data["params"] = tags_json(run.data.params)
    tags = _user_tags(run.data.tags)
    if tags:
        data["tags"] = tags_json(tags)
    d: dict[str, Any] = {"info": run_info_json(run.info), "data": data}
    d["inputs"] = _inputs_json(run)
    if outputs:
        models = [{"model_id": m.model_id, "step": m.step} for m in run.outputs.model_outputs]
        d["outputs"] = {"model_outputs": models} if models else {}
    return d


def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    """A ModelVersion message."""
    d: dict[str, Any] = {"name": mv.name, "version": str(mv.version)}
    _put(d, "creation_timestamp", mv.creation_timestamp)
    _put(d, "last_updated_timestamp", mv.last_updated_timestamp)
    _put(d, "user_id", mv.user_id)
    d["current_stage"] = mv.current_stage
    d["description"] = mv.description or ""
    _put(d, "source", mv.source)
    _put(d, "run_id", mv.run_id)
    d["status"] = mv.status
    _put(d, "status_message", mv.status_message)
    if mv.tags:
        d["tags"] = tags_json(mv.tags)
    d["run_link"] = mv.run_link or ""
    if mv.aliases:
        d["aliases"] = list(mv.aliases)
    _put(d, "model_id", mv.model_id)
    return d


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    """A RegisteredModel message."""
    d: dict[str, Any] = {"name": rm.name}
    _put(d, "creation_timestamp", rm.creation_timestamp)
    _put(d, "last_updated_timestamp", rm.last_updated_timestamp)
    _put(d, "description", rm.description)
    if rm.latest_versions:
        d["latest_versions"] = [model_version_json(v) for v in rm.latest_versions]
    if rm.tags:
        d["tags"] = tags_json(rm.tags)
    if rm.aliases:
        d["aliases"] = [{"alias": a, "version": str(v)} for a, v in rm.aliases.items()]
    _put(d, "deployment_job_id", rm.deployment_job_id)
    return d


def page(key: str, items: Iterable[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """A search answer: ``{key: [...], next_page_token}``, each left out when empty."""
    d: dict[str, Any] = {}
    listed = list(items)
    if listed:
        d[key] = listed
    if token:
        d["next_page_token"] = token
    return d
