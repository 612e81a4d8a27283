"""Webhooks on :class:`trackyard.MlflowClient` (MLflow 3's webhook API).

Both signatures work: MLflow's ``create_webhook(name, url, events, description=None,
secret=None, status=None)`` and the client document's ``create_webhook(events,
http_url_spec, description=None, status="ACTIVE", model_name=None)``, where
``http_url_spec`` is ``{"url": ..., "secret": ...}``, events may be written
``"MODEL_VERSION_CREATED"`` and status ``"INACTIVE"`` means DISABLED. Likewise
``list_webhooks(max_results=None, page_token=None)`` and ``list_webhooks(events=None,
model_name=None, page_token=None)``.

Every input is checked before the store is called (nothing is written on bad input): the
name (MLflow's rule), the URL (:func:`trackyard.webhooks.urls.check_url`: http(s), no
credentials, every resolved address public unless ``TRACKYARD_WEBHOOK_ALLOWED_NETWORKS``
allows it), the events, the description and the secret. Secrets are never returned, logged
or put in error messages.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList
from trackyard.entities.webhook import (
    VALID_WEBHOOK_EVENTS,
    Webhook,
    WebhookEvent,
    WebhookStatus,
    WebhookTestResult,
)
from trackyard.errors import TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import RegistryStore

__all__ = [
    "WebhookClientMixin",
    "validate_webhook_events",
    "validate_webhook_name",
    "validate_webhook_status",
]

_NAME_RE = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)
_MAX_DESCRIPTION = 1000
_MAX_SECRET = 600  # its Fernet token must fit MLflow's VARCHAR(1000) column
_MAX_ID = 256
_SPEC_KEYS = frozenset({"url", "secret", "enable_ssl_verification"})


def _invalid(message: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(message)


def validate_webhook_name(name: object) -> str:
    """MLflow's rule: 1-63 letters, digits, ``. _ -``, starting and ending alphanumeric."""
    if not isinstance(name, str):
        raise _invalid(f"Webhook name must be a string, got {type(name).__name__!r}")
    if not _NAME_RE.fullmatch(name):
        raise _invalid(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be at most 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )
    return name


def _event(item: object) -> WebhookEvent:
    if isinstance(item, WebhookEvent):
        return item
    if isinstance(item, str):
        if "." in item:
            return WebhookEvent.from_str(item)
        flat = item.lower()  # the document's MODEL_VERSION_CREATED style
        for entity, actions in VALID_WEBHOOK_EVENTS.items():
            for action in actions:
                if flat == f"{entity.value}_{action.value}":
                    return WebhookEvent(entity, action)
    raise _invalid(
        f"Invalid webhook event {item!r}: use 'entity.action' strings such as "
        "'model_version.created', or WebhookEvent objects."
    )


def validate_webhook_events(events: object) -> list[WebhookEvent]:
    """A non-empty list of known events (strings or ``WebhookEvent``), duplicates dropped."""
    if isinstance(events, (str, WebhookEvent)) or not isinstance(events, Sequence) or not events:
        raise _invalid(f"Webhook events must be a non-empty list of events: {events!r}.")
    out: list[WebhookEvent] = []
    for item in events:
        event = _event(item)
        if event not in out:
            out.append(event)
    return out


def validate_webhook_status(status: object) -> WebhookStatus:
    """ACTIVE or DISABLED (any case; the document's INACTIVE means DISABLED)."""
    if isinstance(status, WebhookStatus):
        return status
    if isinstance(status, str):
        upper = status.upper()
        if upper == "INACTIVE":
            return WebhookStatus.DISABLED
        if upper in WebhookStatus.__members__:
            return WebhookStatus[upper]
    raise _invalid(f"Invalid webhook status {status!r}; expected 'ACTIVE' or 'DISABLED'.")


def _check_url(url: object) -> str:
    from trackyard.webhooks.urls import check_url

    check_url(url)
    assert isinstance(url, str)
    return url


def _check_description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str) or len(description) > _MAX_DESCRIPTION:
        raise _invalid(
            f"Webhook description must be a string of at most {_MAX_DESCRIPTION} characters."
        )
    return description


def _check_secret(secret: object) -> str | None:
    if secret is None:
        return None
    if not isinstance(secret, str) or len(secret) > _MAX_SECRET:
        # never echo the value
        raise _invalid(f"Webhook secret must be a string of at most {_MAX_SECRET} characters.")
    return secret


def _check_id(webhook_id: object) -> str:
    if not isinstance(webhook_id, str) or not webhook_id or len(webhook_id) > _MAX_ID:
        raise _invalid(f"Invalid webhook ID {webhook_id!r}")
    return webhook_id


def _max_results(max_results: object) -> int:
    if max_results is None:
        return 100
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 1 <= max_results <= 1000
    ):
        raise _invalid("max_results must be between 1 and 1000.")
    return max_results


def _from_spec(spec: object) -> tuple[str, str | None]:
    """The URL and secret of the document's ``http_url_spec``."""
    if not isinstance(spec, Mapping) or "url" not in spec:
        raise _invalid("http_url_spec must be a dict with a 'url' (and optionally a 'secret').")
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise _invalid(f"http_url_spec keys {unknown} are not supported.")
    if spec.get("enable_ssl_verification", True) is not True:
        raise _invalid("Webhooks always verify TLS certificates (enable_ssl_verification).")
    return spec["url"], spec.get("secret")


def _refuse_model_name(model_name: object) -> None:
    if model_name is not None:
        raise _invalid(
            "model_name filters are not supported: MLflow's webhooks receive the events of "
            "every model."
        )


class WebhookClientMixin:
    """Webhook methods of :class:`trackyard.MlflowClient`."""

    if TYPE_CHECKING:

        @property
        def _registry_store(self) -> RegistryStore: ...

    def _webhook_store(self) -> RegistryStore:
        store = self._registry_store
        if not store.capabilities.webhooks:
            from trackyard.stores import unsupported

            raise unsupported(store, "webhooks")
        return store

    @staticmethod
    def _forget_webhooks() -> None:
        import sys

        delivery = sys.modules.get("trackyard.webhooks.delivery")
        if delivery is not None:
            delivery.forget_webhooks()

    def create_webhook(
        self,
        name: Any = None,
        url: Any = None,
        events: Any = None,
        description: Any = None,
        secret: Any = None,
        status: Any = None,
        *,
        http_url_spec: Mapping[str, Any] | None = None,
        model_name: str | None = None,
    ) -> Webhook:
        """Create a webhook and return it (without its secret).

        MLflow's form: ``create_webhook(name, url, events, description=None, secret=None,
        status=None)``. The document's: ``create_webhook(events, http_url_spec,
        description=None, status="ACTIVE", model_name=None)`` (a name is made up).

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for a bad name, URL (refused schemes,
                credentials, private or loopback addresses ...), event, status, description
                or secret; FEATURE_DISABLED when the registry store keeps no webhooks.
        """
        if http_url_spec is not None or isinstance(name, (list, tuple)):
            # the document's form: (events, http_url_spec, description, status, model_name)
            doc_events = name if isinstance(name, (list, tuple)) else events
            spec = http_url_spec if http_url_spec is not None else url
            if isinstance(name, (list, tuple)) and events is not None:  # 3rd positional
                description, status, model_name = events, description, secret or model_name
            url, secret = _from_spec(spec)
            if not isinstance(name, str):  # the document's form has no name: make one up
                name = f"webhook-{uuid.uuid4().hex[:12]}"
            events = doc_events
        _refuse_model_name(model_name)
        name = validate_webhook_name(name)
        checked_events = validate_webhook_events(events)
        checked_status = WebhookStatus.ACTIVE if status is None else validate_webhook_status(status)
        description = _check_description(description)
        secret = _check_secret(secret)
        url = _check_url(url)
        store = self._webhook_store()
        webhook = store.create_webhook(
            name, url, checked_events, description, secret, checked_status
        )
        self._forget_webhooks()
        return webhook

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Return a webhook (RESOURCE_DOES_NOT_EXIST if absent or deleted); no secret."""
        return self._webhook_store().get_webhook(_check_id(webhook_id))

    def list_webhooks(
        self,
        max_results: Any = None,
        page_token: Any = None,
        *args: Any,
        events: Sequence[Any] | None = None,
        model_name: str | None = None,
    ) -> PagedList[Webhook]:
        """Return one page of webhooks, newest first (page size 100 by default, at most 1000).

        MLflow's form: ``list_webhooks(max_results=None, page_token=None)``. The document's:
        ``list_webhooks(events=None, model_name=None, page_token=None)``: only webhooks
        subscribed to one of ``events``.
        """
        from trackyard.search.paging import decode_page_token

        if isinstance(max_results, (list, tuple)):  # the document's positional form
            events, model_name = max_results, page_token
            page_token = args[0] if args else None
            max_results = None
        elif args:
            raise TypeError("list_webhooks() takes at most 2 positional arguments")
        _refuse_model_name(model_name)
        size = _max_results(max_results)
        if page_token is not None and not isinstance(page_token, str):
            raise _invalid(f"Invalid page token {page_token!r}")
        decode_page_token(page_token)
        store = self._webhook_store()
        if events is None:
            return store.list_webhooks(size, page_token or None)
        wanted = validate_webhook_events(events)
        from trackyard.search.evaluator import paginate

        found: dict[str, Webhook] = {}
        for event in wanted:
            token: str | None = None
            while True:
                page = store.list_webhooks_by_event(event, 1000, token)
                for hook in page:
                    found.setdefault(hook.webhook_id, hook)
                token = page.token
                if not token:
                    break
        ordered = sorted(found.values(), key=lambda w: (-w.creation_timestamp, w.webhook_id))
        return paginate(ordered, size, page_token or None)

    def update_webhook(
        self,
        webhook_id: str,
        name: Any = None,
        description: Any = None,
        url: Any = None,
        events: Any = None,
        secret: Any = None,
        status: Any = None,
        *,
        http_url_spec: Mapping[str, Any] | None = None,
    ) -> Webhook:
        """Change the given fields of a webhook and return it (``events`` replaces the set).

        ``http_url_spec`` (the document's) sets the URL and, if it has one, the secret.
        Everything is checked before anything is written.
        """
        webhook_id = _check_id(webhook_id)
        if http_url_spec is not None:
            url, spec_secret = _from_spec(http_url_spec)
            secret = spec_secret if spec_secret is not None else secret
        if name is not None:
            name = validate_webhook_name(name)
        checked_events = None if events is None else validate_webhook_events(events)
        checked_status = None if status is None else validate_webhook_status(status)
        description = _check_description(description)
        secret = _check_secret(secret)
        if url is not None:
            url = _check_url(url)
        store = self._webhook_store()
        webhook = store.update_webhook(
            webhook_id, name, description, url, checked_events, secret, checked_status
        )
        self._forget_webhooks()
        return webhook

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook (RESOURCE_DOES_NOT_EXIST if absent)."""
        self._webhook_store().delete_webhook(_check_id(webhook_id))
        self._forget_webhooks()

    def test_webhook(self, webhook_id: str, event: Any = None) -> WebhookTestResult:
        """POST an example payload to a webhook now and report how it went.

        Args:
            webhook_id: the webhook.
            event: the event whose example payload to send (a ``WebhookEvent`` or
                ``"entity.action"``); default: the webhook's first event.

        Returns:
            The result: ``success`` when the endpoint answered below 300. A refused URL, a
            failed connection or an unreadable secret is reported in ``error_message``.
        """
        from trackyard.webhooks.delivery import test_webhook

        chosen = None if event is None else _event(event)
        store = self._webhook_store()
        if store.remote_webhooks:  # the server holds the secret and sends the request
            return store.test_webhook(_check_id(webhook_id), chosen)
        webhook = store.get_webhook(_check_id(webhook_id))
        try:
            secret = store.get_webhook_secret(webhook.webhook_id)
        except TrackyardError as exc:
            return WebhookTestResult(False, error_message=f"Failed to test webhook: {exc.message}")
        return test_webhook(webhook, secret, chosen)
