"""Garbage collection through a tee: listed on the primary, hard deletes forwarded like writes.

The tee declares ``gc`` only when every target has it. ``deleted_runs`` and
``deleted_experiments`` read the primary. A hard delete is applied to the primary, then
journaled and applied to each secondary with the secondary's id (the tee's id map, else
the origin tag). Replays are idempotent: something already gone on a secondary counts as
done. A secondary experiment is only removed when it is provably the primary's (its origin
tag names it, or, without one, it has the same id and name), so a hard delete never reaches
an unrelated experiment that happens to share an id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import DeletedExperiment, DeletedRun

from trackyard_tee._host import TeeHost

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

    from trackyard_tee.store import _Secondary

__all__ = ["GC_OPS", "TeeGc"]

GC_OPS = frozenset({"hard_delete_run", "hard_delete_experiment"})
#: Same as trackyard_tee.store.ORIGIN_EXPERIMENT_TAG / ORIGIN_RUN_TAG (not imported: cycle).
_ORIGIN_EXPERIMENT_TAG = "trackyard.tee.origin_experiment_id"


def _gone(exc: TrackyardError) -> bool:
    return exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST


class TeeGc(TeeHost):
    """The garbage-collection methods of :class:`~trackyard_tee.store.TeeTrackingStore`."""

    def deleted_runs(
        self,
        deleted_before: int | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> list[DeletedRun]:
        """The primary's deleted runs."""
        return self.primary.deleted_runs(deleted_before, experiment_ids)

    def deleted_experiments(self, deleted_before: int | None = None) -> list[DeletedExperiment]:
        """The primary's deleted experiments."""
        return self.primary.deleted_experiments(deleted_before)

    def hard_delete_run(self, run_id: str) -> None:
        """Remove the run from the primary, then from every secondary."""

        def primary() -> str:
            experiment_id = self.primary.get_run(run_id).info.experiment_id
            self.primary.hard_delete_run(run_id)
            return experiment_id

        self._write(
            "hard_delete_run",
            primary,
            lambda experiment_id: {"run_id": run_id, "experiment_id": experiment_id},
        )

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove the experiment from the primary, then from every secondary."""

        def primary() -> str:
            name = self.primary.get_experiment(experiment_id).name
            self.primary.hard_delete_experiment(experiment_id)
            return name

        self._write(
            "hard_delete_experiment",
            primary,
            lambda name: {"experiment_id": experiment_id, "name": name},
        )

    def _apply_gc_op(self, s: _Secondary, store: TrackingStore, op: str, a: dict[str, Any]) -> None:
        try:
            if op == "hard_delete_run":
                pid = a["run_id"]
                sid = s.queue.ids.get("r", pid)
                if sid is None:
                    experiment_id = self._experiment_id(s, store, a["experiment_id"])
                    sid = self._find_run(s, store, experiment_id, pid) or pid
                store.hard_delete_run(sid)
            else:
                pid = a["experiment_id"]
                sid = self._experiment_id(s, store, pid)
                found = store.get_experiment(sid)
                origin = found.tags.get(_ORIGIN_EXPERIMENT_TAG)
                if origin != pid and (origin is not None or (sid, found.name) != (pid, a["name"])):
                    raise TrackyardError(
                        f"The secondary's experiment {sid} is not the primary's experiment "
                        f"{pid}: not removing it.",
                        ErrorCode.INVALID_STATE,
                    )
                store.hard_delete_experiment(sid)
        except TrackyardError as exc:
            if not _gone(exc):
                raise
