"""``/api/2.0/mlflow/webhooks``: registry webhooks (create, list, get, update, delete, test).

Requests go through the client's webhook methods, which check every field (the URL against
``TRACKYARD_WEBHOOK_ALLOWED_NETWORKS``, the name, events, status, secret) before the store
is called and drop this process's cached webhook lists. Secrets are write-only: no answer
carries one. A registry store without webhooks answers FEATURE_DISABLED.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookTestResult
from trackyard_rest.server.backend import backend
from trackyard_rest.server.errors import required
from trackyard_rest.server.schemas import Request
from trackyard_rest.server.wire import empty_response, json_response, page

__all__ = ["router", "webhook_json"]

router = APIRouter(tags=["webhooks"])


class EventIn(Request):
    entity: str | None = None
    action: str | None = None


class WebhookIn(Request):
    name: str | None = None
    url: str | None = None
    events: list[EventIn] | None = None
    description: str | None = None
    secret: str | None = None
    status: str | None = None


class TestIn(Request):
    event: EventIn | None = None


def _event(item: EventIn) -> WebhookEvent:
    """An event as MLflow's JSON names it (``{"entity": "MODEL_VERSION", ...}``)."""
    entity, action = required(item.entity, "entity"), required(item.action, "action")
    return WebhookEvent(entity.lower(), action.lower())


def _events(items: list[EventIn] | None) -> list[WebhookEvent] | None:
    return None if not items else [_event(e) for e in items]


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """A Webhook message (never with its secret)."""
    d: dict[str, Any] = {"webhook_id": hook.webhook_id, "name": hook.name}
    if hook.description is not None:
        d["description"] = hook.description
    d["url"] = hook.url
    d["events"] = [
        {"entity": e.entity.value.upper(), "action": e.action.value.upper()} for e in hook.events
    ]
    d["status"] = hook.status.value.upper()
    d["creation_timestamp"] = hook.creation_timestamp
    d["last_updated_timestamp"] = hook.last_updated_timestamp
    return d


def _result_json(result: WebhookTestResult) -> dict[str, Any]:
    d: dict[str, Any] = {"success": result.success}
    for key in ("response_status", "response_body", "error_message"):
        value = getattr(result, key)
        if value is not None:
            d[key] = value
    return d


@router.post("/webhooks")
def create_webhook(body: WebhookIn, request: HttpRequest) -> Response:
    """Create a webhook → ``{webhook}``."""
    required(body.name, "name"), required(body.url, "url")
    if not body.events:
        required(None, "events")
    hook = backend(request).client.create_webhook(
        body.name,
        body.url,
        _events(body.events),
        description=body.description or None,
        secret=body.secret or None,
        status=body.status or None,
    )
    return json_response({"webhook": webhook_json(hook)})


@router.get("/webhooks")
def list_webhooks(
    request: HttpRequest, max_results: int | None = None, page_token: str | None = None
) -> Response:
    """One page of webhooks, newest first → ``{webhooks[], next_page_token}``."""
    found = backend(request).client.list_webhooks(max_results or None, page_token or None)
    return json_response(page("webhooks", map(webhook_json, found), found.token))


@router.get("/webhooks/{webhook_id}")
def get_webhook(webhook_id: str, request: HttpRequest) -> Response:
    """``{webhook}`` (404 when absent)."""
    return json_response({"webhook": webhook_json(backend(request).client.get_webhook(webhook_id))})


@router.patch("/webhooks/{webhook_id}")
def update_webhook(webhook_id: str, body: WebhookIn, request: HttpRequest) -> Response:
    """Change the given fields (``events`` replaces the set) → ``{webhook}``."""
    hook = backend(request).client.update_webhook(
        webhook_id,
        name=body.name or None,
        description=body.description,
        url=body.url or None,
        events=_events(body.events),
        secret=body.secret,
        status=body.status or None,
    )
    return json_response({"webhook": webhook_json(hook)})


@router.delete("/webhooks/{webhook_id}")
def delete_webhook(webhook_id: str, request: HttpRequest) -> Response:
    """Delete a webhook → ``{}``."""
    backend(request).client.delete_webhook(webhook_id)
    return empty_response()


@router.post("/webhooks/{webhook_id}/test")
def test_webhook(webhook_id: str, request: HttpRequest, body: TestIn | None = None) -> Response:
    """Send an example payload now → ``{result: {success, response_status, ...}}``."""
    event = None if body is None or body.event is None else _event(body.event)
    result = backend(request).client.test_webhook(webhook_id, event)
    return json_response({"result": _result_json(result)})
