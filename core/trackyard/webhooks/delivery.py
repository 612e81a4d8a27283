"""Webhook delivery: a background worker pool that POSTs events, never the caller.

:func:`handle_event` (called by the built-in ``trackyard_webhooks`` plugin from
``trackyard_on_event``, after the change committed) runs on the caller's thread but never
waits for the network: it reads the store's ACTIVE webhooks for the event (cached for
``TRACKYARD_WEBHOOK_CACHE_TTL`` seconds, forgotten at once when this process changes a
webhook), builds MLflow's payload and puts the delivery on a bounded queue. Worker threads
send it; they never touch the store, which its owner may close at any time.

Each POST goes through :func:`trackyard.webhooks.urls.check_url` and connects to one of the
addresses that check resolved (no second DNS lookup), sends no credentials, follows no
redirect (a 3xx answer is a failure) and times out. Failures (no connection, a timeout, 429,
500, 502, 503, 504) are retried with exponential backoff and jitter, honouring
``Retry-After``, as MLflow's delivery does; a retry resends the same body and delivery id,
so a receiver can drop duplicates. When the queue is full, the event is dropped with a
warning: the caller is never slowed down. At exit, pending work gets
``TRACKYARD_WEBHOOK_EXIT_TIMEOUT`` seconds (default 5) to finish.

Settings (read when used; the ``MLFLOW_`` names are honoured when the ``TRACKYARD_`` ones
are unset): ``TRACKYARD_WEBHOOK_REQUEST_TIMEOUT`` (30 s), ``..._REQUEST_MAX_RETRIES`` (3),
``..._DELIVERY_MAX_WORKERS`` (10), ``..._CACHE_TTL`` (60 s), ``TRACKYARD_WEBHOOK_QUEUE_SIZE``
(10,000 events), ``TRACKYARD_WEBHOOK_BACKOFF_FACTOR`` (1 s: waits of 1, 2, 4 ... s, capped
at 60 s, plus up to one factor of jitter).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trackyard.entities.webhook import Webhook, WebhookEvent, WebhookTestResult
from trackyard.errors import TrackyardError
from trackyard.webhooks import payloads
from trackyard.webhooks.urls import WebhookTarget, check_address, check_url

if TYPE_CHECKING:
    import http.client

__all__ = [
    "DeliveryResult",
    "Dispatcher",
    "forget_webhooks",
    "get_dispatcher",
    "handle_event",
    "post",
    "send",
    "test_webhook",
]

_logger = logging.getLogger("trackyard.webhooks")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 60.0
_BODY_LIMIT = 4096


def _setting(name: str, default: float) -> float:
    for prefix in ("TRACKYARD_", "MLFLOW_"):
        raw = os.environ.get(f"{prefix}WEBHOOK_{name}")
        if raw:
            try:
                return float(raw)
            except ValueError:
                _logger.warning("ignoring %sWEBHOOK_%s=%r (not a number)", prefix, name, raw)
    return default


@dataclass(frozen=True)
class DeliveryResult:
    """What one POST (with its retries) came to.

    Attributes:
        status: the last HTTP status, or None when no response came.
        body: the start of the last response body.
        error: why it failed, or None when it succeeded (status below 300).
        attempts: how many requests were sent.
    """

    status: int | None
    body: str | None
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """True when the endpoint accepted the delivery."""
        return self.error is None


def _connect(target: WebhookTarget, timeout: float) -> socket.socket:
    """Open a TCP connection to one of the checked addresses (re-checked, first that works)."""
    last: OSError | None = None
    for address in target.addresses:
        why = check_address(address)
        if why is not None:  # the allow-list changed since the check
            raise TrackyardError.invalid_parameter_value(f"Refusing {address}: {why}")
        try:
            return socket.create_connection((address, target.port), timeout=timeout)
        except OSError as exc:
            last = exc
    raise last or OSError(f"no address to connect to for {target.host!r}")


def _connection(target: WebhookTarget, timeout: float) -> http.client.HTTPConnection:
    import http.client
    import ssl

    class Pinned(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = _connect(target, timeout)

    if target.scheme == "http":
        return Pinned(target.host, target.port, timeout=timeout)
    context = ssl.create_default_context()

    class PinnedTLS(http.client.HTTPSConnection):
        def connect(self) -> None:
            self.sock = context.wrap_socket(_connect(target, timeout), server_hostname=target.host)

    return PinnedTLS(target.host, target.port, timeout=timeout, context=context)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, str, str]:
    """POST ``body`` once to a checked ``url``; return (status, body start, Retry-After).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE when the URL is refused (before connecting).
        OSError: the connection failed or timed out.
    """
    import http.client

    target = check_url(url)
    conn = _connection(target, timeout)
    try:
        conn.request("POST", target.path, body=body, headers=dict(headers))
        response = conn.getresponse()
        text = response.read(_BODY_LIMIT).decode("utf-8", "replace")
        return response.status, text, response.getheader("Retry-After") or ""
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP response: {exc!r}") from exc
    finally:
        conn.close()


def _backoff(attempt: int, retry_after: str) -> float:
    factor = _setting("BACKOFF_FACTOR", 1.0)
    if retry_after.strip().isdigit():
        return min(float(retry_after), _MAX_BACKOFF_S)
    wait: float = min(factor * 2.0 ** (attempt - 1), _MAX_BACKOFF_S)
    return wait + random.uniform(0, factor)


def send(url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
    """POST with MLflow's retry policy; never raises."""
    retries = int(_setting("REQUEST_MAX_RETRIES", 3))
    timeout = _setting("REQUEST_TIMEOUT", 30.0)
    status: int | None = None
    text: str | None = None
    error = "not sent"
    attempt = 0
    while True:
        attempt += 1
        retry_after = ""
        try:
            status, text, retry_after = post(url, body, headers, timeout)
        except TrackyardError as exc:  # refused by the SSRF guard: never retried
            return DeliveryResult(None, None, exc.message, attempt)
        except OSError as exc:
            status, text, error = None, None, f"request failed: {exc!r}"
        else:
            if status < 300:
                return DeliveryResult(status, text, None, attempt)
            if 300 <= status < 400:
                return DeliveryResult(status, text, f"HTTP {status}: redirects are not followed", 1)
            error = f"HTTP {status}"
            if status not in _RETRY_STATUSES:
                return DeliveryResult(status, text, error, attempt)
        if attempt > retries:
            return DeliveryResult(status, text, f"{error} (after {attempt} attempts)", attempt)
        time.sleep(_backoff(attempt, retry_after))


def test_webhook(
    webhook: Webhook, secret: str | None, event: WebhookEvent | None = None
) -> WebhookTestResult:
    """Send an example payload for ``event`` (default: the webhook's first) and report."""
    chosen = event or webhook.events[0]
    body, headers = payloads.build_request(chosen, payloads.example_payload(chosen), secret)
    result = send(webhook.url, body, headers)
    return WebhookTestResult(
        success=result.ok,
        response_status=result.status,
        response_body=result.body,
        error_message=None if result.ok else f"Failed to test webhook: {result.error}",
    )


@dataclass(frozen=True)
class _Target:
    webhook_id: str
    url: str
    secret: str | None
    unreadable: str | None = None  # why the secret cannot be used


@dataclass(frozen=True)
class _Job:
    event: WebhookEvent
    payload: dict[str, Any]
    targets: tuple[_Target, ...]


class Dispatcher:
    """A bounded queue of deliveries and the worker threads that send them.

    Only :meth:`targets` reads the store, on the caller's thread and cached: workers never
    touch a store (which its owner may close at any time), they only send HTTP requests.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[_Job] = queue.Queue(int(_setting("QUEUE_SIZE", 10_000)))
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        # (id(store), event) -> (expiry, store, targets); the store is kept so that its id
        # cannot be reused by another store while the entry lives
        self._cache: dict[tuple[int, WebhookEvent], tuple[float, Any, tuple[_Target, ...]]]
        self._cache = {}
        self._generation = 0
        self.pid = os.getpid()
        self._max_workers = max(1, int(_setting("DELIVERY_MAX_WORKERS", 10)))
        #: Counters: jobs queued and dropped, deliveries that succeeded and failed.
        self.stats = {"queued": 0, "dropped": 0, "delivered": 0, "failed": 0}

    def targets(self, store: Any, event: WebhookEvent) -> tuple[_Target, ...]:
        """The store's ACTIVE webhooks for ``event`` with their secrets (cached).

        A store that cannot list webhooks (an old database, an error) gives none; the
        problem is logged.
        """
        key = (id(store), event)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            generation = self._generation
            if hit is not None and hit[0] > now and hit[1] is store:
                return hit[2]
        found: list[_Target] = []
        try:
            token: str | None = None
            while True:
                page = store.list_webhooks_by_event(event, max_results=1000, page_token=token)
                for hook in page:
                    if not hook.status.is_active():
                        continue
                    try:
                        secret = store.get_webhook_secret(hook.webhook_id)
                    except TrackyardError as exc:
                        found.append(_Target(hook.webhook_id, hook.url, None, exc.message))
                    else:
                        found.append(_Target(hook.webhook_id, hook.url, secret))
                token = page.token
                if not token:
                    break
        except Exception as exc:
            _logger.warning("cannot list the webhooks of %r for %s: %s", store, event, exc)
            found = []
        result = tuple(found)
        with self._lock:
            if generation == self._generation:
                self._cache[key] = (now + _setting("CACHE_TTL", 60.0), store, result)
        return result

    def submit(
        self, event: WebhookEvent, payload: dict[str, Any], targets: tuple[_Target, ...]
    ) -> bool:
        """Queue a delivery to ``targets`` without waiting; False if the queue was full."""
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(_Job(event, payload, targets))
        except queue.Full:
            with self._idle:
                self._pending -= 1
                self.stats["dropped"] += 1
                self._idle.notify_all()
            _logger.warning("webhook queue full: event %s dropped", event)
            return False
        with self._lock:
            self.stats["queued"] += 1
            if len(self._workers) < self._max_workers:
                worker = threading.Thread(target=self._work, name="trackyard-webhook", daemon=True)
                self._workers.append(worker)
                worker.start()
        return True

    def forget(self) -> None:
        """Drop cached webhook lists (called when this process changes a webhook)."""
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued delivery was made or given up; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._deliver(job)
            except Exception:  # a worker never dies
                _logger.exception("webhook delivery of %s failed", job.event)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, job: _Job) -> None:
        for target in job.targets:
            if target.unreadable is not None:
                _logger.error("webhook %s not delivered: %s", target.webhook_id, target.unreadable)
                with self._lock:
                    self.stats["failed"] += 1
                continue
            body, headers = payloads.build_request(job.event, job.payload, target.secret)
            result = send(target.url, body, headers)
            with self._lock:
                self.stats["delivered" if result.ok else "failed"] += 1
            if not result.ok:
                _logger.error(
                    "webhook %s (%s) for %s failed: %s",
                    target.webhook_id,
                    target.url,
                    job.event,
                    result.error,
                )


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def get_dispatcher() -> Dispatcher:
    """The process's dispatcher (a new one after ``fork``)."""
    global _dispatcher
    with _dispatcher_lock:
        if _dispatcher is None or _dispatcher.pid != os.getpid():
            _dispatcher = Dispatcher()
        return _dispatcher


def forget_webhooks() -> None:
    """Make the next delivery read webhooks from the store again."""
    if _dispatcher is not None:
        _dispatcher.forget()


def handle_event(name: str, entity: Any, data: Mapping[str, Any], store: Any) -> bool:
    """Queue delivery of a committed registry change; True if a webhook will receive it.

    Runs on the caller's thread and never waits for the network: it returns at once when
    the event is not a webhook event or the store keeps no webhooks, reads the store's
    matching webhooks (cached for ``TRACKYARD_WEBHOOK_CACHE_TTL``) and queues the delivery.
    A store with ``remote_webhooks`` (a REST store) is skipped: its server delivers.
    ``entity`` may be a zero-argument callable (see
    :func:`~trackyard.webhooks.payloads.event_payload`).
    """
    if store is None or not getattr(getattr(store, "capabilities", None), "webhooks", False):
        return False
    if getattr(store, "remote_webhooks", False):  # its server delivers them
        return False
    event = payloads.webhook_event(name)
    if event is None:
        return False
    dispatcher = get_dispatcher()
    targets = dispatcher.targets(store, event)
    if not targets:
        return False
    built = payloads.event_payload(name, entity, data)
    if built is None:
        return False
    return dispatcher.submit(built[0], built[1], targets)


def _drain_at_exit() -> None:
    mine = _dispatcher is not None and _dispatcher.pid == os.getpid()
    if mine and _dispatcher is not None and not _dispatcher.flush(_setting("EXIT_TIMEOUT", 5.0)):
        _logger.warning("exiting with webhook deliveries still pending")


atexit.register(_drain_at_exit)
