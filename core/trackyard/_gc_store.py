"""The garbage-collection part of the tracking store contract (mixed into ``TrackingStore``).

A store that can remove deleted data for good overrides the four methods and declares
``Capabilities(gc=True)``; :mod:`trackyard.gc` (``trackyard gc``) drives them and the
conformance kit (:mod:`trackyard.testing.gc`) holds the store to this contract. The
defaults raise ``FEATURE_DISABLED``. They are MLflow's ``_get_deleted_runs``,
``_hard_delete_run`` and ``_hard_delete_experiment``, made public and typed.

Deletion times: a run's is the time it entered the ``deleted`` lifecycle stage (MLflow's
``deleted_time``; a run deleted with its experiment gets the experiment's); an experiment's
is its ``last_update_time``, which deleting it sets. Data deleted by a tool that recorded no
time has none: it counts as old enough only when no retention is asked for.

Hard deletes remove metadata only; artifacts are :mod:`trackyard.gc`'s business (through
the artifact repository of each run's artifact URI), before the metadata goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["DeletedExperiment", "DeletedRun", "GcStoreMixin", "deleted_in_time"]


@dataclass(frozen=True)
class DeletedRun:
    """A run in the ``deleted`` lifecycle stage.

    Attributes:
        run_id: its id.
        experiment_id: its experiment's id.
        artifact_uri: its artifact root ("" when it has none).
        deleted_time: when it was deleted (epoch ms), or None when no time was recorded.
    """

    run_id: str
    experiment_id: str
    artifact_uri: str
    deleted_time: int | None


@dataclass(frozen=True)
class DeletedExperiment:
    """An experiment in the ``deleted`` lifecycle stage.

    Attributes:
        experiment_id: its id.
        name: its name.
        artifact_location: its artifact location.
        deleted_time: its ``last_update_time`` (set when it was deleted), or None.
        active_runs: how many of its runs are still active (restored on their own after
            the experiment was deleted); such an experiment cannot be hard-deleted.
    """

    experiment_id: str
    name: str
    artifact_location: str
    deleted_time: int | None
    active_runs: int


def deleted_in_time(deleted_time: int | None, deleted_before: int | None) -> bool:
    """Whether something deleted at ``deleted_time`` is within a ``deleted_before`` cutoff.

    Inclusive (deleted at or before the cutoff); with no cutoff everything is, and
    something with no recorded time is only then.
    """
    if deleted_before is None:
        return True
    return deleted_time is not None and deleted_time <= deleted_before


def _disabled(store: object) -> TrackyardError:
    return TrackyardError(
        f"{type(store).__name__} does not support garbage collection (hard deletes).",
        ErrorCode.FEATURE_DISABLED,
    )


class GcStoreMixin:
    """Listing deleted runs and experiments, and removing them for good."""

    def deleted_runs(
        self,
        deleted_before: int | None = None,
        experiment_ids: Sequence[str] | None = None,
    ) -> list[DeletedRun]:
        """Runs in the ``deleted`` stage, ordered by run id.

        Args:
            deleted_before: only runs deleted at or before this time (epoch ms); runs with
                no recorded deletion time are left out. None: every deleted run.
            experiment_ids: only runs of these experiments (active or deleted ones); None:
                runs of every experiment. Unknown ids find nothing.
        """
        raise _disabled(self)

    def deleted_experiments(self, deleted_before: int | None = None) -> list[DeletedExperiment]:
        """Experiments in the ``deleted`` stage, ordered by id as the store sorts them.

        Args:
            deleted_before: only experiments deleted at or before this time (epoch ms), as
                for :meth:`deleted_runs`.
        """
        raise _disabled(self)

    def hard_delete_run(self, run_id: str) -> None:
        """Remove a deleted run for good: its row or folder, params, metrics (history and
        latest values), tags, and dataset and model inputs and outputs; all or nothing.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST if there is no such run;
                INVALID_PARAMETER_VALUE if it is not in the ``deleted`` stage (checked in the
                same transaction as the removal, so a run restored meanwhile stays).
        """
        raise _disabled(self)

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove a deleted experiment for good, with its tags, its (deleted) runs and their
        data, its dataset records, traces and logged models; all or nothing.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST if there is no such experiment;
                INVALID_PARAMETER_VALUE if it is not in the ``deleted`` stage or still holds
                an active run.
        """
        raise _disabled(self)
