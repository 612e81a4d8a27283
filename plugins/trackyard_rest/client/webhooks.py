"""Registry webhooks over MLflow's REST API (``/api/2.0/mlflow/webhooks``).

:class:`RestWebhooksMixin` implements the webhook part of the registry store contract
(:class:`trackyard.stores.WebhookStoreMixin`) for :class:`RestRegistryStore`. The server
keeps, checks (its own SSRF rules) and delivers the webhooks, so the store sets
``remote_webhooks``: this process delivers nothing itself and ``test_webhook`` runs on the
server. Secrets travel only in create and update requests; no answer carries one, none is
logged, and :meth:`get_webhook_secret` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from trackyard.entities import PagedList
from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookStatus, WebhookTestResult
from trackyard.errors import ErrorCode, TrackyardError
from trackyard_rest.client.base import RestStoreMixin

__all__ = ["RestWebhooksMixin", "webhook"]

#: Page size used when listing every webhook to pick those of one event.
_SCAN_PAGE = 1000


def _event_json(event: WebhookEvent) -> dict[str, str]:
    return {"entity": event.entity.value.upper(), "action": event.action.value.upper()}


def webhook(d: Mapping[str, Any]) -> Webhook:
    """A :class:`Webhook` from its JSON (never with a secret)."""
    return Webhook(
        webhook_id=str(d["webhook_id"]),
        name=d.get("name", ""),
        url=d.get("url", ""),
        events=[
            WebhookEvent(e.get("entity", "").lower(), e.get("action", "").lower())
            for e in d.get("events", ())
        ],
        creation_timestamp=int(d.get("creation_timestamp", 0)),
        last_updated_timestamp=int(d.get("last_updated_timestamp", 0)),
        description=d.get("description") or None,
        status=WebhookStatus(str(d.get("status") or "ACTIVE").upper()),
    )


def _path(webhook_id: str, *more: str) -> str:
    return "/".join(["webhooks", quote(webhook_id, safe=""), *more])


class RestWebhooksMixin(RestStoreMixin):
    """The webhook methods of the REST registry store."""

    remote_webhooks: ClassVar[bool] = True

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """POST webhooks."""
        payload: dict[str, Any] = {
            "name": name,
            "url": url,
            "events": [_event_json(e) for e in events],
        }
        if description is not None:
            payload["description"] = description
        if secret is not None:
            payload["secret"] = secret
        if status is not None:
            payload["status"] = status.value
        return webhook(self._call("POST", "webhooks", payload)["webhook"])

    def get_webhook(self, webhook_id: str) -> Webhook:
        """GET webhooks/<id>."""
        return webhook(self._call("GET", _path(webhook_id))["webhook"])

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """GET webhooks (newest first; the server's page tokens pass through)."""
        query: dict[str, Any] = {}
        if max_results is not None:
            query["max_results"] = max_results
        if page_token:
            query["page_token"] = page_token
        out = self._call("GET", "webhooks", query)
        return PagedList(
            [webhook(w) for w in out.get("webhooks", ())], out.get("next_page_token") or None
        )

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        """Every webhook of ``event``, read page by page (MLflow has no such filter).

        ``max_results`` and ``page_token`` are ignored: the whole selection is one page.
        """
        found: list[Webhook] = []
        token: str | None = None
        while True:
            page = self.list_webhooks(_SCAN_PAGE, token)
            found += [w for w in page if event in w.events]
            token = page.token
            if not token:
                return PagedList(found, None)

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent] | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """PATCH webhooks/<id> with the fields that are not None."""
        payload: dict[str, Any] = {}
        for key, value in (
            ("name", name),
            ("description", description),
            ("url", url),
            ("secret", secret),
        ):
            if value is not None:
                payload[key] = value
        if events is not None:
            payload["events"] = [_event_json(e) for e in events]
        if status is not None:
            payload["status"] = status.value
        return webhook(self._call("PATCH", _path(webhook_id), payload)["webhook"])

    def delete_webhook(self, webhook_id: str) -> None:
        """DELETE webhooks/<id>."""
        self._call("DELETE", _path(webhook_id), {})

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        """Refused: the server keeps secrets write-only and delivers itself."""
        raise TrackyardError(
            "A webhook's secret cannot be read back through MLflow's REST API: the tracking "
            "server keeps it, signs and delivers.",
            ErrorCode.FEATURE_DISABLED,
        )

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        """POST webhooks/<id>/test: the server sends the example payload and reports back."""
        payload: dict[str, Any] = {} if event is None else {"event": _event_json(event)}
        result = self._call("POST", _path(webhook_id, "test"), payload).get("result") or {}
        status = result.get("response_status")
        return WebhookTestResult(
            success=bool(result.get("success", False)),
            response_status=None if status is None else int(status),
            response_body=result.get("response_body"),
            error_message=result.get("error_message"),
        )
