"""Webhooks in MLflow's ``webhooks`` and ``webhook_events`` tables (mixed into the registry).

Rows are MLflow's: the id is a UUID string, ``status`` ``ACTIVE``/``DISABLED``, times in epoch
milliseconds, deletion sets ``deleted_timestamp`` (the row stays, as MLflow's soft delete),
one ``webhook_events`` row per (entity, action), and ``secret`` holds the Fernet token of the
secret made with ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``
(:mod:`trackyard.webhooks.secrets`), so an MLflow server given the same key reads it.
Listings are newest first (``creation_timestamp DESC``, then id) and paged by offset tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from trackyard.entities import PagedList
from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookStatus
from trackyard.errors import ErrorCode, TrackyardError, webhook_not_found
from trackyard.search.paging import decode_page_token, encode_page_token
from trackyard.stores import now_ms

if TYPE_CHECKING:
    from trackyard_sql.database import Database
    from trackyard_sql.dialect import Dialect

__all__ = ["SqlWebhooks"]

T = TypeVar("T")
_COLUMNS = (
    "webhook_id",
    "name",
    "description",
    "url",
    "status",
    "creation_timestamp",
    "last_updated_timestamp",
)
_SELECT = ", ".join(f"w.{c}" for c in _COLUMNS)
_LABELS = {"name": "webhook name", "description": "webhook description", "url": "webhook URL"}


class SqlWebhooks:
    """The webhook methods of the SQL registry store."""

    _db: Database
    _d: Dialect

    if TYPE_CHECKING:

        def _read(self, fn: Callable[[Any], T]) -> T: ...

        def _write(self, fn: Callable[[Any], T]) -> T: ...

    # -- helpers ---------------------------------------------------------------------------
    def _hook_scope(self) -> tuple[str, list[Any]]:
        layout = self._db.layout
        if not layout.has("webhooks"):
            raise TrackyardError(
                "This database has no webhooks table (created by an MLflow older than 3.3); "
                "upgrade it with `mlflow db upgrade` to keep webhooks.",
                ErrorCode.FEATURE_DISABLED,
            )
        if layout.has("webhooks", "workspace"):
            return " AND w.workspace = ?", ["default"]
        return "", []

    def _check_widths(self, **values: str | None) -> None:
        for column, value in values.items():
            self._db.check_width("webhooks", column, value, _LABELS[column])

    def _events_of(self, cur: Any, ids: Sequence[str]) -> dict[str, list[WebhookEvent]]:
        out: dict[str, list[WebhookEvent]] = {i: [] for i in ids}
        if not ids:
            return out
        cur.execute(
            self._d.sql(
                "SELECT webhook_id, entity, action FROM webhook_events "
                f"WHERE webhook_id IN ({self._d.marks(len(ids))}) ORDER BY entity, action"
            ),
            list(ids),
        )
        for webhook_id, entity, action in cur.fetchall():
            try:
                out[webhook_id].append(WebhookEvent(entity, action))
            except TrackyardError:  # a pair a newer MLflow wrote: not ours to deliver
                continue
        return out

    def _entities(self, cur: Any, rows: Sequence[Sequence[Any]]) -> list[Webhook]:
        events = self._events_of(cur, [r[0] for r in rows])
        return [
            Webhook(
                webhook_id=r[0],
                name=r[1],
                description=r[2],
                url=r[3],
                status=WebhookStatus(r[4]),
                creation_timestamp=int(r[5] or 0),
                last_updated_timestamp=int(r[6] if r[6] is not None else r[5] or 0),
                events=events[r[0]],
            )
            for r in rows
        ]

    def _hook_row(self, cur: Any, webhook_id: str, columns: str = _SELECT) -> tuple[Any, ...]:
        scope, params = self._hook_scope()
        cur.execute(
            self._d.sql(
                f"SELECT {columns} FROM webhooks w WHERE w.webhook_id = ? "
                f"AND w.deleted_timestamp IS NULL{scope}"
            ),
            [webhook_id, *params],
        )
        row = cur.fetchone()
        if row is None:
            raise webhook_not_found(webhook_id)
        return tuple(row)

    def _insert_events(self, cur: Any, webhook_id: str, events: Sequence[WebhookEvent]) -> None:
        unique = list(dict.fromkeys(events))
        cur.executemany(
            self._d.sql("INSERT INTO webhook_events (webhook_id, entity, action) VALUES (?, ?, ?)"),
            [[webhook_id, e.entity.value, e.action.value] for e in unique],
        )

    def _page(
        self, where: str, params: list[Any], max_results: int | None, page_token: str | None
    ) -> PagedList[Webhook]:
        size = max_results or 100
        offset = decode_page_token(page_token)
        scope, scope_params = self._hook_scope()
        paging, paging_params = self._d.limit_offset(size + 1, offset)

        def read(cur: Any) -> PagedList[Webhook]:
            cur.execute(
                self._d.sql(
                    f"SELECT {_SELECT} FROM webhooks w WHERE w.deleted_timestamp IS NULL"
                    f"{scope}{where} ORDER BY w.creation_timestamp DESC, w.webhook_id {paging}"
                ),
                [*scope_params, *params, *paging_params],
            )
            rows = cur.fetchall()
            token = encode_page_token(offset + size) if len(rows) > size else None
            return PagedList(self._entities(cur, rows[:size]), token)

        return self._read(read)

    # -- the contract ----------------------------------------------------------------------
    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        """Insert a webhook row and its event rows."""
        from trackyard.webhooks.secrets import encrypt_secret

        self._check_widths(name=name, url=url, description=description)
        scope, scope_params = self._hook_scope()
        token = encrypt_secret(secret)
        webhook_id = str(uuid.uuid4())
        now = now_ms()
        columns = [
            "webhook_id",
            "name",
            "description",
            "url",
            "status",
            "secret",
            "creation_timestamp",
            "last_updated_timestamp",
        ]
        values: list[Any] = [
            webhook_id,
            name,
            description,
            url,
            (status or WebhookStatus.ACTIVE).value,
            token,
            now,
            now,
        ]
        if scope:
            columns.append("workspace")
            values += scope_params

        def write(cur: Any) -> None:
            cur.execute(
                self._d.sql(
                    f"INSERT INTO webhooks ({', '.join(columns)}) "
                    f"VALUES ({self._d.marks(len(columns))})"
                ),
                values,
            )
            self._insert_events(cur, webhook_id, events)

        self._write(write)
        return self.get_webhook(webhook_id)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Return a webhook (deleted ones are absent)."""

        def read(cur: Any) -> Webhook:
            return self._entities(cur, [self._hook_row(cur, webhook_id)])[0]

        return self._read(read)

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
            " AND w.webhook_id IN (SELECT e.webhook_id FROM webhook_events e "
            "WHERE e.entity = ? AND e.action = ?)"
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
        """Change the given columns (and replace the event rows) in one transaction."""
        from trackyard.webhooks.secrets import encrypt_secret

        self._check_widths(name=name, url=url, description=description)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        if url is not None:
            changes["url"] = url
        if status is not None:
            changes["status"] = status.value
        if secret is not None:
            changes["secret"] = encrypt_secret(secret)

        def write(cur: Any) -> None:
            row = self._hook_row(cur, webhook_id, "w.last_updated_timestamp")
            changes["last_updated_timestamp"] = max(now_ms(), int(row[0] or 0))
            sets = ", ".join(f"{c} = ?" for c in changes)
            cur.execute(
                self._d.sql(f"UPDATE webhooks SET {sets} WHERE webhook_id = ?"),
                [*changes.values(), webhook_id],
            )
            if events is not None:
                cur.execute(
                    self._d.sql("DELETE FROM webhook_events WHERE webhook_id = ?"), [webhook_id]
                )
                self._insert_events(cur, webhook_id, events)

        self._write(write)
        return self.get_webhook(webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        """Soft-delete: set ``deleted_timestamp`` (and ``last_updated_timestamp``)."""

        def write(cur: Any) -> None:
            self._hook_row(cur, webhook_id, "w.webhook_id")
            now = now_ms()
            cur.execute(
                self._d.sql(
                    "UPDATE webhooks SET deleted_timestamp = ?, last_updated_timestamp = ? "
                    "WHERE webhook_id = ?"
                ),
                [now, now, webhook_id],
            )

        self._write(write)

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        """Decrypt the stored secret (SecretUnreadableError if another key made it)."""
        from trackyard.webhooks.secrets import decrypt_secret

        row = self._read(lambda cur: self._hook_row(cur, webhook_id, "w.secret"))
        return decrypt_secret(row[0])
