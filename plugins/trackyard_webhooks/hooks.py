"""Deliver registry events to webhooks: a ``trackyard_on_event`` listener.

The client fires ``trackyard_on_event`` after a registry change committed; for the events
MLflow's webhooks know (``model_version.created``, ``prompt_alias.deleted`` ...) on a
registry store that keeps webhooks, this listener hands the event to the background
delivery worker (:mod:`trackyard.webhooks.delivery`) and returns at once. Other events
cost a set lookup. Disable delivery with ``TRACKYARD_DISABLE_PLUGINS=trackyard_webhooks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackyard.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from trackyard.plugins.hookspecs import Event

__all__ = ["WEBHOOK_EVENT_NAMES", "trackyard_on_event"]

#: The event names MLflow delivers to webhooks (the registry client fires all of them).
WEBHOOK_EVENT_NAMES = frozenset(
    {
        "registered_model.created",
        "model_version.created",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.deleted",
        "prompt.created",
        "prompt_version.created",
        "prompt_tag.set",
        "prompt_tag.deleted",
        "prompt_version_tag.set",
        "prompt_version_tag.deleted",
        "prompt_alias.created",
        "prompt_alias.deleted",
    }
)


@hookimpl
def trackyard_on_event(event: Event) -> None:
    """Queue delivery of ``event`` to the store's matching ACTIVE webhooks."""
    store = event.store
    if event.name not in WEBHOOK_EVENT_NAMES or store is None:
        return
    capabilities = getattr(store, "capabilities", None)
    if not getattr(capabilities, "webhooks", False):
        return
    from trackyard.webhooks.delivery import handle_event

    # the entity is read only for events whose payload needs it (a tag event's loader
    # would cost a store read)
    handle_event(event.name, lambda: event.entity, event.data, store)


# it reads ``event.entity`` only during the call: the client may leave it unloaded
trackyard_on_event.lazy_entity = True  # type: ignore[attr-defined]
