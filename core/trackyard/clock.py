"""Time as MLflow stores it: one tiny module so the client can stamp times without importing
the store contract (``trackyard.stores`` re-exports :func:`now_ms` for plugin authors)."""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """The current time in epoch milliseconds, as MLflow stores times."""
    return int(time.time() * 1000)
