"""trackyard's built-in webhook delivery plugin (see :mod:`trackyard_webhooks.hooks`)."""

from __future__ import annotations

__all__: list[str] = []
