"""The in-process model registry store: ``memory://<name>``.

Same design as :mod:`trackyard_memory.tracking`: plain objects in the space of the URI's name,
one re-entrant lock, checks before changes, fresh entities on every read, search through
trackyard's reference evaluator (:mod:`trackyard.search.registry_evaluator`), which also
decides when prompts are left out.

MLflow's registry rules, as the conformance kit checks them:

- version numbers are ``max + 1`` per model, deleted versions included, so a number is never
  reused; concurrent creators get distinct, gap-free numbers (the lock);
- deleting a version is a soft delete: stage ``Deleted_Internal``, source, run id and run
  link redacted to ``REDACTED-*``, description, user id and status message cleared, its
  aliases removed; deleted versions are invisible to every read;
- deleting a model removes its versions, tags and aliases; renaming carries them along;
- a ``models:/`` source is resolved when the version is created and its download location is
  kept as the version's storage location;
- prompts are registered models and versions tagged ``mlflow.prompt.is_prompt = 'true'``
  (the client writes them); searches leave them out unless the filter asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trackyard import errors, search
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from trackyard.search import ModelVersionSearch, RegisteredModelSearch
from trackyard.stores import Capabilities, RegistryStore, now_ms

from trackyard_memory._spaces import Space, get_space, parse_memory_uri
from trackyard_memory.importing import MemoryRegistryImports
from trackyard_memory.webhooks import MemoryWebhooks, _WebhookData

__all__ = ["MemoryRegistryStore"]

_REGISTRY = "registry"
_DELETED = Stage.DELETED_INTERNAL
_REDACTED_SOURCE = "REDACTED-SOURCE-PATH"
_REDACTED_RUN_ID = "REDACTED-RUN-ID"
_REDACTED_RUN_LINK = "REDACTED-RUN-LINK"


@dataclass
class _Version:
    number: int
    creation: int
    updated: int
    source: str
    run_id: str | None = None
    run_link: str | None = None
    description: str | None = None
    user_id: str | None = None
    stage: str = Stage.NONE
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    storage_location: str | None = None
    model_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return self.stage == _DELETED


@dataclass
class _Model:
    name: str
    creation: int
    updated: int
    description: str | None = None
    deployment_job_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: dict[int, _Version] = field(default_factory=dict)
    last_number: int = 0

    def version_entity(self, v: _Version) -> ModelVersion:
        return ModelVersion(
            name=self.name,
            version=str(v.number),
            creation_timestamp=v.creation,
            last_updated_timestamp=v.updated,
            description=v.description,
            user_id=v.user_id,
            current_stage=v.stage,
            source=v.source,
            run_id=v.run_id,
            status=v.status,
            status_message=v.status_message,
            tags=dict(v.tags),
            run_link=v.run_link,
            aliases=sorted(a for a, n in self.aliases.items() if n == v.number),
            model_id=v.model_id,
            storage_location=v.storage_location,
        )

    def latest_versions(self) -> list[ModelVersion]:
        newest: dict[str, _Version] = {}
        for v in self.versions.values():
            if not v.deleted and (v.stage not in newest or v.number > newest[v.stage].number):
                newest[v.stage] = v
        return [self.version_entity(newest[s]) for s in Stage.ALL if s in newest]

    def entity(self) -> RegisteredModel:
        return RegisteredModel(
            name=self.name,
            creation_timestamp=self.creation,
            last_updated_timestamp=self.updated,
            description=self.description,
            latest_versions=self.latest_versions(),
            tags=dict(self.tags),
            aliases={a: str(n) for a, n in self.aliases.items()},
            deployment_job_id=self.deployment_job_id,
        )


class _RegistryData:
    """The registry part of a space."""

    def __init__(self) -> None:
        self.models: dict[str, _Model] = {}


class MemoryRegistryStore(MemoryRegistryImports, MemoryWebhooks, RegistryStore):
    """MLflow's model registry store API over plain Python objects in this process.

    Args:
        store_uri: ``memory://<name>``; the registry of a name is shared by every store of
            that name in the process (``memory://`` alone: private to this instance).
        tracking_uri: the tracking URI (unused; kept for the plugin contract).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a malformed ``memory://`` URI.
    """

    capabilities = Capabilities(
        search_or=True, concurrent_versions=True, prompts=True, webhooks=True, imports=True
    )

    def __init__(self, store_uri: str | None = None, tracking_uri: str | None = None) -> None:
        store_uri = store_uri or "memory://"
        self._space: Space = get_space(parse_memory_uri(store_uri))
        super().__init__(store_uri, tracking_uri)
        self._lock = self._space.lock

    @property
    def name(self) -> str | None:
        """The space name (``"team"`` for ``memory://team``), None when anonymous."""
        return self._space.name

    def _models(self) -> dict[str, _Model]:
        return self._space.part(_REGISTRY, _RegistryData).models

    def _webhook_data(self) -> _WebhookData:
        return self._space.part("webhooks", _WebhookData)

    def close(self) -> None:
        """Forget an anonymous store's registry; a named store's data stays."""
        if self._space.name is None:
            self._space.clear()

    def __repr__(self) -> str:
        return f"MemoryRegistryStore({self.store_uri!r})"

    # -- lookups (callers hold the lock) ----------------------------------------------------
    def _model(self, name: str) -> _Model:
        model = self._models().get(name)
        if model is None:
            raise errors.registered_model_not_found(name)
        return model

    def _version(self, name: str, version: str) -> tuple[_Model, _Version]:
        model = self._model(name)
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise errors.model_version_not_found(name, version) from None
        found = model.versions.get(number)
        if found is None or found.deleted:
            raise errors.model_version_not_found(name, version)
        return model, found

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a model (RESOURCE_ALREADY_EXISTS if the name is taken)."""
        tag_map = {t.key: t.value for t in tags or ()}
        with self._lock:
            models = self._models()
            if name in models:
                raise errors.registered_model_exists(name)
            now = now_ms()
            model = models[name] = _Model(
                name,
                now,
                now,
                description=description,
                deployment_job_id=deployment_job_id,
                tags=tag_map,
            )
            return model.entity()

    def update_registered_model(
        self, name: str, description: str | None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """Set a model's description (None clears it)."""
        with self._lock:
            model = self._model(name)
            model.description = description
            if deployment_job_id is not None:
                model.deployment_job_id = deployment_job_id
            model.updated = now_ms()
            return model.entity()

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow."""
        with self._lock:
            models = self._models()
            model = self._model(name)
            if new_name == name:
                return model.entity()
            if new_name in models:
                raise errors.registered_model_exists(new_name)
            now = now_ms()
            del models[name]
            model.name = new_name
            model.updated = now
            for v in model.versions.values():
                v.updated = now
            models[new_name] = model
            return model.entity()

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions, tags and aliases."""
        with self._lock:
            self._model(name)
            del self._models()[name]

    def search_registered_models(
        self, request: RegisteredModelSearch
    ) -> PagedList[RegisteredModel]:
        """Return the page of models ``request`` asks for (prompts only when asked for)."""
        with self._lock:
            pool = [m.entity() for m in self._models().values()]
        return search.search_registered_models_in_memory(pool, request)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a model with its tags, aliases and newest version per stage."""
        with self._lock:
            return self._model(name).entity()

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """Return the newest version per stage (all four stages when ``stages`` is empty)."""
        wanted = set(stages) if stages else set(Stage.ALL)
        with self._lock:
            return [v for v in self._model(name).latest_versions() if v.current_stage in wanted]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        """Set (or overwrite) a model tag."""
        with self._lock:
            self._model(name).tags[tag.key] = tag.value

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a model tag (no error when absent, as MLflow)."""
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
        """Create the next version; a ``models:/`` source's download location is kept."""
        from trackyard.uri import version_storage_location

        tag_map = {t.key: t.value for t in tags or ()}
        with self._lock:
            storage_location = version_storage_location(self, source)
            model = self._model(name)
            model.last_number += 1
            now = now_ms()
            version = model.versions[model.last_number] = _Version(
                number=model.last_number,
                creation=now,
                updated=now,
                source=source,
                run_id=run_id,
                run_link=run_link,
                description=description,
                storage_location=storage_location,
                model_id=model_id,
                tags=tag_map,
            )
            model.updated = now
            return model.version_entity(version)

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """Set a version's description."""
        with self._lock:
            model, v = self._version(name, version)
            v.description = description
            v.updated = now_ms()
            return model.version_entity(v)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """Move a version to a stage, optionally archiving the others in that stage."""
        with self._lock:
            model, v = self._version(name, version)
            now = now_ms()
            if archive_existing_versions:
                for other in model.versions.values():
                    if other is not v and other.stage == stage:
                        other.stage = Stage.ARCHIVED
                        other.updated = now
            v.stage = stage
            v.updated = now
            model.updated = now
            return model.version_entity(v)

    def delete_model_version(self, name: str, version: str) -> None:
        """Soft-delete a version as MLflow does: redacted, hidden, its aliases removed."""
        with self._lock:
            model, v = self._version(name, version)
            now = now_ms()
            v.stage = _DELETED
            v.updated = now
            v.source = _REDACTED_SOURCE
            v.run_id = _REDACTED_RUN_ID
            v.run_link = _REDACTED_RUN_LINK
            v.description = v.user_id = v.status_message = None
            model.aliases = {a: n for a, n in model.aliases.items() if n != v.number}
            model.updated = now

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Return a version (RESOURCE_DOES_NOT_EXIST if absent or deleted)."""
        with self._lock:
            model, v = self._version(name, version)
            return model.version_entity(v)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Return the version's storage location, else its source."""
        with self._lock:
            _, v = self._version(name, version)
            return v.storage_location or v.source

    def search_model_versions(self, request: ModelVersionSearch) -> PagedList[ModelVersion]:
        """Return the page of versions ``request`` asks for (deleted and prompt versions out)."""
        with self._lock:
            pool = [
                m.version_entity(v)
                for m in self._models().values()
                for v in m.versions.values()
                if not v.deleted
            ]
        return search.search_model_versions_in_memory(pool, request)

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        """Set (or overwrite) a version tag."""
        with self._lock:
            self._version(name, version)[1].tags[tag.key] = tag.value

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Delete a version tag (no error when absent, as MLflow)."""
        with self._lock:
            self._version(name, version)[1].tags.pop(key, None)

    # -- aliases ---------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``, moving it if it pointed elsewhere."""
        with self._lock:
            model, v = self._version(name, version)
            model.aliases[alias] = v.number

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (no error when absent, as MLflow)."""
        with self._lock:
            self._model(name).aliases.pop(alias, None)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at (INVALID_PARAMETER_VALUE if none, as MLflow)."""
        with self._lock:
            model = self._model(name)
            number = model.aliases.get(alias)
            if number is None:
                raise errors.alias_not_found(name, alias)
            return model.version_entity(model.versions[number])
