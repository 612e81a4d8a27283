"""The model registry methods of :class:`trackyard.MlflowClient`.

They live in a mixin so the tracking client stays readable; names and signatures are those
of MLflow 3's ``MlflowClient``. Like the rest of the client, every method validates its input
with :mod:`trackyard.validation` before the registry store sees it, then delegates. The
prompt methods, built on the same store, are in :mod:`trackyard._prompt_client`.

As in MLflow 3.17.2, prompts are invisible to the model methods: ``get_registered_model``,
``get_model_version`` and the others answer RESOURCE_DOES_NOT_EXIST for a prompt's name, and
tags carrying ``mlflow.prompt.is_prompt`` are refused by ``create_registered_model`` and
``create_model_version``.

After a change is committed, the client fires ``trackyard_on_event`` with the entity (only
when a plugin listens): ``registered_model.created``, ``model_version.created``,
``model_version_tag.set`` / ``.deleted``, ``model_version_alias.created`` / ``.deleted``
(the changes MLflow's webhooks know, with the prompt events of
:mod:`trackyard._prompt_client`), plus ``registered_model.updated`` / ``.renamed`` /
``.deleted``, ``registered_model_tag.set`` / ``.deleted`` and ``model_version.updated`` /
``.deleted`` / ``.stage_transitioned``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard import errors, validation
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    ModelVersion,
    ModelVersionStatus,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
    Stage,
)
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import RegistryStore

__all__ = ["RegistryClientMixin"]


_STAGES_DEPRECATED = (
    "Model version stages are deprecated (as in MLflow since 2.9); use model version "
    "aliases instead: set_registered_model_alias() and get_model_version_by_alias()."
)
_MAX_URI_HOPS = 8
_POLL_SECONDS = 1.0


class RegistryClientMixin:
    """Registered models, model versions, aliases and ``models:/`` URIs.

    Mixed into :class:`trackyard.MlflowClient`, which provides ``_tracking_uri``,
    ``_registry_uri`` and the tracking methods used to resolve ``runs:/`` URIs.
    """

    _tracking_uri: str
    _registry_uri: str
    #: The registry store, resolved on first use (tests may bind one directly).
    _reg_store: RegistryStore | None = None

    # -- plumbing --------------------------------------------------------------------------
    @property
    def _registry_store(self) -> RegistryStore:
        store = self._reg_store
        if store is None:
            from trackyard.backends import get_registry_store

            store = self._reg_store = get_registry_store(self._registry_uri, self._tracking_uri)
        return store

    def _emit_registry(self, event: str, entity: Any, /, **data: Any) -> None:
        """Fire ``trackyard_on_event`` after a committed registry change.

        ``entity`` may be a zero-argument callable: it is called only when a plugin listens
        (and, when every listener is marked ``lazy_entity``, only if one reads it), so
        building the event costs nothing otherwise.
        """
        from trackyard.plugins.events import emit_event

        emit_event(event, entity, self._registry_uri, data, self._reg_store)

    def _listening(self) -> bool:
        from trackyard.plugins.events import listening

        return listening()

    def _raise_if_prompt(self, name: str) -> None:
        """Make a prompt look absent to the model methods, as MLflow's client does."""
        if IS_PROMPT_TAG_KEY in self._registry_store.get_registered_model(name).tags:
            raise errors.registered_model_not_found(name)

    def _not_a_prompt_version(self, version: ModelVersion) -> ModelVersion:
        if IS_PROMPT_TAG_KEY in version.tags:
            raise errors.registered_model_not_found(version.name)
        return version

    # -- registered models -----------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model.

        Args:
            name: unique name: not empty, no ``/`` or ``:``.
            tags: tags to set; values are turned into strings.
            description: free text.
            deployment_job_id: kept for MLflow compatibility (Databricks deployment jobs).

        Returns:
            The new model.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when the name is taken (by a model or a
                prompt); INVALID_PARAMETER_VALUE for a bad name or tag.
        """
        validation.validate_model_name(name)
        model_tags = _model_tags(tags)
        _refuse_prompt_tags(model_tags)
        description = _optional_text(description, "description")
        model = self._registry_store.create_registered_model(
            name, model_tags, description, deployment_job_id
        )
        self._emit_registry("registered_model.created", model)
        return model

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a registered model with its tags, aliases and latest versions per stage."""
        model = self._registry_store.get_registered_model(validation.validate_model_name(name))
        if IS_PROMPT_TAG_KEY in model.tags:
            raise errors.registered_model_not_found(name)
        return model

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        """Set a registered model's description (None clears it) and return the model."""
        validation.validate_model_name(name)
        description = _optional_text(description, "description")
        self._raise_if_prompt(name)
        model = self._registry_store.update_registered_model(name, description, deployment_job_id)
        self._emit_registry("registered_model.updated", model)
        return model

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model; its versions, tags and aliases follow the new name.

        Raises:
            TrackyardError: RESOURCE_ALREADY_EXISTS when ``new_name`` is taken;
                RESOURCE_DOES_NOT_EXIST when ``name`` is not a model.
        """
        validation.validate_model_name(name)
        validation.validate_model_name(new_name)
        self._raise_if_prompt(name)
        model = self._registry_store.rename_registered_model(name, new_name)
        self._emit_registry("registered_model.renamed", model, old_name=name)
        return model

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model with all its versions, tags and aliases."""
        validation.validate_model_name(name)
        self._raise_if_prompt(name)
        self._registry_store.delete_registered_model(name)
        self._emit_registry("registered_model.deleted", None, name=name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Return one page of registered models (prompts are left out unless asked for).

        Filter keys: ``name`` (``= != LIKE ILIKE IN NOT IN``) and ``tags.<key>``. Order by
        ``name``, ``timestamp`` or ``last_updated_timestamp`` (both by last update time);
        default ``name ASC``. ``max_results`` is at most 1000. See :mod:`trackyard.search`.
        """
        from trackyard.search.request import RegisteredModelSearch

        request = RegisteredModelSearch.parse(
            filter_string, max_results, _order_list(order_by), page_token
        )
        return self._registry_store.search_registered_models(request)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on a registered model (values up to 100,000 characters)."""
        validation.validate_model_name(name)
        k, v = validation.validate_registry_tag(key, value)
        self._raise_if_prompt(name)
        self._registry_store.set_registered_model_tag(name, RegisteredModelTag(k, v))
        self._emit_registry(
            "registered_model_tag.set",
            lambda: self._registry_store.get_registered_model(name),
            name=name,
            key=k,
            value=v,
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a tag from a registered model (no error if it has none)."""
        validation.validate_model_name(name)
        validation.validate_key(key, "tag")
        self._raise_if_prompt(name)
        self._registry_store.delete_registered_model_tag(name, key)
        self._emit_registry(
            "registered_model_tag.deleted",
            lambda: self._registry_store.get_registered_model(name),
            name=name,
            key=key,
        )

    # -- model versions --------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Create the next version of a registered model (1, 2, 3 ...; never reused).

        Args:
            name: the registered model (it must exist).
            source: where the model's files are: a path, an artifact URI, ``runs:/...``, or
                ``models:/...`` (resolved now; its download location is recorded).
            run_id: the run that produced the model.
            tags: version tags.
            run_link: a link to the run.
            description: free text.
            await_creation_for: seconds to wait while the store reports
                ``PENDING_REGISTRATION`` (0 to return at once).
            model_id: the logged model id, if any.

        Returns:
            The new version.
        """
        from trackyard.uri import resolve_models_uri

        validation.validate_model_name(name)
        validation.validate_model_version_source(source)
        if run_id is not None and run_id != "":
            validation.validate_run_id(run_id)
        version_tags = _version_tags(tags)
        _refuse_prompt_tags(version_tags)
        run_link = _optional_text(run_link, "run_link")
        description = _optional_text(description, "description")
        store = self._registry_store
        if source.startswith("models:"):
            logged_id = _logged_model_id(source)
            if logged_id is not None:  # refuse what names nothing, before writing
                self.get_logged_model(logged_id)  # type: ignore[attr-defined]
                model_id = model_id or logged_id
            else:
                resolve_models_uri(store, source)
        elif (
            _is_local_source(source) and IS_PROMPT_TAG_KEY in store.get_registered_model(name).tags
        ):
            raise TrackyardError.invalid_parameter_value(
                f"{name!r} is a prompt; a prompt version cannot point at a local path "
                f"({source[:200]!r})."
            )
        version = store.create_model_version(
            name,
            source,
            run_id or None,
            version_tags,
            run_link,
            description,
            model_id=model_id,
        )
        if await_creation_for and version.status == ModelVersionStatus.PENDING_REGISTRATION:
            version = self._await_version(version, await_creation_for)
        self._emit_registry("model_version.created", version)
        return version

    def _await_version(self, version: ModelVersion, timeout: float) -> ModelVersion:
        deadline = time.monotonic() + timeout
        while version.status == ModelVersionStatus.PENDING_REGISTRATION:
            if time.monotonic() > deadline:
                raise TrackyardError(
                    f"Model version {version.name!r} {version.version} was not ready after "
                    f"{timeout} seconds (status {version.status}).",
                    ErrorCode.DEADLINE_EXCEEDED,
                )
            time.sleep(_POLL_SECONDS)
            version = self._registry_store.get_model_version(version.name, version.version)
        if version.status != ModelVersionStatus.READY:
            raise TrackyardError(
                f"Model version creation failed for {version.name!r} {version.version}: "
                f"{version.status} {version.status_message or ''}".rstrip(),
                ErrorCode.INTERNAL_ERROR,
            )
        return version

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        """Return a model version (RESOURCE_DOES_NOT_EXIST if absent or deleted)."""
        validation.validate_model_name(name)
        return self._not_a_prompt_version(
            self._registry_store.get_model_version(name, validation.validate_model_version(version))
        )

    def update_model_version(
        self, name: str, version: str, description: str | None = None
    ) -> ModelVersion:
        """Set a version's description and return the version."""
        validation.validate_model_name(name)
        version = validation.validate_model_version(version)
        if description is None:
            raise TrackyardError.invalid_parameter_value(
                "Attempting to update model version with no new field values: pass a description."
            )
        description = _optional_text(description, "description")
        self._raise_if_prompt(name)
        result = self._registry_store.update_model_version(name, version, description)
        self._emit_registry("model_version.updated", result)
        return result

    def delete_model_version(self, name: str, version: str) -> None:
        """Delete a version: it disappears, its aliases go, its number is never reused."""
        validation.validate_model_name(name)
        version = validation.validate_model_version(version)
        self._raise_if_prompt(name)
        self._registry_store.delete_model_version(name, version)
        self._emit_registry("model_version.deleted", None, name=name, version=version)

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        """Return the newest version in each stage (deprecated: use aliases).

        Args:
            name: the registered model.
            stages: stage names (any case); None or empty means all four stages.
        """
        warnings.warn(
            f"get_latest_versions is deprecated. {_STAGES_DEPRECATED}", FutureWarning, stacklevel=2
        )
        validation.validate_model_name(name)
        canonical = [validation.validate_stage(s) for s in stages] if stages else None
        self._raise_if_prompt(name)
        return self._registry_store.get_latest_versions(name, canonical)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to a stage (deprecated: use aliases).

        Args:
            name: the registered model.
            version: the version number.
            stage: ``None``, ``Staging``, ``Production`` or ``Archived`` (any case).
            archive_existing_versions: move the model's other versions in the target stage
                to ``Archived``; only for ``Staging`` and ``Production``.
        """
        warnings.warn(
            f"transition_model_version_stage is deprecated. {_STAGES_DEPRECATED}",
            FutureWarning,
            stacklevel=2,
        )
        validation.validate_model_name(name)
        version = validation.validate_model_version(version)
        canonical = validation.validate_stage(stage)
        if archive_existing_versions and canonical not in Stage.DEFAULT_STAGES_FOR_ARCHIVING:
            raise TrackyardError.invalid_parameter_value(
                "Model version transition cannot archive existing model versions because "
                f"{canonical!r} is not an active stage. Valid stages are "
                f"{list(Stage.DEFAULT_STAGES_FOR_ARCHIVING)}."
            )
        self._raise_if_prompt(name)
        result = self._registry_store.transition_model_version_stage(
            name, version, canonical, bool(archive_existing_versions)
        )
        self._emit_registry(
            "model_version.stage_transitioned",
            result,
            archive_existing_versions=bool(archive_existing_versions),
        )
        return result

    def get_model_version_stages(self, name: str, version: str) -> list[str]:
        """The stages a version may move to (all four; deprecated with stages)."""
        validation.validate_model_name(name)
        validation.validate_model_version(version)
        return list(Stage.ALL)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """Where a version's files are: its storage location, else its source.

        As in MLflow, a ``runs:/`` source is returned as it is (download it with
        :meth:`download_artifacts`); a ``models:/`` source was resolved when the version was
        created.
        """
        validation.validate_model_name(name)
        version = validation.validate_model_version(version)
        self._raise_if_prompt(name)
        return self._registry_store.get_model_version_download_uri(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Return one page of model versions (prompt versions are left out unless asked for).

        Filter keys: ``name`` and ``run_id`` (``= != LIKE ILIKE IN NOT IN``), ``source_path``,
        ``version_number`` (numeric) and ``tags.<key>``. Order by ``name``,
        ``version_number``, ``creation_timestamp``, ``last_updated_timestamp``; without
        order_by, ``last_updated_timestamp DESC, name ASC, version_number DESC`` (MLflow's
        default); ``name ASC`` and ``version_number DESC`` always break ties.
        ``max_results`` is at most 200,000.
        """
        from trackyard.search.request import ModelVersionSearch

        request = ModelVersionSearch.parse(
            filter_string, max_results, _order_list(order_by), page_token
        )
        return self._registry_store.search_model_versions(request)

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy a model version into another registered model (created if missing).

        Args:
            src_model_uri: ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
                ``models:/<name>/latest`` or a stage form. trackyard also accepts
                ``runs:/<run_id>/<path>``: the new version's source is that URI and its
                run id the run's (MLflow accepts only ``models:/``).
            dst_name: the registered model that receives the new version.

        Returns:
            The new version. Its source is ``models:/<src name>/<src version>`` and it copies
            the source's run id, tags, run link, description and model id.
        """
        from trackyard.uri import parse_runs_uri, resolve_models_uri

        validation.validate_model_name(dst_name)
        if not isinstance(src_model_uri, str):
            raise TrackyardError.invalid_parameter_value(
                f"Unsupported source model URI {src_model_uri!r}."
            )
        if src_model_uri.startswith("runs:"):
            run_id, _ = parse_runs_uri(src_model_uri)
            validation.validate_run_id(run_id)
            self._ensure_registered_model(dst_name)
            return self.create_model_version(dst_name, src_model_uri, run_id=run_id)
        if not src_model_uri.startswith("models:"):
            raise TrackyardError.invalid_parameter_value(
                f"Unsupported source model URI {src_model_uri!r}: copy_model_version copies "
                "models:/ URIs (and, in trackyard, runs:/ URIs)."
            )
        logged_id = _logged_model_id(src_model_uri)
        if logged_id is not None:  # a logged model: register it
            self.get_logged_model(logged_id)  # type: ignore[attr-defined]
            self._ensure_registered_model(dst_name)
            return self.create_model_version(dst_name, src_model_uri, model_id=logged_id)
        src = self._not_a_prompt_version(resolve_models_uri(self._registry_store, src_model_uri))
        self._ensure_registered_model(dst_name)
        return self.create_model_version(
            dst_name,
            f"models:/{src.name}/{src.version}",
            run_id=src.run_id,
            tags=dict(src.tags),
            run_link=src.run_link,
            description=src.description,
            model_id=src.model_id,
        )

    def _ensure_registered_model(self, name: str) -> None:
        try:
            self.create_registered_model(name)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_ALREADY_EXISTS:
                raise

    def set_model_version_tag(
        self,
        name: str,
        version: str | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        """Set a tag on a version, named by number or (deprecated) by stage."""
        validation.validate_model_name(name)
        version = self._version_or_stage(name, version, stage)
        k, v = validation.validate_registry_tag(key, value)
        self._raise_if_prompt(name)
        self._registry_store.set_model_version_tag(name, version, ModelVersionTag(k, v))
        self._emit_registry(
            "model_version_tag.set",
            lambda: self._registry_store.get_model_version(name, version),
            name=name,
            version=version,
            key=k,
            value=v,
        )

    def delete_model_version_tag(
        self,
        name: str,
        version: str | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Delete a tag from a version, named by number or (deprecated) by stage."""
        validation.validate_model_name(name)
        version = self._version_or_stage(name, version, stage)
        validation.validate_key(key, "tag")
        assert key is not None
        self._raise_if_prompt(name)
        self._registry_store.delete_model_version_tag(name, version, key)
        self._emit_registry(
            "model_version_tag.deleted",
            lambda: self._registry_store.get_model_version(name, version),
            name=name,
            version=version,
            key=key,
        )

    def _version_or_stage(self, name: str, version: object, stage: object) -> str:
        if version is not None and stage is not None:
            raise TrackyardError.invalid_parameter_value("version and stage cannot be set together")
        if version is not None:
            return validation.validate_model_version(version)
        if stage is None:
            raise TrackyardError.invalid_parameter_value("version or stage must be set")
        warnings.warn(
            f"Naming a version by stage is deprecated. {_STAGES_DEPRECATED}",
            FutureWarning,
            stacklevel=3,
        )
        canonical = validation.validate_stage(stage)
        latest = self._registry_store.get_latest_versions(name, [canonical])
        if not latest:
            raise TrackyardError(
                f"Registered model {name!r} has no version in stage {canonical!r}.",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        return str(max(int(v.version) for v in latest))

    # -- aliases ---------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at a version (moving it if it pointed elsewhere).

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for a reserved (``latest``, ``v3``) or
                malformed alias or a non-integer version; RESOURCE_DOES_NOT_EXIST when the
                version does not exist.
        """
        validation.validate_model_name(name)
        validation.validate_model_alias(alias)
        version = validation.validate_model_version(version)
        self._raise_if_prompt(name)
        self._registry_store.set_registered_model_alias(name, alias, version)
        self._emit_registry(
            "model_version_alias.created", RegisteredModelAlias(alias, version), name=name
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias (no error if the model has no such alias)."""
        validation.validate_model_name(name)
        validation.validate_model_alias(alias)
        self._raise_if_prompt(name)
        pointed = self._alias_target(name, alias)
        self._registry_store.delete_registered_model_alias(name, alias)
        if pointed is not None:
            self._emit_registry(
                "model_version_alias.deleted", RegisteredModelAlias(alias, pointed), name=name
            )

    def _alias_target(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, read only when a plugin listens for events."""
        if not self._listening():
            return None
        try:
            return self._registry_store.get_model_version_by_alias(name, alias).version
        except TrackyardError:
            return None

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at; ``latest`` (any case) is the newest version.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE when the model has no such alias (MLflow's
                code); RESOURCE_DOES_NOT_EXIST for ``latest`` on a model without versions.
        """
        validation.validate_model_name(name)
        return self._not_a_prompt_version(self._version_by_alias(name, alias))

    def _version_by_alias(self, name: str, alias: str) -> ModelVersion:
        from trackyard.uri import _newest

        if not isinstance(alias, str) or not alias:
            raise TrackyardError.invalid_parameter_value(f"Invalid alias {alias!r}.")
        if alias.lower() == "latest":
            return _newest(self._registry_store, name, None, f"models:/{name}@{alias}")
        return self._registry_store.get_model_version_by_alias(name, alias)


# -- helpers -------------------------------------------------------------------------------------
def _is_local_source(source: str) -> bool:
    """Whether a model version source names a local path (no scheme, or ``file:``)."""
    from trackyard.uri import split_uri

    scheme = split_uri(source).scheme
    return len(scheme) <= 1 or scheme.lower() == "file"


def _order_list(order_by: Sequence[str] | None) -> list[str] | None:
    if order_by is None:
        return None
    if isinstance(order_by, str):
        return [order_by]
    return list(order_by)


def _optional_text(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TrackyardError.invalid_parameter_value(
        f"Invalid {what} {value!r}: expected a string or None."
    )


def _model_tags(tags: dict[str, Any] | None) -> list[RegisteredModelTag]:
    if tags is None:
        return []
    if not isinstance(tags, dict):
        raise TrackyardError.invalid_parameter_value(f"tags must be a dict, got {tags!r}")
    return [RegisteredModelTag(*validation.validate_registry_tag(k, v)) for k, v in tags.items()]


def _version_tags(tags: dict[str, Any] | None) -> list[ModelVersionTag]:
    if tags is None:
        return []
    if not isinstance(tags, dict):
        raise TrackyardError.invalid_parameter_value(f"tags must be a dict, got {tags!r}")
    return [ModelVersionTag(*validation.validate_registry_tag(k, v)) for k, v in tags.items()]


def _refuse_prompt_tags(tags: Sequence[RegisteredModelTag | ModelVersionTag]) -> None:
    if any(t.key == IS_PROMPT_TAG_KEY for t in tags):
        raise TrackyardError.invalid_parameter_value(
            "Prompts cannot be registered as models: use create_prompt / register_prompt."
        )


def _logged_model_id(uri: str) -> str | None:
    """The logged model id a ``models:/<model_id>`` URI names, or None."""
    from trackyard.uri import parse_models_uri

    try:
        return parse_models_uri(uri).model_id
    except TrackyardError:
        return None
