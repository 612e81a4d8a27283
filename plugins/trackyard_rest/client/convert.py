"""MLflow REST JSON <-> trackyard entities (section 7.1 of the wire format).

MLflow's server writes proto JSON: snake_case names, ids as strings, int64 as numbers,
enums as names, unset fields left out, and NaN / infinities as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``. These functions read such bodies leniently (a missing
field is the entity's default) and write request bodies the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from trackyard.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
)
from trackyard.entities.model_registry import ModelVersion, RegisteredModel

__all__ = [
    "dataset_input_json",
    "experiment",
    "float_json",
    "float_value",
    "key_values",
    "metric",
    "metric_json",
    "model_version",
    "registered_model",
    "run",
    "run_info",
    "tag_map",
]

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_value(value: Any) -> float:
    """A proto JSON double: a number or one of ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if isinstance(value, str):
        special = _SPECIAL.get(value)
        return special if special is not None else float(value)
    return float(value)


def float_json(value: float) -> float | str:
    """A double as proto JSON writes it (strings for NaN and infinities)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def key_values(items: Iterable[Any]) -> list[dict[str, str]]:
    """``[{"key", "value"}]`` from tag-like objects (anything with ``key`` and ``value``)."""
    return [{"key": t.key, "value": t.value} for t in items]


def tag_map(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """``{key: value}`` from ``[{"key", "value"}]`` (a missing value is ``""``)."""
    return {t["key"]: t.get("value", "") for t in items or ()}


def experiment(d: Mapping[str, Any]) -> Experiment:
    """An :class:`Experiment` from its JSON."""
    return Experiment(
        experiment_id=str(d["experiment_id"]),
        name=d.get("name", ""),
        artifact_location=d.get("artifact_location", ""),
        lifecycle_stage=d.get("lifecycle_stage", "active"),
        tags=tag_map(d.get("tags")),
        creation_time=_int(d.get("creation_time")),
        last_update_time=_int(d.get("last_update_time")),
    )


def run_info(d: Mapping[str, Any]) -> RunInfo:
    """A :class:`RunInfo` from its JSON (``run_uuid`` read when ``run_id`` is absent)."""
    return RunInfo(
        run_id=d.get("run_id") or d["run_uuid"],
        experiment_id=str(d.get("experiment_id", "")),
        user_id=d.get("user_id", ""),
        status=d.get("status", "RUNNING"),
        start_time=_int(d.get("start_time")),
        end_time=_int(d.get("end_time")),
        lifecycle_stage=d.get("lifecycle_stage", "active"),
        artifact_uri=d.get("artifact_uri"),
        run_name=d.get("run_name"),
    )


def metric(d: Mapping[str, Any], run_id: str | None = None) -> Metric:
    """A :class:`Metric` from its JSON."""
    return Metric(
        key=d["key"],
        value=float_value(d.get("value", 0.0)),
        timestamp=int(d.get("timestamp", 0)),
        step=int(d.get("step", 0)),
        model_id=d.get("model_id") or None,
        dataset_name=d.get("dataset_name") or None,
        dataset_digest=d.get("dataset_digest") or None,
        run_id=run_id if run_id is not None else d.get("run_id") or None,
    )


def metric_json(m: Metric) -> dict[str, Any]:
    """A metric as a ``runs/log-batch`` item (or ``runs/log-metric`` body without run_id)."""
    d: dict[str, Any] = {
        "key": m.key,
        "value": float_json(float(m.value)),
        "timestamp": int(m.timestamp),
        "step": int(m.step),
    }
    if m.model_id:
        d["model_id"] = m.model_id
    if m.dataset_name:
        d["dataset_name"] = m.dataset_name
    if m.dataset_digest:
        d["dataset_digest"] = m.dataset_digest
    return d


def _inputs(d: Mapping[str, Any] | None) -> RunInputs:
    if not d:
        return RunInputs()
    datasets = []
    for item in d.get("dataset_inputs", ()):
        ds = item.get("dataset", {})
        datasets.append(
            DatasetInput(
                dataset=Dataset(
                    name=ds.get("name", ""),
                    digest=ds.get("digest", ""),
                    source_type=ds.get("source_type", ""),
                    source=ds.get("source", ""),
                    schema=ds.get("schema"),
                    profile=ds.get("profile"),
                ),
                tags=tuple(InputTag(t["key"], t.get("value", "")) for t in item.get("tags", ())),
            )
        )
    models = tuple(LoggedModelInput(m["model_id"]) for m in d.get("model_inputs", ()))
    return RunInputs(dataset_inputs=tuple(datasets), model_inputs=models)


def _outputs(d: Mapping[str, Any] | None) -> RunOutputs:
    if not d:
        return RunOutputs()
    return RunOutputs(
        model_outputs=tuple(
            LoggedModelOutput(m["model_id"], int(m.get("step", 0)))
            for m in d.get("model_outputs", ())
        )
    )


def run(d: Mapping[str, Any]) -> Run:
    """A :class:`Run` (info, latest metrics, params, tags, inputs, outputs) from its JSON."""
    data = d.get("data") or {}
    info = run_info(d["info"])
    return Run(
        info=info,
        data=RunData(
            metrics=[metric(m) for m in data.get("metrics", ())],
            params=[Param(p["key"], p.get("value", "")) for p in data.get("params", ())],
            tags=[RunTag(t["key"], t.get("value", "")) for t in data.get("tags", ())],
        ),
        inputs=_inputs(d.get("inputs")),
        outputs=_outputs(d.get("outputs")),
    )


def dataset_input_json(item: DatasetInput) -> dict[str, Any]:
    """A dataset input as a ``runs/log-inputs`` item."""
    ds = item.dataset
    dataset: dict[str, Any] = {
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
    }
    if ds.schema is not None:
        dataset["schema"] = ds.schema
    if ds.profile is not None:
        dataset["profile"] = ds.profile
    return {"tags": key_values(item.tags), "dataset": dataset}


def model_version(d: Mapping[str, Any]) -> ModelVersion:
    """A :class:`ModelVersion` from its JSON."""
    return ModelVersion(
        name=d["name"],
        version=str(d["version"]),
        creation_timestamp=_int(d.get("creation_timestamp")),
        last_updated_timestamp=_int(d.get("last_updated_timestamp")),
        description=d.get("description"),
        user_id=d.get("user_id"),
        current_stage=d.get("current_stage", "None"),
        source=d.get("source"),
        run_id=d.get("run_id") or None,
        status=d.get("status", "READY"),
        status_message=d.get("status_message"),
        tags=tag_map(d.get("tags")),
        run_link=d.get("run_link") or None,
        aliases=list(d.get("aliases", ())),
        model_id=d.get("model_id") or None,
    )


def registered_model(d: Mapping[str, Any]) -> RegisteredModel:
    """A :class:`RegisteredModel` from its JSON."""
    return RegisteredModel(
        name=d["name"],
        creation_timestamp=_int(d.get("creation_timestamp")),
        last_updated_timestamp=_int(d.get("last_updated_timestamp")),
        description=d.get("description"),
        latest_versions=[model_version(v) for v in d.get("latest_versions", ())],
        tags=tag_map(d.get("tags")),
        aliases={a["alias"]: str(a["version"]) for a in d.get("aliases", ())},
        deployment_job_id=d.get("deployment_job_id") or None,
    )
