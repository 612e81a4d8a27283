"""Firing ``trackyard_on_event``: how a component reports a committed change to plugins.

:func:`emit_event` is what :class:`trackyard.MlflowClient` calls after each committed
change, and what any other writer (the tracking server, a plugin's own API) calls so that
listeners such as the built-in webhook plugin see its changes as well. It costs one check
when no plugin listens.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from trackyard.errors import TrackyardError
from trackyard.plugins.hookspecs import Event

__all__ = ["emit_event", "listening"]

_logger = logging.getLogger("trackyard.plugins")


@functools.lru_cache(maxsize=64)
def _masked(uri: str) -> str:
    from trackyard.uri import mask_credentials

    return mask_credentials(uri)


def listening() -> bool:
    """Whether any plugin implements ``trackyard_on_event`` (so events are worth building)."""
    from trackyard.plugins.manager import get_plugin_manager

    return bool(get_plugin_manager().has_event_listeners())


def emit_event(
    name: str,
    entity: Any,
    store_uri: str,
    data: Mapping[str, Any] | None = None,
    store: Any = None,
) -> bool:
    """Tell every ``trackyard_on_event`` listener about a committed change.

    Args:
        name: ``"<entity>.<action>"`` (the names :class:`trackyard.MlflowClient` uses, e.g.
            ``"model_version.created"``).
        entity: the entity after the change, its id, or None; or a zero-argument callable
            loading it. The callable is called now when some listener may keep the event
            (a TrackyardError from it gives None), else left for the first read of
            :attr:`Event.entity`.
        store_uri: the URI of the store that committed the change (credentials are masked
            before listeners see it).
        data: extra facts about the change (``name``, ``version``, ``key``...).
        store: the store object that committed it (registry events need it: webhooks are
            read from it).

    Returns:
        True when a listener was told, False when no plugin listens (nothing was built).
    """
    from trackyard.plugins.manager import get_plugin_manager

    manager = get_plugin_manager()
    if not manager.has_event_listeners():
        return False
    if callable(entity) and manager.event_entities_wanted():
        try:  # a listener may keep the event: load the entity as it is now
            entity = entity()
        except TrackyardError as exc:  # e.g. deleted meanwhile: still report the change
            _logger.debug("could not load the entity of event %s: %s", name, exc)
            entity = None
    manager.notify(Event(name, entity, _masked(store_uri), dict(data or {}), store))
    return True
