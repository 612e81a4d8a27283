"""A small in-memory registry store: the registry contract in plain Python.

Used by the unit tests to run :class:`trackyard.testing.RegistryStoreSuite` and the client
without a database (it is not a built-in backend). Searches use the reference evaluator in
:mod:`trackyard.search.registry_evaluator`, so they are right by definition.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from trackyard import search
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import Capabilities, RegistryStore
from trackyard.uri import version_storage_location


def _now() -> int:
    return int(time.time() * 1000)


def _no_model(name: str) -> TrackyardError:
    return TrackyardError(
        f"Registered Model with name={name} not found", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def _no_version(name: str, version: str) -> TrackyardError:
    return TrackyardError(
        f"Model Version (name={name}, version={version}) not found",
        ErrorCode.RESOURCE_DOES_NOT_EXIST,
    )


@dataclass
class _Model:
    name: str
    created: int
    updated: int
    description: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: dict[int, ModelVersion] = field(default_factory=dict)


class MemoryRegistryStore(RegistryStore):
    """Everything in dicts, under one lock."""

    capabilities = Capabilities(model_registry=True, prompts=True)

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        super().__init__(store_uri or "memory-registry://", tracking_uri)
        self._lock = threading.RLock()
        self._models: dict[str, _Model] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _model(self, name: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise _no_model(name)
        return model

    def _version(self, name: str, version: str) -> ModelVersion:
        mv = self._model(name).versions.get(int(version))
        if mv is None or mv.current_stage == Stage.DELETED_INTERNAL:
            raise _no_version(name, version)
        return mv

    def _public_version(self, model: _Model, mv: ModelVersion) -> ModelVersion:
        out = copy.deepcopy(mv)
        out.aliases = sorted(a for a, v in model.aliases.items() if v == int(mv.version))
        return out

    def _latest(self, model: _Model, stages: Sequence[str] | None) -> list[ModelVersion]:
        wanted = set(stages) if stages else set(Stage.ALL)
        newest: dict[str, ModelVersion] = {}
        for number in sorted(model.versions):
            mv = model.versions[number]
            if mv.current_stage in wanted:
                newest[mv.current_stage] = mv
        return sorted(
            (self._public_version(model, mv) for mv in newest.values()),
            key=lambda v: int(v.version),
        )

    def _public_model(self, model: _Model) -> RegisteredModel:
        return RegisteredModel(
            name=model.name,
            creation_timestamp=model.created,
            last_updated_timestamp=model.updated,
            description=model.description,
            latest_versions=self._latest(model, None),
            tags=dict(model.tags),
            aliases={a: str(v) for a, v in model.aliases.items()},
        )

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        with self._lock:
            if name in self._models:
                raise TrackyardError(
                    f"Registered Model (name={name}) already exists.",
                    ErrorCode.RESOURCE_ALREADY_EXISTS,
                )
            now = _now()
            model = _Model(name, now, now, description, {t.key: t.value for t in tags or ()})
            self._models[name] = model
            return self._public_model(model)

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        with self._lock:
            model = self._model(name)
            model.description = description
            model.updated = _now()
            return self._public_model(model)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        with self._lock:
            model = self._model(name)
            if new_name == name:
                return self._public_model(model)
            if new_name in self._models:
                raise TrackyardError(
                    f"Registered Model (name={new_name}) already exists.",
                    ErrorCode.RESOURCE_ALREADY_EXISTS,
                )
            now = _now()
            del self._models[name]
            model.name = new_name
            model.updated = now
            for mv in model.versions.values():
                mv.name = new_name
                mv.last_updated_timestamp = now
            self._models[new_name] = model
            return self._public_model(model)

    def delete_registered_model(self, name: str) -> None:
        with self._lock:
            self._model(name)
            del self._models[name]

    def search_registered_models(
        self, request: search.RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        with self._lock:
            pool = [self._public_model(m) for m in self._models.values()]
        return search.search_registered_models_in_memory(pool, request)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._lock:
            return self._public_model(self._model(name))

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        with self._lock:
            return self._latest(self._model(name), stages)

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        with self._lock:
            self._model(name).tags[tag.key] = tag.value

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._lock:
            self._model(name).tags.pop(key, None)

    # -- model versions --------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:

        with self._lock:
            model = self._model(name)
            storage = version_storage_location(self, source)
            number = max(model.versions, default=0) + 1
            now = _now()
            mv = ModelVersion(
                name=name,
                version=str(number),
                creation_timestamp=now,
                last_updated_timestamp=now,
                description=description,
                source=source,
                run_id=run_id,
                tags={t.key: t.value for t in tags or ()},
                run_link=run_link,
                model_id=model_id,
                storage_location=storage,
            )
            model.versions[number] = mv
            model.updated = now
            return self._public_version(model, mv)

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        with self._lock:
            mv = self._version(name, version)
            mv.description = description
            mv.last_updated_timestamp = _now()
            return self._public_version(self._model(name), mv)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        with self._lock:
            mv = self._version(name, version)
            model = self._model(name)
            now = _now()
            if archive_existing_versions:
                for other in model.versions.values():
                    if other is not mv and other.current_stage == stage:
                        other.current_stage = Stage.ARCHIVED
                        other.last_updated_timestamp = now
            mv.current_stage = stage
            mv.last_updated_timestamp = now
            return self._public_version(model, mv)

    def delete_model_version(self, name: str, version: str) -> None:
        with self._lock:
            mv = self._version(name, version)
            model = self._model(name)
            mv.current_stage = Stage.DELETED_INTERNAL
            mv.source = "REDACTED-SOURCE-PATH"
            mv.run_id = "REDACTED-RUN-ID"
            mv.run_link = "REDACTED-RUN-LINK"
            mv.description = mv.user_id = mv.status_message = None
            mv.last_updated_timestamp = _now()
            for alias in [a for a, v in model.aliases.items() if v == int(version)]:
                del model.aliases[alias]

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        with self._lock:
            return self._public_version(self._model(name), self._version(name, version))

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        with self._lock:
            mv = self._version(name, version)
            return str(mv.storage_location or mv.source)

    def search_model_versions(self, request: search.ModelVersionSearch) -> PagedList[ModelVersion]:
        with self._lock:
            pool = [
                self._public_version(m, mv)
                for m in self._models.values()
                for mv in m.versions.values()
                if mv.current_stage != Stage.DELETED_INTERNAL
            ]
        return search.search_model_versions_in_memory(pool, request)

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        with self._lock:
            self._version(name, version).tags[tag.key] = tag.value

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        with self._lock:
            self._version(name, version).tags.pop(key, None)

    # -- aliases ---------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        with self._lock:
            self._version(name, version)
            self._model(name).aliases[alias] = int(version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with self._lock:
            self._model(name).aliases.pop(alias, None)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._lock:
            model = self._model(name)
            number = model.aliases.get(alias)
            if number is None:
                raise TrackyardError.invalid_parameter_value(
                    f"Registered model alias {alias} not found."
                )
            return self._public_version(model, self._version(name, str(number)))
