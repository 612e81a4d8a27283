"""Webhooks: URL safety, secrets at rest, payloads and background delivery.

- :mod:`trackyard.webhooks.urls`: the SSRF guard (``TRACKYARD_WEBHOOK_ALLOWED_NETWORKS``);
- :mod:`trackyard.webhooks.secrets`: Fernet encryption of stored secrets, as MLflow's;
- :mod:`trackyard.webhooks.payloads`: MLflow's payloads, headers and HMAC signature, and
  :func:`~trackyard.webhooks.payloads.verify_signature` for receivers;
- :mod:`trackyard.webhooks.delivery`: the worker pool fed by the built-in
  ``trackyard_webhooks`` plugin; :func:`flush` waits for pending deliveries.

Nothing here is imported by ``import trackyard``; ``http.client``, ``ssl`` and
``cryptography`` are imported on first use.
"""

from __future__ import annotations

__all__ = ["flush"]


def flush(timeout: float | None = None) -> bool:
    """Wait until queued webhook deliveries are done (or given up); False on timeout."""
    from trackyard.webhooks.delivery import _dispatcher

    return True if _dispatcher is None else _dispatcher.flush(timeout)
