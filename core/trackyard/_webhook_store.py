"""The webhook part of the registry store contract (mixed into ``RegistryStore``).

Every method has a default that raises ``FEATURE_DISABLED``: a store that keeps webhooks
overrides them and declares ``Capabilities(webhooks=True)``; the conformance kit
(:mod:`trackyard.testing.webhooks`) then holds it to this contract. Names and signatures
are MLflow's registry ``AbstractStore``'s, plus :meth:`get_webhook_secret`.

Stores receive checked input (the client validated names, URLs and events). Secrets are
write-only: entities returned by every method have ``secret=None``; only
:meth:`get_webhook_secret` gives a secret back, to the delivery worker. Stores that persist
secrets should keep them encrypted (:func:`trackyard.webhooks.secrets.encrypt_secret`).
Listings are newest first (creation time, then id) and leave deleted webhooks out; page
tokens are offsets (:mod:`trackyard.search.paging`).

A store whose *server* keeps and delivers the webhooks (the REST store) sets
``remote_webhooks``: this process then delivers none of the registry events it fires (the
server does, once) and :meth:`MlflowClient.test_webhook` asks the server through
:meth:`test_webhook`; such a store cannot read secrets back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from trackyard.errors import ErrorCode, TrackyardError, webhook_not_found

if TYPE_CHECKING:
    from trackyard.entities import PagedList
    from trackyard.entities.webhook import (
        Webhook,
        WebhookEvent,
        WebhookStatus,
        WebhookTestResult,
    )

__all__ = ["WebhookStoreMixin", "webhook_not_found"]


def _disabled(store: object) -> TrackyardError:
    return TrackyardError(
        f"{type(store).__name__} does not support webhooks.", ErrorCode.FEATURE_DISABLED
    )


class WebhookStoreMixin:
    """Webhooks: create, read, list, update, delete."""

    #: True when the store's server delivers and tests the webhooks (see the module doc).
    remote_webhooks: ClassVar[bool] = False

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """Store a new webhook (id: a UUID; status ACTIVE unless given) and return it."""
        raise _disabled(self)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Return a webhook (RESOURCE_DOES_NOT_EXIST if absent or deleted)."""
        raise _disabled(self)

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """Return one page of webhooks, newest first (default and maximum page: 100/1000)."""
        raise _disabled(self)

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        """As :meth:`list_webhooks`, only webhooks subscribed to ``event`` (any status)."""
        raise _disabled(self)

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
        """Change the fields that are not None (``events`` replaces the set); bump the time."""
        raise _disabled(self)

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook: it disappears from get and list."""
        raise _disabled(self)

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        """The webhook's secret in clear (for signing deliveries), or None."""
        raise _disabled(self)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        """Have the server send a webhook its example payload (``remote_webhooks`` stores)."""
        raise _disabled(self)
