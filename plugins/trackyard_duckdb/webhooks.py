"""Webhooks in the DuckDB registry (``webhooks`` and ``webhook_events``, registry schema v2).

Columns are MLflow's; the secret is the Fernet token of :mod:`trackyard.webhooks.secrets`;
deleting a webhook removes its rows. Listings are newest first and paged by offset tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList
from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookStatus
from trackyard.errors import TrackyardError, webhook_not_found
from trackyard.search.paging import decode_page_token, encode_page_token
from trackyard.stores import now_ms

if TYPE_CHECKING:
    from trackyard_duckdb._database import Database

__all__ = ["DuckDBWebhooks"]

_COLUMNS = "webhook_id, name, description, url, status, creation_timestamp, last_updated_timestamp"


def _entities(cur: Any, rows: Sequence[Sequence[Any]]) -> list[Webhook]:
    ids = [r[0] for r in rows]
    events: dict[str, list[WebhookEvent]] = {i: [] for i in ids}
    if ids:
        marks = ", ".join("?" * len(ids))
        cur.execute(
            "SELECT webhook_id, entity, action FROM webhook_events "
            f"WHERE webhook_id IN ({marks}) ORDER BY entity, action",
            ids,
        )
        for webhook_id, entity, action in cur.fetchall():
            try:
                events[webhook_id].append(WebhookEvent(entity, action))
            except TrackyardError:
                continue
    return [
        Webhook(
            webhook_id=r[0],
            name=r[1],
            description=r[2],
            url=r[3],
            status=WebhookStatus(r[4]),
            creation_timestamp=int(r[5]),
            last_updated_timestamp=int(r[6]),
            events=events[r[0]],
        )
        for r in rows
    ]


def _row(cur: Any, webhook_id: str, columns: str = _COLUMNS) -> tuple[Any, ...]:
    cur.execute(f"SELECT {columns} FROM webhooks WHERE webhook_id = ?", [webhook_id])
    row = cur.fetchone()
    if row is None:
        raise webhook_not_found(webhook_id)
    return tuple(row)


def _insert_events(cur: Any, webhook_id: str, events: Sequence[WebhookEvent]) -> None:
    cur.executemany(
        "INSERT INTO webhook_events (webhook_id, entity, action) VALUES (?, ?, ?)",
        [[webhook_id, e.entity.value, e.action.value] for e in dict.fromkeys(events)],
    )


class DuckDBWebhooks:
    """The webhook methods of the DuckDB registry store."""

    _db: Database

    def _page(
        self, where: str, params: list[Any], max_results: int | None, page_token: str | None
    ) -> PagedList[Webhook]:
        size = max_results or 100
        offset = decode_page_token(page_token)

        def read(cur: Any) -> PagedList[Webhook]:
            cur.execute(
                f"SELECT {_COLUMNS} FROM webhooks w WHERE TRUE{where} "
                "ORDER BY creation_timestamp DESC, webhook_id LIMIT ? OFFSET ?",
                [*params, size + 1, offset],
            )
            rows = cur.fetchall()
            token = encode_page_token(offset + size) if len(rows) > size else None
            return PagedList(_entities(cur, rows[:size]), token)

        return self._db.read(read)

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """Insert a webhook and its events."""
        from trackyard.webhooks.secrets import encrypt_secret

        token = encrypt_secret(secret)
        webhook_id = str(uuid.uuid4())
        now = now_ms()

        def write(cur: Any) -> None:
            cur.execute(
                "INSERT INTO webhooks (webhook_id, name, description, url, status, secret, "
                "creation_timestamp, last_updated_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    webhook_id,
                    name,
                    description,
                    url,
                    (status or WebhookStatus.ACTIVE).value,
                    token,
                    now,
                    now,
                ],
            )
            _insert_events(cur, webhook_id, events)

        self._db.write(write)
        return self.get_webhook(webhook_id)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Return a webhook."""
        return self._db.read(lambda cur: _entities(cur, [_row(cur, webhook_id)])[0])

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        """One page of webhooks, newest first."""
        return self._page("", [], max_results, page_token)

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        """One page of the webhooks subscribed to ``event``."""
        where = (
            " AND webhook_id IN (SELECT webhook_id FROM webhook_events "
            "WHERE entity = ? AND action = ?)"
        )
        return self._page(where, [event.entity.value, event.action.value], max_results, page_token)

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
        """Change the given columns and replace the events, in one transaction."""
        from trackyard.webhooks.secrets import encrypt_secret

        changes: dict[str, Any] = {
            k: v
            for k, v in (
                ("name", name),
                ("description", description),
                ("url", url),
                ("status", None if status is None else status.value),
                ("secret", None if secret is None else encrypt_secret(secret)),
            )
            if v is not None
        }

        def write(cur: Any) -> None:
            (last,) = _row(cur, webhook_id, "last_updated_timestamp")
            changes["last_updated_timestamp"] = max(now_ms(), int(last))
            sets = ", ".join(f"{c} = ?" for c in changes)
            cur.execute(
                f"UPDATE webhooks SET {sets} WHERE webhook_id = ?", [*changes.values(), webhook_id]
            )
            if events is not None:
                cur.execute("DELETE FROM webhook_events WHERE webhook_id = ?", [webhook_id])
                _insert_events(cur, webhook_id, events)

        self._db.write(write)
        return self.get_webhook(webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a webhook and its events."""

        def write(cur: Any) -> None:
            _row(cur, webhook_id, "webhook_id")
            cur.execute("DELETE FROM webhook_events WHERE webhook_id = ?", [webhook_id])
            cur.execute("DELETE FROM webhooks WHERE webhook_id = ?", [webhook_id])

        self._db.write(write)

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        """Decrypt the stored secret."""
        from trackyard.webhooks.secrets import decrypt_secret

        (token,) = self._db.read(lambda cur: _row(cur, webhook_id, "secret"))
        return decrypt_secret(token)
