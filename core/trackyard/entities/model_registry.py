"""Model registry entities: registered models, model versions, tags, aliases and prompts.

Prompts are stored as MLflow stores them: a registered model tagged
``mlflow.prompt.is_prompt=true`` whose versions keep the template in the tag
``mlflow.prompt.text`` (see :class:`PromptVersion.to_version_tags`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "IS_PROMPT_TAG_KEY",
    "PROMPT_INTERNAL_TAGS",
    "PROMPT_MODEL_CONFIG_TAG_KEY",
    "PROMPT_TEXT_TAG_KEY",
    "PROMPT_TYPE_TAG_KEY",
    "RESPONSE_FORMAT_TAG_KEY",
    "ModelVersion",
    "ModelVersionStatus",
    "ModelVersionTag",
    "Prompt",
    "PromptVersion",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
    "Stage",
    "is_prompt",
]


class ModelVersionStatus:
    """Registration status of a model version."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"

    @classmethod
    def all_status(cls) -> list[str]:
        """Every status name."""
        return [cls.PENDING_REGISTRATION, cls.FAILED_REGISTRATION, cls.READY]


class Stage:
    """Deprecated model version stages (MLflow keeps them; so do we)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"
    DELETED_INTERNAL = "Deleted_Internal"

    ALL: ClassVar[tuple[str, ...]] = ("None", "Staging", "Production", "Archived")
    DEFAULT_STAGES_FOR_ARCHIVING: ClassVar[tuple[str, ...]] = ("Staging", "Production")


@dataclass(slots=True, frozen=True)
class RegisteredModelTag:
    """A registered model tag."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class ModelVersionTag:
    """A model version tag."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class RegisteredModelAlias:
    """An alias: a name pointing at one version of a registered model."""

    alias: str
    version: str


@dataclass(slots=True)
class ModelVersion:
    """One version of a registered model. ``version`` is a string, as in MLflow's API."""

    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = Stage.NONE
    source: str | None = None
    run_id: str | None = None
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None
    params: dict[str, str] | None = None
    metrics: list[Any] | None = None
    deployment_job_state: Any = None
    storage_location: str | None = None

    def to_dictionary(self) -> dict[str, Any]:
        """Return the version as a plain dict."""
        return {
            "name": self.name,
            "version": self.version,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description,
            "user_id": self.user_id,
            "current_stage": self.current_stage,
            "source": self.source,
            "run_id": self.run_id,
            "status": self.status,
            "status_message": self.status_message,
            "tags": dict(self.tags),
            "run_link": self.run_link,
            "aliases": list(self.aliases),
            "model_id": self.model_id,
        }


@dataclass(slots=True)
class RegisteredModel:
    """A registered model.

    ``aliases`` maps alias to version string; ``latest_versions`` holds the newest version per
    stage, as MLflow's does.
    """

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    deployment_job_id: str | None = None
    deployment_job_state: Any = None

    def to_dictionary(self) -> dict[str, Any]:
        """Return the model as a plain dict."""
        return {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description,
            "latest_versions": [v.to_dictionary() for v in self.latest_versions],
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
        }


# -- prompts ----------------------------------------------------------------------------------
#: Tag marking a registered model (and its versions) as a prompt.
IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
#: Version tag holding the template (chat templates as JSON).
PROMPT_TEXT_TAG_KEY = "mlflow.prompt.text"
#: Version tag holding ``text`` or ``chat``.
PROMPT_TYPE_TAG_KEY = "_mlflow_prompt_type"
#: Version tag holding the response format (JSON).
RESPONSE_FORMAT_TAG_KEY = "_mlflow_prompt_response_format"
#: Version tag holding the model configuration (JSON).
PROMPT_MODEL_CONFIG_TAG_KEY = "_mlflow_prompt_model_config"
#: Model tag listing the experiments a prompt is linked to (``,1,2,``); kept, not written.
PROMPT_EXPERIMENT_IDS_TAG_KEY = "_mlflow_experiment_ids"
PROMPT_TYPE_TEXT = "text"
PROMPT_TYPE_CHAT = "chat"
#: The ``source`` of a prompt version: MLflow's client writes this placeholder.
PROMPT_SOURCE_PLACEHOLDER = "dummy-source"
#: Sources MLflow uses for prompt versions (client and store placeholders).
PROMPT_SOURCE_PLACEHOLDERS = frozenset({"dummy-source", "prompt-template"})

#: Version tags that carry the prompt itself rather than user metadata.
PROMPT_INTERNAL_TAGS = frozenset(
    {
        IS_PROMPT_TAG_KEY,
        PROMPT_TEXT_TAG_KEY,
        PROMPT_TYPE_TAG_KEY,
        RESPONSE_FORMAT_TAG_KEY,
        PROMPT_MODEL_CONFIG_TAG_KEY,
    }
)

# ``{{ name }}`` or ``{{ a.b }}``: a dotted identifier between double braces.
_VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}", re.ASCII)


def is_prompt(tags: Mapping[str, str]) -> bool:
    """Whether a registered model or version with these tags is a prompt."""
    return str(tags.get(IS_PROMPT_TAG_KEY, "")).lower() == "true"


@dataclass(slots=True)
class Prompt:
    """A prompt: a named series of template versions (MLflow 3's ``Prompt``).

    ``tags`` are the prompt's own tags, without the ``mlflow.prompt.is_prompt`` marker.
    """

    name: str
    description: str | None = None
    creation_timestamp: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_registered_model(cls, model: RegisteredModel) -> Prompt:
        """Build the prompt a registered model carrying the prompt tag stands for."""
        tags = {k: v for k, v in model.tags.items() if k != IS_PROMPT_TAG_KEY}
        return cls(model.name, model.description, model.creation_timestamp, tags)


@dataclass(slots=True, init=False)
class PromptVersion:
    """One version of a prompt: a text template, or a chat template (a list of messages).

    Template variables are written ``{{ name }}`` (dotted names allowed). ``version`` is an
    int, as in MLflow 3. ``tags`` hold user tags only; ``commit_message`` is the version's
    description.
    """

    name: str
    version: int
    template: str | list[dict[str, Any]]
    commit_message: str | None
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    tags: dict[str, str]
    aliases: list[str]
    user_id: str | None
    response_format: dict[str, Any] | None
    model_config: dict[str, Any] | None

    def __init__(
        self,
        name: str,
        version: int,
        template: str | list[dict[str, Any]],
        commit_message: str | None = None,
        creation_timestamp: int | None = None,
        tags: dict[str, str] | None = None,
        aliases: list[str] | None = None,
        last_updated_timestamp: int | None = None,
        user_id: str | None = None,
        response_format: Any = None,
        model_config: Any = None,
    ) -> None:
        self.name = name
        self.version = int(version)
        self.template = template
        self.commit_message = commit_message
        self.creation_timestamp = creation_timestamp
        self.last_updated_timestamp = (
            last_updated_timestamp if last_updated_timestamp is not None else creation_timestamp
        )
        self.tags = dict(tags or {})
        self.aliases = list(aliases or [])
        self.user_id = user_id
        self.response_format = (
            self.convert_response_format_to_dict(response_format)
            if response_format is not None
            else None
        )
        self.model_config = _config_dict(model_config) if model_config is not None else None

    # -- derived ---------------------------------------------------------------------------
    @property
    def description(self) -> str | None:
        """The commit message (MLflow keeps it in the version's description)."""
        return self.commit_message

    @property
    def is_text_prompt(self) -> bool:
        """True for a text template, False for a chat template."""
        return isinstance(self.template, str)

    @property
    def prompt_type(self) -> str:
        """``text`` or ``chat``."""
        return PROMPT_TYPE_TEXT if self.is_text_prompt else PROMPT_TYPE_CHAT

    @property
    def uri(self) -> str:
        """``prompts:/<name>/<version>``."""
        return f"prompts:/{self.name}/{self.version}"

    @property
    def variables(self) -> set[str]:
        """The names of the template's ``{{ variables }}``."""
        found: set[str] = set()
        for text in self._texts():
            found.update(_VARIABLE_RE.findall(text))
        return found

    def _texts(self) -> list[str]:
        if isinstance(self.template, str):
            return [self.template]
        return [str(m.get("content", "")) for m in self.template if isinstance(m, dict)]

    # -- formatting ------------------------------------------------------------------------
    def format(
        self, allow_partial: bool = False, **kwargs: Any
    ) -> str | list[dict[str, Any]] | PromptVersion:
        """Fill the template's variables.

        Args:
            allow_partial: when True, variables without a value stay as they are and a new
                :class:`PromptVersion` holding the partly filled template is returned.
            **kwargs: variable values (turned into strings).

        Returns:
            The filled text (text prompts) or list of messages (chat prompts); a
            :class:`PromptVersion` when ``allow_partial`` is on and variables remain.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE when variables lack values and
                ``allow_partial`` is False.
        """
        missing = self.variables - set(kwargs)
        if missing and not allow_partial:
            from trackyard.errors import TrackyardError

            raise TrackyardError.invalid_parameter_value(
                f"Missing variables: {sorted(missing)}. To fill the prompt partially, pass "
                "allow_partial=True."
            )

        def fill(text: str) -> str:
            def value(match: re.Match[str]) -> str:
                key = match.group(1)
                return str(kwargs[key]) if key in kwargs else match.group(0)

            return _VARIABLE_RE.sub(value, text)

        filled: str | list[dict[str, Any]]
        if isinstance(self.template, str):
            filled = fill(self.template)
        else:
            filled = [
                {**m, "content": fill(str(m.get("content", "")))} if "content" in m else dict(m)
                for m in self.template
            ]
        if missing:
            return PromptVersion(
                self.name,
                self.version,
                filled,
                self.commit_message,
                self.creation_timestamp,
                self.tags,
                self.aliases,
                self.last_updated_timestamp,
                self.user_id,
                self.response_format,
                self.model_config,
            )
        return filled

    def to_single_brace_format(self) -> str | list[dict[str, Any]]:
        """The template with ``{{ var }}`` rewritten as ``{var}`` (for str.format-style tools)."""

        def convert(text: str) -> str:
            return _VARIABLE_RE.sub(lambda m: "{" + m.group(1) + "}", text)

        if isinstance(self.template, str):
            return convert(self.template)
        return [
            {**m, "content": convert(str(m.get("content", "")))} if "content" in m else dict(m)
            for m in self.template
        ]

    @staticmethod
    def convert_response_format_to_dict(response_format: Any) -> dict[str, Any]:
        """A response format as a JSON schema dict (pydantic model classes are converted)."""
        if isinstance(response_format, dict):
            return dict(response_format)
        schema = getattr(response_format, "model_json_schema", None)
        if callable(schema):
            return dict(schema())
        from trackyard.errors import TrackyardError

        raise TrackyardError.invalid_parameter_value(
            f"A response format must be a dict or a pydantic model class, got {response_format!r}"
        )

    # -- storage ---------------------------------------------------------------------------
    def to_version_tags(self) -> dict[str, str]:
        """The model version tags MLflow stores this prompt version as (user tags included)."""
        tags = dict(self.tags)
        tags[IS_PROMPT_TAG_KEY] = "true"
        if isinstance(self.template, str):
            tags[PROMPT_TYPE_TAG_KEY] = PROMPT_TYPE_TEXT
            tags[PROMPT_TEXT_TAG_KEY] = self.template
        else:
            tags[PROMPT_TYPE_TAG_KEY] = PROMPT_TYPE_CHAT
            tags[PROMPT_TEXT_TAG_KEY] = json.dumps(self.template)
        if self.response_format is not None:
            tags[RESPONSE_FORMAT_TAG_KEY] = json.dumps(self.response_format)
        if self.model_config is not None:
            tags[PROMPT_MODEL_CONFIG_TAG_KEY] = json.dumps(self.model_config)
        return tags

    @classmethod
    def from_model_version(cls, version: ModelVersion) -> PromptVersion:
        """Read a prompt version from the model version that stores it."""
        tags = version.tags
        text = tags.get(PROMPT_TEXT_TAG_KEY, "")
        template: str | list[dict[str, Any]] = text
        if tags.get(PROMPT_TYPE_TAG_KEY) == PROMPT_TYPE_CHAT:
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                template = loaded
        return cls(
            name=version.name,
            version=int(version.version),
            template=template,
            commit_message=version.description,
            creation_timestamp=version.creation_timestamp,
            tags={k: v for k, v in tags.items() if k not in PROMPT_INTERNAL_TAGS},
            aliases=list(version.aliases),
            last_updated_timestamp=version.last_updated_timestamp,
            user_id=version.user_id,
            response_format=_json_or_none(tags.get(RESPONSE_FORMAT_TAG_KEY)),
            model_config=_json_or_none(tags.get(PROMPT_MODEL_CONFIG_TAG_KEY)),
        )

    def __repr__(self) -> str:
        shown = self.template if isinstance(self.template, str) else json.dumps(self.template)
        if len(shown) > 30:
            shown = shown[:30] + "..."
        return f"PromptVersion(name={self.name}, version={self.version}, template={shown})"


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _config_dict(model_config: Any) -> dict[str, Any]:
    if isinstance(model_config, Mapping):
        return dict(model_config)
    to_dict = getattr(model_config, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    from trackyard.errors import TrackyardError

    raise TrackyardError.invalid_parameter_value(
        f"A prompt model_config must be a dict, got {type(model_config).__name__}"
    )
