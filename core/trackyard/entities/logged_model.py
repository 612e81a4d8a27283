"""Logged models (MLflow 3's ``LoggedModel``) and the run inputs/outputs that point at them.

A logged model belongs to an experiment, has an id ``m-<32 hex>``, a status (``PENDING``
until finalized as ``READY`` or ``FAILED``), tags, params and metrics, and its own artifact
location ``<experiment location>/models/<model_id>/artifacts``. ``models:/<model_id>`` names
it wherever a ``models:/`` URI is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from trackyard.entities._tracking import Metric

__all__ = [
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelOutput",
    "LoggedModelParameter",
    "LoggedModelStatus",
    "LoggedModelTag",
    "is_logged_model_id",
]

_MODEL_ID_RE = re.compile(r"m-[0-9a-f]{32}")


def is_logged_model_id(value: object) -> bool:
    """Whether ``value`` has the form of a logged model id (``m-`` and 32 hex digits)."""
    return isinstance(value, str) and _MODEL_ID_RE.fullmatch(value) is not None


class LoggedModelStatus(str, Enum):
    """A logged model's status; stored as MLflow's integers (0..3)."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value

    def to_int(self) -> int:
        """MLflow's integer for this status (the ``status`` column and file meta)."""
        return _TO_INT[self]

    @classmethod
    def from_int(cls, value: int) -> LoggedModelStatus:
        """The status stored as ``value`` (INVALID_PARAMETER_VALUE for an unknown one)."""
        for status, number in _TO_INT.items():
            if number == value:
                return status
        from trackyard.errors import TrackyardError

        raise TrackyardError.invalid_parameter_value(f"Unknown logged model status {value!r}")

    @classmethod
    def parse(cls, value: object) -> LoggedModelStatus:
        """A status from a member or its name (any case); INVALID_PARAMETER_VALUE otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().upper())
            except ValueError:
                pass
        from trackyard.errors import TrackyardError

        raise TrackyardError.invalid_parameter_value(
            f"Invalid logged model status {value!r}; expected one of {[s.value for s in cls]}"
        )

    @staticmethod
    def is_finalized(status: LoggedModelStatus | str) -> bool:
        """Whether ``status`` is final (READY or FAILED)."""
        return str(status) in ("READY", "FAILED")


_TO_INT = {
    LoggedModelStatus.UNSPECIFIED: 0,
    LoggedModelStatus.PENDING: 1,
    LoggedModelStatus.READY: 2,
    LoggedModelStatus.FAILED: 3,
}


@dataclass(slots=True, frozen=True)
class LoggedModelTag:
    """A logged model tag."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class LoggedModelParameter:
    """A logged model parameter."""

    key: str
    value: str


@dataclass(slots=True, frozen=True)
class LoggedModelInput:
    """A logged model that a run consumed."""

    model_id: str


@dataclass(slots=True, frozen=True)
class LoggedModelOutput:
    """A logged model that a run produced, at a training ``step``."""

    model_id: str
    step: int = 0


@dataclass(slots=True)
class LoggedModel:
    """A logged model. ``metrics`` is every point logged for it (None when there are none).

    ``tags`` and ``params`` map key to value; ``status`` is a :class:`LoggedModelStatus`.
    """

    experiment_id: str
    model_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    model_type: str | None = None
    source_run_id: str | None = None
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] | None = None

    @property
    def model_uri(self) -> str:
        """``models:/<model_id>``."""
        return f"models:/{self.model_id}"

    def to_dictionary(self) -> dict[str, Any]:
        """Return the model as plain values (status as its name)."""
        return {
            "experiment_id": self.experiment_id,
            "model_id": self.model_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "model_type": self.model_type,
            "source_run_id": self.source_run_id,
            "status": str(self.status),
            "status_message": self.status_message,
            "tags": dict(self.tags),
            "params": dict(self.params),
            "metrics": [m.to_dictionary() for m in self.metrics or ()],
            "model_uri": self.model_uri,
        }
