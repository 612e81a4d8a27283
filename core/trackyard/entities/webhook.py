"""Webhooks of the model registry: MLflow 3's ``Webhook``, ``WebhookEvent`` and friends.

A webhook names an HTTP(S) endpoint and the registry events it wants: pairs of an entity
(``model_version``) and an action (``created``), written ``"model_version.created"``.
``Webhook.secret`` is always None on entities that stores and the client return: the secret is
write-only (stores keep it; only the delivery worker reads it back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from trackyard.errors import TrackyardError

__all__ = [
    "VALID_WEBHOOK_EVENTS",
    "Webhook",
    "WebhookAction",
    "WebhookEntity",
    "WebhookEvent",
    "WebhookStatus",
    "WebhookTestResult",
]


class WebhookStatus(str, Enum):
    """Whether a webhook is delivered to (``ACTIVE``) or not (``DISABLED``)."""

    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"

    def __str__(self) -> str:
        return self.value

    def is_active(self) -> bool:
        """True for ``ACTIVE``."""
        return self is WebhookStatus.ACTIVE


class WebhookEntity(str, Enum):
    """What an event is about."""

    REGISTERED_MODEL = "registered_model"
    MODEL_VERSION = "model_version"
    MODEL_VERSION_TAG = "model_version_tag"
    MODEL_VERSION_ALIAS = "model_version_alias"
    PROMPT = "prompt"
    PROMPT_VERSION = "prompt_version"
    PROMPT_TAG = "prompt_tag"
    PROMPT_VERSION_TAG = "prompt_version_tag"
    PROMPT_ALIAS = "prompt_alias"
    BUDGET_POLICY = "budget_policy"

    def __str__(self) -> str:
        return self.value


class WebhookAction(str, Enum):
    """What happened to the entity."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SET = "set"
    EXCEEDED = "exceeded"

    def __str__(self) -> str:
        return self.value


_E, _A = WebhookEntity, WebhookAction
#: Every (entity, action) pair a webhook may subscribe to (MLflow 3.17.2's list).
VALID_WEBHOOK_EVENTS: dict[WebhookEntity, frozenset[WebhookAction]] = {
    _E.REGISTERED_MODEL: frozenset({_A.CREATED}),
    _E.MODEL_VERSION: frozenset({_A.CREATED}),
    _E.MODEL_VERSION_TAG: frozenset({_A.SET, _A.DELETED}),
    _E.MODEL_VERSION_ALIAS: frozenset({_A.CREATED, _A.DELETED}),
    _E.PROMPT: frozenset({_A.CREATED}),
    _E.PROMPT_VERSION: frozenset({_A.CREATED}),
    _E.PROMPT_TAG: frozenset({_A.SET, _A.DELETED}),
    _E.PROMPT_VERSION_TAG: frozenset({_A.SET, _A.DELETED}),
    _E.PROMPT_ALIAS: frozenset({_A.CREATED, _A.DELETED}),
    _E.BUDGET_POLICY: frozenset({_A.EXCEEDED}),
}


def _enum_value(kind: type[Enum], value: object, what: str) -> Enum:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.lower())
        except ValueError:
            pass
    choices = ", ".join(repr(m.value) for m in kind)
    raise TrackyardError.invalid_parameter_value(
        f"Invalid webhook {what} {value!r}; expected one of {choices}."
    )


@dataclass(frozen=True)
class WebhookEvent:
    """An (entity, action) pair such as ``model_version.created``.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for an unknown entity or action, or a pair
            MLflow does not deliver (``registered_model.deleted``).
    """

    entity: WebhookEntity
    action: WebhookAction

    def __init__(self, entity: str | WebhookEntity, action: str | WebhookAction) -> None:
        ent = _enum_value(WebhookEntity, entity, "entity")
        act = _enum_value(WebhookAction, action, "action")
        assert isinstance(ent, WebhookEntity) and isinstance(act, WebhookAction)
        if act not in VALID_WEBHOOK_EVENTS[ent]:
            valid = sorted(a.value for a in VALID_WEBHOOK_EVENTS[ent])
            raise TrackyardError.invalid_parameter_value(
                f"Invalid action '{act.value}' for entity '{ent.value}'. Valid actions are: {valid}"
            )
        object.__setattr__(self, "entity", ent)
        object.__setattr__(self, "action", act)

    @classmethod
    def from_str(cls, text: str) -> WebhookEvent:
        """Parse ``"entity.action"`` (INVALID_PARAMETER_VALUE if malformed or unknown)."""
        if not isinstance(text, str) or text.count(".") != 1:
            raise TrackyardError.invalid_parameter_value(
                f"Invalid webhook event {text!r}: expected 'entity.action', "
                "e.g. 'model_version.created'."
            )
        entity, action = text.split(".")
        return cls(entity, action)

    def __str__(self) -> str:
        return f"{self.entity.value}.{self.action.value}"

    def __repr__(self) -> str:
        return f"WebhookEvent(entity={self.entity.value}, action={self.action.value})"


@dataclass
class Webhook:
    """A registered webhook.

    Attributes:
        webhook_id: a UUID string.
        name: matches ``^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`` (case-insensitive), at most 63.
        url: the endpoint (http or https).
        events: the events it is delivered.
        creation_timestamp / last_updated_timestamp: epoch milliseconds.
        description: free text, or None.
        status: ACTIVE or DISABLED.
        secret: always None when read back (kept for MLflow's attribute list).
        workspace: MLflow's workspace column; ``"default"``.
    """

    webhook_id: str
    name: str
    url: str
    events: list[WebhookEvent]
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    status: WebhookStatus = WebhookStatus.ACTIVE
    secret: str | None = field(default=None, repr=False)
    workspace: str = "default"

    def __post_init__(self) -> None:
        if not isinstance(self.status, WebhookStatus):
            self.status = WebhookStatus(self.status)


@dataclass(frozen=True)
class WebhookTestResult:
    """The outcome of :meth:`trackyard.MlflowClient.test_webhook`.

    Attributes:
        success: the endpoint answered with a status below 300.
        response_status: the HTTP status, when there was a response.
        response_body: the start of the response body (at most 4,096 characters).
        error_message: why it failed, when it did.
    """

    success: bool
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None
