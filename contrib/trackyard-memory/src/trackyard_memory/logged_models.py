"""Logged models in the memory store (mixed into :class:`MemoryTrackingStore`).

A model's metric points are kept as MLflow's SQL store keeps them: one point per (key,
timestamp, step, run id), the first value wins, NaN stored as 0 and infinities as the
largest finite doubles. Search uses trackyard's reference evaluator.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trackyard.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    PagedList,
)
from trackyard.errors import ErrorCode, TrackyardError, already_exists
from trackyard.errors import logged_model_not_found as model_not_found
from trackyard.search.logged_model_evaluator import search_logged_models_in_memory
from trackyard.search.request import LoggedModelSearch
from trackyard.stores import now_ms

if TYPE_CHECKING:
    import threading

__all__ = ["MemoryLoggedModels"]

_DBL_MAX = sys.float_info.max


def _names() -> str:
    from trackyard.stores import generate_run_name

    return generate_run_name()


def stored_value(value: float) -> float:
    """A model metric value as MLflow's SQL store keeps it (NaN as 0, inf as +-DBL_MAX)."""
    if math.isnan(value):
        return 0.0
    if math.isinf(value):
        return _DBL_MAX if value > 0 else -_DBL_MAX
    return value


@dataclass
class _Model:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    model_type: str | None
    source_run_id: str | None
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    status_message: str | None = None
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    points: dict[tuple[str, int, int, str], Metric] = field(default_factory=dict)

    def entity(self) -> LoggedModel:
        metrics = [
            Metric(
                m.key,
                m.value,
                m.timestamp,
                m.step,
                model_id=m.model_id,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
                run_id=m.run_id,
            )
            for m in self.points.values()
        ]
        return LoggedModel(
            experiment_id=self.experiment_id,
            model_id=self.model_id,
            name=self.name,
            artifact_location=self.artifact_location,
            creation_timestamp=self.creation_timestamp,
            last_updated_timestamp=self.last_updated_timestamp,
            model_type=self.model_type,
            source_run_id=self.source_run_id,
            status=self.status,
            status_message=self.status_message,
            tags=dict(self.tags),
            params=dict(self.params),
            metrics=metrics or None,
        )


class MemoryLoggedModels:
    """The logged-model methods; the store supplies its lock and data."""

    _lock: threading.RLock

    if TYPE_CHECKING:

        def _data(self) -> Any: ...
        def _active_experiment(self, data: Any, experiment_id: str) -> Any: ...

    @staticmethod
    def _models(data: Any) -> dict[str, _Model]:
        models: dict[str, _Model] | None = getattr(data, "logged_models", None)
        if models is None:
            models = data.logged_models = {}
        return models

    def _model(self, data: Any, model_id: str, allow_deleted: bool = False) -> _Model:
        model = self._models(data).get(model_id)
        if model is None or (not allow_deleted and model.lifecycle_stage != LifecycleStage.ACTIVE):
            raise model_not_found(model_id)
        return model

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model in an active experiment."""
        with self._lock:
            data = self._data()
            exp = self._active_experiment(data, experiment_id)
            model_id = f"m-{uuid.uuid4().hex}"
            now = now_ms()
            location = "/".join(
                [exp.artifact_location.rstrip("/"), "models", model_id, "artifacts"]
            )
            model = _Model(
                model_id=model_id,
                experiment_id=exp.experiment_id,
                name=name or _names(),
                artifact_location=location,
                creation_timestamp=now,
                last_updated_timestamp=now,
                model_type=model_type,
                source_run_id=source_run_id,
                tags={t.key: t.value for t in tags or ()},
                params={p.key: p.value for p in params or ()},
            )
            self._models(data)[model_id] = model
            return model.entity()

    def import_logged_model(self, model: LoggedModel) -> None:
        """Write a new model exactly as given, with its tags, params and metric points."""
        with self._lock:
            data = self._data()
            models = self._models(data)
            exp = self._active_experiment(data, model.experiment_id)
            if model.model_id in models:
                raise already_exists(f"Logged model {model.model_id!r}")
            stored = _Model(
                model_id=model.model_id,
                experiment_id=exp.experiment_id,
                name=model.name,
                artifact_location=model.artifact_location,
                creation_timestamp=model.creation_timestamp,
                last_updated_timestamp=model.last_updated_timestamp,
                model_type=model.model_type,
                source_run_id=model.source_run_id,
                status=model.status,
                status_message=model.status_message,
                tags=dict(model.tags),
                params=dict(model.params),
            )
            for m in model.metrics or ():
                ident = (m.key, m.timestamp, m.step, m.run_id or "")
                stored.points.setdefault(ident, dataclasses.replace(m, value=stored_value(m.value)))
            models[model.model_id] = stored

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """Return a model with its tags, params and metric points."""
        with self._lock:
            return self._model(self._data(), model_id, allow_deleted).entity()

    def search_logged_models(self, request: LoggedModelSearch) -> PagedList[LoggedModel]:
        """Search with trackyard's reference evaluator."""
        with self._lock:
            models = [
                m.entity()
                for m in self._models(self._data()).values()
                if m.lifecycle_stage == LifecycleStage.ACTIVE
            ]
        return search_logged_models_in_memory(models, request)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Set a model's status."""
        with self._lock:
            model = self._model(self._data(), model_id)
            model.status = status
            model.last_updated_timestamp = now_ms()
            return model.entity()

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """Set tags; the last value of a repeated key wins."""
        with self._lock:
            model = self._model(self._data(), model_id)
            model.tags.update({t.key: t.value for t in tags})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Delete a tag (RESOURCE_DOES_NOT_EXIST if absent)."""
        with self._lock:
            model = self._model(self._data(), model_id)
            if key not in model.tags:
                raise TrackyardError(
                    f"No tag with key {key!r} found for model with ID {model_id!r}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            del model.tags[key]

    def delete_logged_model(self, model_id: str) -> None:
        """Mark a model deleted."""
        with self._lock:
            model = self._model(self._data(), model_id)
            model.lifecycle_stage = LifecycleStage.DELETED
            model.last_updated_timestamp = now_ms()

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """Add params; a key already set with another value is INVALID_PARAMETER_VALUE."""
        with self._lock:
            model = self._model(self._data(), model_id)
            new = {p.key: p.value for p in params}
            for key, value in new.items():
                old = model.params.get(key)
                if old is not None and old != value:
                    raise TrackyardError.invalid_parameter_value(
                        f"Changing param values is not allowed. Param with key={key!r} was "
                        f"already logged with value={old!r} for model ID={model_id!r}."
                    )
            model.params.update(new)

    # -- called by log_batch, under the lock ---------------------------------------------------
    def _check_model_metrics(self, data: Any, metrics: Sequence[Metric]) -> None:
        """Refuse metrics naming a model that does not exist (before anything is written)."""
        for model_id in {m.model_id for m in metrics if m.model_id is not None}:
            self._model(data, model_id)

    def _record_model_metrics(self, data: Any, run_id: str, metrics: Sequence[Metric]) -> None:
        """Record metrics with a ``model_id`` as points of that model."""
        for m in metrics:
            if m.model_id is None:
                continue
            model = self._model(data, m.model_id)
            ident = (m.key, m.timestamp, m.step, run_id)
            if ident not in model.points:
                model.points[ident] = Metric(
                    m.key,
                    stored_value(m.value),
                    m.timestamp,
                    m.step,
                    model_id=m.model_id,
                    dataset_name=m.dataset_name,
                    dataset_digest=m.dataset_digest,
                    run_id=run_id,
                )
