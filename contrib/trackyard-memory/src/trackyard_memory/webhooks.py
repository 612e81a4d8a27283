"""Webhooks in the memory registry store (mixed into :class:`MemoryRegistryStore`).

Secrets are kept in clear, in this process only, and given back solely by
:meth:`get_webhook_secret`; entities carry ``secret=None``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from trackyard.entities import PagedList
from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookStatus
from trackyard.errors import webhook_not_found
from trackyard.search.evaluator import paginate
from trackyard.stores import now_ms

if TYPE_CHECKING:
    import threading

__all__ = ["MemoryWebhooks"]


@dataclass
class _Hook:
    webhook: Webhook
    secret: str | None
    deleted: bool = False


@dataclass
class _WebhookData:
    hooks: dict[str, _Hook] = field(default_factory=dict)


class MemoryWebhooks:
    """The webhook methods of the memory registry store."""

    _lock: threading.RLock

    def _webhook_data(self) -> _WebhookData:
        raise NotImplementedError  # provided by the store

    def _hook(self, webhook_id: str) -> _Hook:
        hook = self._webhook_data().hooks.get(webhook_id)
        if hook is None or hook.deleted:
            raise webhook_not_found(webhook_id)
        return hook

    @staticmethod
    def _copy(hook: _Hook) -> Webhook:
        return replace(hook.webhook, events=list(hook.webhook.events), secret=None)

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """Store a new webhook."""
        now = now_ms()
        webhook = Webhook(
            webhook_id=str(uuid.uuid4()),
            name=name,
            url=url,
            events=list(dict.fromkeys(events)),
            creation_timestamp=now,
            last_updated_timestamp=now,
            description=description,
            status=status or WebhookStatus.ACTIVE,
        )
        hook = _Hook(webhook, secret)
        with self._lock:
            self._webhook_data().hooks[webhook.webhook_id] = hook
            return self._copy(hook)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Return a webhook."""
        with self._lock:
            return self._copy(self._hook(webhook_id))

    def _listed(self, event: WebhookEvent | None) -> list[Webhook]:
        with self._lock:
            hooks = [
                self._copy(h)
                for h in self._webhook_data().hooks.values()
                if not h.deleted and (event is None or event in h.webhook.events)
            ]
        return sorted(hooks, key=lambda w: (-w.creation_timestamp, w.webhook_id))

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """Return one page of webhooks, newest first."""
        return paginate(self._listed(None), max_results or 100, page_token)

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        """Return one page of the webhooks subscribed to ``event``."""
        return paginate(self._listed(event), max_results or 100, page_token)

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
        """Change the given fields."""
        with self._lock:
            hook = self._hook(webhook_id)
            w = hook.webhook
            hook.webhook = replace(
                w,
                name=w.name if name is None else name,
                description=w.description if description is None else description,
                url=w.url if url is None else url,
                events=w.events if events is None else list(dict.fromkeys(events)),
                status=w.status if status is None else status,
                last_updated_timestamp=max(now_ms(), w.last_updated_timestamp),
            )
            if secret is not None:
                hook.secret = secret
            return self._copy(hook)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook."""
        with self._lock:
            self._hook(webhook_id).deleted = True

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        """The secret in clear."""
        with self._lock:
            return self._hook(webhook_id).secret
