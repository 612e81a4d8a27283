"""trackyard-tee: a tracking store that writes to several stores and reads from the first.

Point trackyard at a ``tee:`` URI and every write goes to the primary and to each secondary;
a secondary that is unavailable gets its writes queued durably on disk and replayed, in order,
when it is back::

    tee:///?targets=<primary uri>,<secondary uri>&queue=/var/lib/trackyard/tee

Target URIs are percent-encoded (:func:`format_tee_uri` builds the URI). The store itself is
:class:`trackyard_tee.store.TeeTrackingStore`; this module stays cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackyard_tee.config import TeeConfig, format_tee_uri, parse_tee_uri

if TYPE_CHECKING:
    from trackyard_tee.store import TeeTrackingStore

__all__ = ["TeeConfig", "format_tee_uri", "get_store", "parse_tee_uri"]


def get_store(uri: str) -> TeeTrackingStore:
    """Return the process's shared tee store for ``uri`` (to call ``flush()`` or ``status()``).

    Raises:
        TypeError: ``uri`` does not select a tee store.
    """
    from trackyard.backends import get_tracking_store

    from trackyard_tee.store import TeeTrackingStore

    store = get_tracking_store(uri)
    if not isinstance(store, TeeTrackingStore):
        raise TypeError(f"{type(store).__name__} is not a tee store")
    return store
