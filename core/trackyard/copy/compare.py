"""A store's whole content as one normalized structure, to compare two stores.

``dump_store(a) == dump_store(b)`` is what "lossless" means for :func:`trackyard.copy_store`.
Left out, because they name the store rather than the data: artifact locations and run
artifact URIs (artifact *files* are compared by path and content hash instead; version
sources under a run's folder are written relative to the run), and the creation and update
times of the ``Default`` experiment, which every store makes for itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from typing import Any

from trackyard.copy._artifacts import list_files
from trackyard.copy._plan import Endpoint

__all__ = ["dump_store"]


def _value(v: float) -> Any:
    return "nan" if v != v else v


def _artifacts(uri: str | None, tracking_uri: str) -> dict[str, str]:
    from trackyard.backends import get_artifact_repository

    files = list_files(uri, tracking_uri)
    if not files or not uri:
        return {}
    repo = get_artifact_repository(uri, tracking_uri)
    hashes = {}
    with tempfile.TemporaryDirectory(prefix="trackyard-dump-") as tmp:
        for path in sorted(files):
            local = repo.download_artifacts(path, tmp)
            with open(local, "rb") as fh:
                hashes[path] = hashlib.sha256(fh.read()).hexdigest()
            os.remove(local)
    return hashes


def dump_store(
    uri: str, *, artifacts: bool = True, registry: bool = True, experiment_ids: bool = True
) -> dict[str, Any]:
    """Everything ``uri`` holds, normalized: experiments (by name), runs (by id) with every
    metric point, traces (by id) with their spans, logged models (by id) with their points,
    registered models and prompts with
    versions and aliases. Traces come with their spans and assessments (by id), without the
    tags and metadata a store writes about itself (where its spans and trace artifacts live).

    Args:
        uri: the store.
        artifacts: include artifact files (path -> sha256) per run.
        registry: include the model registry.
        experiment_ids: include experiment ids (off to compare with a store that had to
            give experiments new ids).
    """
    from trackyard.copy._models import source_models
    from trackyard.copy._registry import read_registry
    from trackyard.copy._traces import source_traces
    from trackyard.copy._tracking import TrackingCopier

    end = Endpoint.open(uri)
    store = end.tracking
    copier = TrackingCopier(end, end, None, None, None, include_artifacts=False)  # type: ignore[arg-type]
    experiments: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    traces: dict[str, Any] = {}
    logged_models: dict[str, Any] = {}
    folders: dict[str, str] = {}
    for exp in copier.experiments(None, None):
        entry: dict[str, Any] = {
            "lifecycle_stage": exp.lifecycle_stage,
            "tags": dict(sorted(exp.tags.items())),
        }
        if exp.name != "Default":
            entry["creation_time"] = exp.creation_time
            entry["last_update_time"] = exp.last_update_time
        if experiment_ids:
            entry["experiment_id"] = exp.experiment_id
        experiments[exp.name] = entry
        if store.capabilities.traces and exp.lifecycle_stage == "active":
            for trace in source_traces(store, exp.experiment_id):
                traces[trace.info.trace_id] = _trace(trace, exp.name, experiment_ids)
        if store.capabilities.logged_models and exp.lifecycle_stage == "active":
            for logged in source_models(store, exp.experiment_id):
                entry = logged.to_dictionary()
                entry.pop("artifact_location")
                entry["experiment_id"] = exp.name
                entry["metrics"] = sorted(entry["metrics"], key=repr)
                logged_models[logged.model_id] = entry
        for run in copier.source_runs(exp.experiment_id):
            info = dataclasses.asdict(run.info)
            info.pop("artifact_uri")
            info["experiment"] = exp.name
            if not experiment_ids:
                info.pop("experiment_id")
            points: dict[str, list[Any]] = {}
            for m in store.read_metric_points(run.info.run_id, sorted(run.data.metrics)):
                points.setdefault(m.key, []).append((m.timestamp, m.step, _value(m.value)))
            runs[run.info.run_id] = {
                "info": info,
                "params": dict(sorted(run.data.params.items())),
                "tags": dict(sorted(run.data.tags.items())),
                "metrics": {k: sorted(v, key=repr) for k, v in sorted(points.items())},
                "latest": {
                    m.key: (m.timestamp, m.step, _value(m.value)) for m in run.data.metric_objects
                },
                "dataset_inputs": sorted(repr(i) for i in run.inputs.dataset_inputs),
                "artifacts": _artifacts(run.info.artifact_uri, uri) if artifacts else None,
            }
            if run.info.artifact_uri:
                folders[run.info.artifact_uri.rstrip("/").rsplit("/", 1)[0]] = run.info.run_id
    models: dict[str, Any] = {}
    if registry and end.registry is not None:
        for model, versions in read_registry(end.registry):
            entry = dataclasses.asdict(model)
            entry.pop("latest_versions")
            entry["versions"] = [_version(v, folders) for v in versions]
            models[model.name] = entry
    return {
        "experiments": experiments,
        "runs": runs,
        "traces": traces,
        "logged_models": logged_models,
        "models": models,
    }


def _trace(trace: Any, experiment: str, experiment_ids: bool) -> dict[str, Any]:
    from trackyard.copy._traces import portable_info
    from trackyard.entities.trace import SpanAttributeKey

    spans = []
    for span in sorted(trace.data.spans, key=lambda s: s.span_id):
        entry = span.to_dict()
        if not experiment_ids:
            entry["attributes"].pop(SpanAttributeKey.EXPERIMENT_ID, None)
        spans.append(entry)
    assessments = [
        a.to_dictionary() for a in sorted(trace.info.assessments, key=lambda a: a.assessment_id)
    ]
    return {
        "info": portable_info(trace.info, experiment).to_dict(),
        "spans": spans,
        "assessments": assessments,
    }


def _version(version: Any, folders: dict[str, str]) -> dict[str, Any]:
    entry = dataclasses.asdict(version)
    entry["aliases"] = sorted(entry["aliases"])
    for field in ("source", "storage_location"):
        value = entry.get(field)
        if not value:
            continue
        for folder, run_id in folders.items():
            if value == folder or value.startswith(folder + "/"):
                entry[field] = f"<run {run_id}>" + value[len(folder) :]
                break
    return entry
