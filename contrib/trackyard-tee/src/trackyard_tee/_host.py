"""What the tee store's method groups (:mod:`.gc`, :mod:`.imports`, :mod:`.traces`) use of it.

The groups are mixins of :class:`~trackyard_tee.store.TeeTrackingStore`; they call a few of
its members, declared here once for the type checker. At run time the class is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

    from trackyard_tee.store import _Secondary

__all__ = ["TeeHost"]

T = TypeVar("T")


class TeeHost:
    """The members of the tee store that its method groups call."""

    if TYPE_CHECKING:

        @property
        def primary(self) -> TrackingStore: ...

        def _write(
            self, op: str, primary: Callable[[], T], record: Callable[[T], dict[str, Any]]
        ) -> T: ...
        def _experiment_id(self, s: _Secondary, store: TrackingStore, primary_id: str) -> str: ...
        def _run_id(self, s: _Secondary, store: TrackingStore, primary_id: str) -> str: ...
        def _find_run(
            self, s: _Secondary, store: TrackingStore, experiment_id: str, primary_id: str
        ) -> str | None: ...
