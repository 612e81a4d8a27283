"""What a webhook delivery carries: MLflow's payloads, envelope, headers and signature.

The body is JSON ``{"entity": ..., "action": ..., "timestamp": <ISO 8601 UTC>, "data":
<payload>}``; the payload fields per event are MLflow's (``name``, ``version``, ``tags`` ...).
Headers: ``Content-Type: application/json``, ``X-MLflow-Delivery-Id`` (a UUID),
``X-MLflow-Timestamp`` (epoch seconds) and, when the webhook has a secret,
``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>``.
A receiver checks it with :func:`verify_signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from trackyard.entities.webhook import WebhookEvent

__all__ = [
    "DELIVERY_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "build_request",
    "event_payload",
    "example_payload",
    "sign",
    "verify_signature",
    "webhook_event",
]

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
_VERSION = "v1"

_EVENTS: dict[str, WebhookEvent] = {}  # parsed event names
_EXAMPLES: dict[str, dict[str, Any]] = {
    "registered_model.created": {
        "name": "example_model",
        "tags": {"example_key": "example_value"},
        "description": "An example registered model",
    },
    "model_version.created": {
        "name": "example_model",
        "version": "1",
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    },
    "prompt.created": {
        "name": "example_prompt",
        "tags": {"example_key": "example_value"},
        "description": "An example prompt",
    },
    "prompt_version.created": {
        "name": "example_prompt",
        "version": "1",
        "template": "Hello {{name}}!",
        "tags": {"example_key": "example_value"},
        "description": "An example prompt version",
    },
    "budget_policy.exceeded": {
        "budget_policy_id": "bp-abc123",
        "budget_unit": "USD",
        "budget_amount": 100.0,
        "current_spend": 105.5,
        "duration_unit": "MONTHS",
        "duration_value": 1,
        "target_scope": "ENDPOINT",
        "workspace": "default",
        "target_value": "ep-abc123",
        "window_start": 1704067200000,
    },
}


def example_payload(event: WebhookEvent) -> dict[str, Any]:
    """A sample payload for ``event`` (what :meth:`MlflowClient.test_webhook` sends)."""
    key = str(event)
    if key in _EXAMPLES:
        return dict(_EXAMPLES[key])
    prompt = event.entity.value.startswith("prompt")
    out: dict[str, Any] = {"name": "example_prompt" if prompt else "example_model"}
    if event.entity.value.endswith("version_tag"):
        out["version"] = "1"
    if event.entity.value.endswith("_tag"):
        out["key"] = "example_key"
        if event.action.value == "set":
            out["value"] = "example_value"
    else:  # aliases
        out["alias"] = "example_alias"
        if event.action.value == "created":
            out["version"] = "1"
    return out


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def webhook_event(name: str) -> WebhookEvent | None:
    """The webhook event an event name stands for (``"model_version.created"``), or None."""
    event = _EVENTS.get(name)
    if event is None:
        try:
            event = _EVENTS[name] = WebhookEvent.from_str(name)
        except Exception:
            return None
    return event


def event_payload(
    name: str, entity: Any, data: Mapping[str, Any]
) -> tuple[WebhookEvent, dict[str, Any]] | None:
    """MLflow's payload for a ``trackyard_on_event`` event, or None if no webhook takes it.

    Args:
        name: the event name (``"model_version.created"``).
        entity: the event's entity (a RegisteredModel, ModelVersion, Prompt, PromptVersion,
            RegisteredModelAlias) or None; or a zero-argument callable returning it, called
            only for the events whose payload needs it (``*.created`` and aliases).
        data: the event's extra facts (``name``, ``version``, ``key``, ``value``).
    """
    event = webhook_event(name)
    if event is None:
        return None
    entity_kind, action = event.entity.value, event.action.value
    if callable(entity) and not entity_kind.endswith("_tag"):
        entity = entity()
    if entity_kind in ("registered_model", "prompt") and action == "created":
        if entity is None:
            return None
        tags = dict(getattr(entity, "tags", {}) or {})
        tags.pop("mlflow.prompt.is_prompt", None)
        payload: dict[str, Any] = {
            "name": entity.name,
            "tags": tags,
            "description": getattr(entity, "description", None),
        }
    elif entity_kind == "model_version" and action == "created":
        if entity is None:
            return None
        payload = {
            "name": entity.name,
            "version": str(entity.version),
            "source": entity.source,
            "run_id": entity.run_id,
            "tags": dict(entity.tags or {}),
            "description": entity.description,
        }
    elif entity_kind == "prompt_version" and action == "created":
        if entity is None:
            return None
        payload = {
            "name": entity.name,
            "version": str(entity.version),
            "template": entity.template,
            "tags": dict(entity.tags or {}),
            "description": entity.commit_message,
        }
    elif entity_kind.endswith("_alias"):
        payload = {"name": data.get("name"), "alias": getattr(entity, "alias", None)}
        if action == "created":
            payload["version"] = _text(getattr(entity, "version", None))
    elif entity_kind.endswith("_tag"):
        payload = {"name": data.get("name")}
        if entity_kind.endswith("version_tag"):
            payload["version"] = _text(data.get("version"))
        payload["key"] = data.get("key")
        if action == "set":
            payload["value"] = data.get("value")
    else:
        return None
    return event, payload


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The ``X-MLflow-Signature`` value: ``v1,<base64 HMAC-SHA256>`` of the three parts."""
    message = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return f"{_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes | str, max_age_s: float | None = 300
) -> bool:
    """Check a delivery's signature as a receiver should (constant-time comparison).

    Args:
        secret: the webhook's secret.
        headers: the request headers (names matched case-insensitively).
        body: the raw request body.
        max_age_s: refuse deliveries whose timestamp is older (None: no age check).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    delivery_id = lower.get(DELIVERY_ID_HEADER.lower())
    timestamp = lower.get(TIMESTAMP_HEADER.lower())
    given = lower.get(SIGNATURE_HEADER.lower())
    if not (delivery_id and timestamp and given):
        return False
    if max_age_s is not None:
        try:
            if abs(time.time() - int(timestamp)) > max_age_s:
                return False
        except ValueError:
            return False
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return hmac.compare_digest(sign(secret, delivery_id, timestamp, text), given)


def build_request(
    event: WebhookEvent, payload: Mapping[str, Any], secret: str | None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery (a fresh delivery id and timestamp)."""
    body = json.dumps(
        {
            "entity": event.entity.value,
            "action": event.action.value,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "data": dict(payload),
        }
    )
    delivery_id = str(uuid.uuid4())
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, timestamp, body)
    return body.encode("utf-8"), headers
