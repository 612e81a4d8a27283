"""Model registry entities: registered models, model versions, their tags and aliases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "ModelVersion",
    "ModelVersionStatus",
    "ModelVersionTag",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
    "Stage",
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
