"""The prompt methods of :class:`trackyard.MlflowClient`.

Prompts are stored as MLflow stores them: a registered model tagged
``mlflow.prompt.is_prompt = 'true'`` whose versions hold the template in version tags (see
:class:`~trackyard.entities.model_registry.PromptVersion`). The client builds them on top of
the store's model methods, so any registry store that leaves prompts out of
``search_registered_models`` (capability ``prompts``) supports them. Names and signatures are
those of MLflow 3's ``MlflowClient``; input is validated before the store sees it.

After a change is committed, the client fires ``trackyard_on_event`` with the entity (only
when a plugin listens): ``prompt.created``, ``prompt_version.created``, ``prompt_tag.set`` /
``.deleted``, ``prompt_version_tag.set`` / ``.deleted``, ``prompt_alias.created`` /
``.deleted`` (the changes MLflow's webhooks know), plus ``prompt.deleted`` and
``prompt_version.deleted``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from trackyard import errors, validation
from trackyard._registry_client import _model_tags, _optional_text, _order_list
from trackyard.entities import PagedList
from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    PROMPT_SOURCE_PLACEHOLDER,
    ModelVersion,
    ModelVersionTag,
    Prompt,
    PromptVersion,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
    is_prompt,
)
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import RegistryStore

__all__ = ["PromptClientMixin"]

_logger = logging.getLogger("trackyard.registry")


class PromptClientMixin:
    """Prompts: create, version, alias, tag, load and search them.

    Mixed into :class:`trackyard.MlflowClient` after
    :class:`~trackyard._registry_client.RegistryClientMixin`, which provides the registry
    store, event plumbing and alias lookups used here.
    """

    if TYPE_CHECKING:

        @property
        def _registry_store(self) -> RegistryStore: ...

        def _emit_registry(self, event: str, entity: Any, /, **data: Any) -> None: ...

        def _alias_target(self, name: str, alias: str) -> str | None: ...

        def _version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    # -- plumbing --------------------------------------------------------------------------
    def _require_prompts(self) -> RegistryStore:
        store = self._registry_store
        if not store.capabilities.prompts:
            from trackyard.stores import unsupported

            raise unsupported(store, "prompts")
        return store

    # -- prompts ---------------------------------------------------------------------------
    def create_prompt(
        self,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        *,
        prompt: str | list[dict[str, Any]] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Prompt:
        """Create a prompt without versions (add them with :meth:`register_prompt`).

        The client document's form ``create_prompt(name, prompt=..., tags=None,
        description=None, metadata=None)`` also works: with ``prompt`` (a template), the
        prompt is created with its first version, whose tags are ``metadata``; if that
        version cannot be made, no prompt is left behind. Positionally, the second argument
        is MLflow's ``description``.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for a name outside
                ``^[a-zA-Z0-9_.-]+$``; RESOURCE_ALREADY_EXISTS when the name is taken.
        """
        store = self._require_prompts()
        validation.validate_prompt_name(name)
        if prompt is not None or metadata is not None:
            if prompt is None:
                raise TrackyardError.invalid_parameter_value(
                    "create_prompt(metadata=...) needs the prompt's template (prompt=...): "
                    "metadata are the tags of its first version."
                )
            self._register(
                name,
                prompt,
                tags=tags,
                version_tags=metadata,
                prompt_description=_optional_text(description, "description"),
                new=True,
            )
            return Prompt.from_registered_model(store.get_registered_model(name))
        user_tags = _model_tags(tags)
        description = _optional_text(description, "description")
        model = store.create_registered_model(
            name, [RegisteredModelTag(IS_PROMPT_TAG_KEY, "true"), *user_tags], description
        )
        created = Prompt.from_registered_model(model)
        self._emit_registry("prompt.created", created)
        return created

    def register_prompt(
        self,
        name: str | None = None,
        template: str | list[dict[str, Any]] | None = None,
        commit_message: str | None = None,
        tags: dict[str, str] | None = None,
        response_format: Any = None,
        model_config: Any = None,
        *,
        prompt: str | list[dict[str, Any]] | None = None,
        version: str | int | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> PromptVersion:
        """Add a version to a prompt, creating the prompt if needed.

        Args:
            name: the prompt (``^[a-zA-Z0-9_.-]+$``).
            template: text with ``{{ variables }}``, or a chat template: a list of message
                dicts (``{"role": ..., "content": ...}``).
            commit_message: what changed; stored as the version's description (and as the
                prompt's description when this creates the prompt).
            tags: set on the version and on the prompt, as MLflow does.
            response_format: a JSON schema dict or a pydantic model class.
            model_config: model settings (temperature, ...) as a dict.
            prompt: the client document's name for ``template``.
            version: the number the new version must get (the registry numbers versions:
                INVALID_PARAMETER_VALUE, and nothing kept, if it would get another).
            description: the client document's name for ``commit_message``.
            metadata: tags of the new version only (not of the prompt).

        The client document's positional form ``register_prompt(prompt, name, version, tags,
        description, metadata)`` is recognised when MLflow's reading of the call would fail
        and no name can be meant: the first argument is a chat template, or a template with a
        ``{{ variable }}`` followed by a valid prompt name. Otherwise the arguments are
        MLflow's, ``register_prompt(name, template, commit_message, ...)``; by keyword
        (``prompt=``, ``name=``, ``version=``, ``description=``, ``metadata=``) the
        document's form always works.

        Returns:
            The new version.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for a bad name or template, or when a
                registered model that is not a prompt has the name.
        """
        self._require_prompts()
        if prompt is None and _document_order(name, template):
            # register_prompt(prompt, name, version, tags, description, metadata)
            positional = (commit_message, response_format, model_config)
            prompt, name = name, template if isinstance(template, str) else None
            template = None
            commit_message, response_format, model_config = None, None, None
            version = _one_of("version", version, positional[0])
            description = _one_of("description", description, positional[1])
            metadata = _one_of("metadata", metadata, positional[2])
        template = _one_of("template", template, prompt, doc_name="prompt")
        commit_message = _one_of(
            "commit_message", commit_message, description, doc_name="description"
        )
        if name is None or template is None:
            raise TrackyardError.invalid_parameter_value(
                "register_prompt needs a prompt name and a template."
            )
        if not validation.is_prompt_name(name) and validation.is_prompt_name(template):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid prompt name {name!r}. Prompt names may only contain letters, digits, "
                "hyphens (-), underscores (_) and dots (.). If it is the template (the client "
                "document's order, register_prompt(prompt, name)), pass prompt= and name= by "
                "keyword."
            )
        return self._register(
            name,
            template,
            commit_message=_optional_text(commit_message, "commit_message"),
            tags=tags,
            version_tags=metadata,
            response_format=response_format,
            model_config=model_config,
            expected=None if version is None else validation.validate_model_version(version),
        )

    def _register(
        self,
        name: str,
        template: str | list[dict[str, Any]],
        *,
        commit_message: str | None = None,
        tags: dict[str, str] | None = None,
        version_tags: dict[str, str] | None = None,
        response_format: Any = None,
        model_config: Any = None,
        expected: str | None = None,
        prompt_description: str | None = None,
        new: bool = False,
    ) -> PromptVersion:
        """Make a prompt version (and the prompt, if needed or ``new``); events after success.

        ``tags`` go on the prompt and the version, ``version_tags`` on the version only. A
        prompt made here gets ``prompt_description`` (else the commit message) and is removed
        again if its version cannot be made.
        """
        store = self._require_prompts()
        validation.validate_prompt_name(name)
        _check_template(template)
        user_tags = dict(validation.validate_registry_tag(k, v) for k, v in (tags or {}).items())
        only_version = dict(
            validation.validate_registry_tag(k, v) for k, v in (version_tags or {}).items()
        )
        both = sorted(set(user_tags) & set(only_version))
        if both:
            raise TrackyardError.invalid_parameter_value(
                f"Tag keys {both} are given both as tags and as metadata; give each once."
            )
        draft = PromptVersion(
            name,
            1,
            template,
            tags={**user_tags, **only_version},
            response_format=response_format,
            model_config=model_config,
        )
        draft_tags = [
            ModelVersionTag(*validation.validate_registry_tag(k, v))
            for k, v in draft.to_version_tags().items()
        ]
        description = commit_message if prompt_description is None else prompt_description
        model_tags = [
            RegisteredModelTag(IS_PROMPT_TAG_KEY, "true"),
            *(RegisteredModelTag(k, v) for k, v in user_tags.items()),
        ]
        created_prompt: Prompt | None = None
        if new:
            model = store.create_registered_model(name, model_tags, description)
            created_prompt = Prompt.from_registered_model(model)
        else:
            try:
                model = store.get_registered_model(name)
            except TrackyardError as exc:
                if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                    raise
                model = store.create_registered_model(name, model_tags, description)
                created_prompt = Prompt.from_registered_model(model)
            else:
                if not is_prompt(model.tags):
                    raise TrackyardError.invalid_parameter_value(
                        f"Model {name!r} exists with the same name. A prompt cannot have the "
                        "name of a registered model; choose another name for the prompt."
                    )
                for k, v in user_tags.items():
                    store.set_registered_model_tag(name, RegisteredModelTag(k, v))
        try:
            made = store.create_model_version(
                name, PROMPT_SOURCE_PLACEHOLDER, None, draft_tags, None, commit_message
            )
            if expected is not None and made.version != expected:
                store.delete_model_version(name, made.version)
                raise TrackyardError.invalid_parameter_value(
                    f"Prompt {name!r} would get version {made.version}, not {expected}: the "
                    "registry numbers versions one after the other. Nothing was registered."
                )
        except BaseException:
            if created_prompt is not None:  # do not leave a prompt without versions behind
                try:
                    store.delete_registered_model(name)
                except TrackyardError:  # pragma: no cover - best effort
                    _logger.warning("could not remove prompt %r after a failed version", name)
            raise
        if created_prompt is not None:
            self._emit_registry("prompt.created", created_prompt)
        prompt_version = PromptVersion.from_model_version(made)
        self._emit_registry("prompt_version.created", prompt_version)
        return prompt_version

    def get_prompt(self, name: str, version: str | int | None = None) -> Any:
        """Return a prompt (a :class:`Prompt`), or one of its versions.

        Args:
            name: the prompt.
            version: None for the prompt itself (MLflow 3); a version number for that
                :class:`PromptVersion` (MLflow 2's form, kept for convenience).

        Returns:
            The prompt, or None when there is no prompt of that name (a registered model
            that is not a prompt counts as none); with ``version``, the version.
        """
        store = self._require_prompts()
        validation.validate_prompt_name(name)
        if version is not None:
            return self.get_prompt_version(name, version)
        try:
            model = store.get_registered_model(name)
        except TrackyardError as exc:
            if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        if not is_prompt(model.tags):
            return None
        return Prompt.from_registered_model(model)

    def _prompt_model(self, name: str) -> RegisteredModel:
        """The registered model of prompt ``name``; errors for models and missing names."""
        store = self._require_prompts()
        validation.validate_prompt_name(name)
        try:
            model = store.get_registered_model(name)
        except TrackyardError as exc:
            if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise errors.prompt_not_found(name) from None
            raise
        if not is_prompt(model.tags):
            raise TrackyardError.invalid_parameter_value(
                f"Name {name!r} is registered as a model, not a prompt; use the model "
                "methods (get_model_version, search_model_versions ...) instead."
            )
        return model

    def get_prompt_version(self, name: str, version: str | int) -> PromptVersion:
        """Return one version of a prompt (RESOURCE_DOES_NOT_EXIST if absent)."""
        self._prompt_model(name)
        number = validation.validate_model_version(version)
        try:
            model_version = self._registry_store.get_model_version(name, number)
        except TrackyardError as exc:
            if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise errors.prompt_not_found(name, number) from None
            raise
        return PromptVersion.from_model_version(model_version)

    def get_prompt_version_by_alias(self, name: str, alias: str) -> PromptVersion:
        """Return the prompt version an alias points at (``latest``: the newest)."""
        self._prompt_model(name)
        return PromptVersion.from_model_version(self._version_by_alias(name, alias))

    def load_prompt(
        self,
        name_or_uri: str,
        version: str | int | None = None,
        allow_missing: bool = False,
        cache_ttl_seconds: float | None = None,
    ) -> PromptVersion | None:
        """Load a prompt version by ``prompts:/<name>/<version>``, ``prompts:/<name>@<alias>``,
        or by name (with ``version``; without it, the newest version).

        Args:
            name_or_uri: a ``prompts:/`` URI or a prompt name.
            version: the version, when ``name_or_uri`` is a name.
            allow_missing: return None instead of raising when nothing matches.
            cache_ttl_seconds: accepted for MLflow compatibility; trackyard does not cache.
        """
        from trackyard.uri import parse_prompts_uri

        try:
            if isinstance(name_or_uri, str) and name_or_uri.startswith("prompts:"):
                if version is not None:
                    raise TrackyardError.invalid_parameter_value(
                        "Pass either a prompts:/ URI or a version, not both."
                    )
                parsed = parse_prompts_uri(name_or_uri)
                if parsed.alias is not None:
                    return self.get_prompt_version_by_alias(parsed.name, parsed.alias)
                assert parsed.version is not None
                return self.get_prompt_version(parsed.name, parsed.version)
            if version is not None:
                return self.get_prompt_version(name_or_uri, version)
            return self.get_prompt_version_by_alias(name_or_uri, "latest")
        except TrackyardError as exc:
            if allow_missing and exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
                return None
            raise

    def search_prompts(
        self,
        filter_string: str | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        order_by: list[str] | None = None,
    ) -> PagedList[Prompt]:
        """Return one page of prompts.

        The filter uses the registered-model grammar (``name``, ``tags.<key>``) plus MLflow's
        ``experiment_id = '<id>'`` term, which matches prompts linked to that experiment
        (see :meth:`trackyard.search.request.RegisteredModelSearch.parse_prompts`). The
        client document's positional order ``(filter_string, max_results, order_by,
        page_token)`` works too: a list in the third place is the order.
        """
        from trackyard.search.request import RegisteredModelSearch

        self._require_prompts()
        if isinstance(page_token, (list, tuple)) and not isinstance(order_by, (list, tuple)):
            page_token, order_by = order_by, list(page_token)
        request = RegisteredModelSearch.parse_prompts(
            filter_string, max_results, _order_list(order_by), page_token
        )
        models = self._registry_store.search_registered_models(request)
        return PagedList([Prompt.from_registered_model(m) for m in models], models.token)

    def search_prompt_versions(
        self, name: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[PromptVersion]:
        """Return the versions of a prompt, newest first."""
        from trackyard.search import Comparison, Entity, Op
        from trackyard.search.request import ModelVersionSearch

        self._prompt_model(name)
        request = ModelVersionSearch.parse(
            None, max_results, ["version_number DESC"], page_token
        ).and_also(
            Comparison(Entity.ATTRIBUTE, "name", Op.EQ, name),
            Comparison(Entity.TAG, IS_PROMPT_TAG_KEY, Op.EQ, "true"),
        )
        versions = self._registry_store.search_model_versions(request)
        return PagedList([PromptVersion.from_model_version(v) for v in versions], versions.token)

    def delete_prompt(self, name: str) -> None:
        """Delete a prompt with all its versions."""
        self._prompt_model(name)
        self._registry_store.delete_registered_model(name)
        self._emit_registry("prompt.deleted", None, name=name)

    def delete_prompt_version(self, name: str, version: str | int) -> None:
        """Delete one version of a prompt (its number is never reused)."""
        self.get_prompt_version(name, version)
        number = validation.validate_model_version(version)
        self._registry_store.delete_model_version(name, number)
        self._emit_registry("prompt_version.deleted", None, name=name, version=number)

    def set_prompt_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag on a prompt."""
        self._prompt_model(name)
        k, v = validation.validate_registry_tag(key, value)
        _refuse_marker(k)
        self._registry_store.set_registered_model_tag(name, RegisteredModelTag(k, v))
        self._emit_registry(
            "prompt_tag.set", lambda: self.get_prompt(name), name=name, key=k, value=v
        )

    def delete_prompt_tag(self, name: str, key: str) -> None:
        """Delete a tag from a prompt."""
        self._prompt_model(name)
        validation.validate_key(key, "tag")
        _refuse_marker(key)
        self._registry_store.delete_registered_model_tag(name, key)
        self._emit_registry("prompt_tag.deleted", lambda: self.get_prompt(name), name=name, key=key)

    def set_prompt_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        """Set a user tag on a prompt version."""
        self.get_prompt_version(name, version)
        number = validation.validate_model_version(version)
        k, v = validation.validate_registry_tag(key, value)
        _refuse_marker(k)
        self._registry_store.set_model_version_tag(name, number, ModelVersionTag(k, v))
        self._emit_registry(
            "prompt_version_tag.set",
            lambda: self.get_prompt_version(name, number),
            name=name,
            version=number,
            key=k,
            value=v,
        )

    def delete_prompt_version_tag(self, name: str, version: str | int, key: str) -> None:
        """Delete a user tag from a prompt version."""
        self.get_prompt_version(name, version)
        number = validation.validate_model_version(version)
        validation.validate_key(key, "tag")
        _refuse_marker(key)
        self._registry_store.delete_model_version_tag(name, number, key)
        self._emit_registry(
            "prompt_version_tag.deleted",
            lambda: self.get_prompt_version(name, number),
            name=name,
            version=number,
            key=key,
        )

    def set_prompt_alias(self, name: str, alias: str, version: int) -> None:
        """Point an alias of a prompt at one of its versions."""
        self.get_prompt_version(name, version)
        validation.validate_model_alias(alias)
        number = validation.validate_model_version(version)
        self._registry_store.set_registered_model_alias(name, alias, number)
        self._emit_registry("prompt_alias.created", RegisteredModelAlias(alias, number), name=name)

    def delete_prompt_alias(self, name: str, alias: str) -> None:
        """Remove an alias of a prompt."""
        self._prompt_model(name)
        validation.validate_model_alias(alias)
        pointed = self._alias_target(name, alias)
        self._registry_store.delete_registered_model_alias(name, alias)
        if pointed is not None:
            self._emit_registry(
                "prompt_alias.deleted", RegisteredModelAlias(alias, pointed), name=name
            )


# -- helpers -------------------------------------------------------------------------------------
def _document_order(first: object, second: object) -> bool:
    """Whether ``register_prompt(first, second, ...)`` is the client document's order.

    That is ``(prompt, name)``; MLflow's is ``(name, template)``. Only calls that MLflow's
    reading would refuse, and that cannot be a mistyped name, are taken the document's way:
    a chat template first, or a first argument with a ``{{ variable }}`` (never part of a
    prompt name) followed by a valid prompt name.
    """
    if isinstance(first, list):
        return True
    return (
        isinstance(first, str)
        and "{{" in first
        and "}}" in first
        and validation.is_prompt_name(second)
    )


def _one_of(name: str, value: Any, other: Any, doc_name: str | None = None) -> Any:
    """``value`` or ``other`` (two spellings of one argument); INVALID_PARAMETER_VALUE for both."""
    if other is None:
        return value
    if value is not None:
        both = f"{name!r} and {doc_name!r}" if doc_name else f"{name!r} twice"
        raise TrackyardError.invalid_parameter_value(
            f"register_prompt got {both}: they are the same argument; give it once."
        )
    return other


def _check_template(template: object) -> None:
    if isinstance(template, str):
        return
    if isinstance(template, list) and all(isinstance(m, dict) for m in template):
        return
    raise TrackyardError.invalid_parameter_value(
        "A prompt template must be a string or a list of message dicts "
        f"(chat prompts), got {type(template).__name__}."
    )


def _refuse_marker(key: str) -> None:
    if key == IS_PROMPT_TAG_KEY:
        raise TrackyardError.invalid_parameter_value(
            f"The tag {IS_PROMPT_TAG_KEY!r} marks a prompt and cannot be changed."
        )
