"""Webhooks in the file store: one JSON file next to the experiments, MLflow leaves alone.

MLflow's file store keeps no webhooks, so the layout is trackyard's own::

    <root>/.trackyard-webhooks.json     {"webhooks": [{"webhook_id": ..., "name": ...,
                                          "url": ..., "events": ["model_version.created"],
                                          "status": "ACTIVE", "secret": <Fernet token>,
                                          "creation_timestamp": ..., ...}, ...]}

It is a file, not a folder, so MLflow (which reads folders of the root as experiments)
never sees it. Every change holds the registry lock and replaces the file atomically;
secrets are Fernet tokens as in MLflow's SQL store (:mod:`trackyard.webhooks.secrets`).
Deleting a webhook removes it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from trackyard.entities import PagedList
from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookStatus
from trackyard.errors import ErrorCode, TrackyardError, webhook_not_found
from trackyard.search.evaluator import paginate
from trackyard.stores import now_ms
from trackyard_file._fs import read_bytes, write_atomic, writes

__all__ = ["WEBHOOKS_FILE", "FileWebhooks"]

T = TypeVar("T")
WEBHOOKS_FILE = ".trackyard-webhooks.json"


def _entity(raw: dict[str, Any]) -> Webhook:
    events = []
    for text in raw.get("events", []):
        try:
            events.append(WebhookEvent.from_str(text))
        except TrackyardError:  # written by a newer trackyard: not ours to deliver
            continue
    return Webhook(
        webhook_id=raw["webhook_id"],
        name=raw["name"],
        url=raw["url"],
        events=events,
        creation_timestamp=int(raw["creation_timestamp"]),
        last_updated_timestamp=int(raw["last_updated_timestamp"]),
        description=raw.get("description"),
        status=WebhookStatus(raw.get("status", "ACTIVE")),
    )


class FileWebhooks:
    """The webhook methods of the file registry store."""

    root: str
    _sync_meta: bool

    if TYPE_CHECKING:

        def _writing(self) -> AbstractContextManager[int]: ...

        def _reading(self) -> AbstractContextManager[None]: ...

    @property
    def _webhooks_path(self) -> str:
        return os.path.join(self.root, WEBHOOKS_FILE)

    def _load_hooks(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(read_bytes(self._webhooks_path))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise TrackyardError(
                f"The webhook file {self._webhooks_path!r} cannot be read: {exc}",
                ErrorCode.INTERNAL_ERROR,
            ) from exc
        hooks = data.get("webhooks", []) if isinstance(data, dict) else []
        return [h for h in hooks if isinstance(h, dict)]

    def _save_hooks(self, hooks: list[dict[str, Any]]) -> None:
        data = json.dumps({"webhooks": hooks}, indent=1, sort_keys=True).encode("utf-8")
        write_atomic(self._webhooks_path, data, sync=self._sync_meta)

    def _change(self, fn: Callable[[list[dict[str, Any]]], T]) -> T:
        with self._writing():
            hooks = self._load_hooks()
            result = fn(hooks)
            self._save_hooks(hooks)
            return result

    def _read_hooks(self) -> list[dict[str, Any]]:
        with self._reading():
            return self._load_hooks()

    @staticmethod
    def _find(hooks: list[dict[str, Any]], webhook_id: str) -> dict[str, Any]:
        for hook in hooks:
            if hook.get("webhook_id") == webhook_id:
                return hook
        raise webhook_not_found(webhook_id)

    def _listed(self, event: WebhookEvent | None) -> Iterator[Webhook]:
        wanted = None if event is None else str(event)
        found = [_entity(h) for h in self._read_hooks() if wanted is None or wanted in h["events"]]
        yield from sorted(found, key=lambda w: (-w.creation_timestamp, w.webhook_id))

    # -- the contract ----------------------------------------------------------------------
    @writes
    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """Add a webhook to the file."""
        from trackyard.webhooks.secrets import encrypt_secret

        now = now_ms()
        raw = {
            "webhook_id": str(uuid.uuid4()),
            "name": name,
            "url": url,
            "events": [str(e) for e in dict.fromkeys(events)],
            "description": description,
            "status": (status or WebhookStatus.ACTIVE).value,
            "secret": encrypt_secret(secret),
            "creation_timestamp": now,
            "last_updated_timestamp": now,
        }
        self._change(lambda hooks: hooks.append(raw))
        return _entity(raw)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Return a webhook."""
        return _entity(self._find(self._read_hooks(), webhook_id))

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """One page of webhooks, newest first."""
        return paginate(list(self._listed(None)), max_results or 100, page_token)

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        """One page of the webhooks subscribed to ``event``."""
        return paginate(list(self._listed(event)), max_results or 100, page_token)

    @writes
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
        from trackyard.webhooks.secrets import encrypt_secret

        token = None if secret is None else encrypt_secret(secret)

        def change(hooks: list[dict[str, Any]]) -> dict[str, Any]:
            raw = self._find(hooks, webhook_id)
            for key, value in (
                ("name", name),
                ("description", description),
                ("url", url),
                ("secret", token),
                ("status", None if status is None else status.value),
                ("events", None if events is None else [str(e) for e in dict.fromkeys(events)]),
            ):
                if value is not None:
                    raw[key] = value
            raw["last_updated_timestamp"] = max(now_ms(), int(raw["last_updated_timestamp"]))
            return dict(raw)

        return _entity(self._change(change))

    @writes
    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook from the file."""
        self._change(lambda hooks: hooks.remove(self._find(hooks, webhook_id)))

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        """Decrypt the stored secret."""
        from trackyard.webhooks.secrets import decrypt_secret

        token = self._find(self._read_hooks(), webhook_id).get("secret")
        return decrypt_secret(token if isinstance(token, str) else None)
