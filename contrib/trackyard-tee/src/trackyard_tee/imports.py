"""Imports through a tee: entities written as they are on the primary, then on each secondary.

The tee declares ``Capabilities(imports=True)`` only when every target does. Each ``import_*``
call goes to the primary first (its error is raised and nothing is forwarded), then to each
secondary like any other write: applied directly, journaled while the secondary is down and
replayed in order when it is back, or kept in ``rejected.log`` when the secondary refuses it.

Ids: imported runs, traces and assessments keep their ids on every target. An imported
experiment keeps its id on a secondary when the secondary can hold it and it is free there;
otherwise the secondary gives it a new id, tags it with the primary's id
(:data:`~trackyard_tee.store.ORIGIN_EXPERIMENT_TAG`) and the tee's id map records it. Replays
are idempotent: an entity the secondary already holds is not imported again; run data, info
and points are idempotent writes. Dataset inputs of an imported run reach the primary only
(the tee forwards no dataset inputs); the tee keeps no logged models, so it imports none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import Experiment, Metric, Param, Run, RunData, RunInfo, RunTag
from trackyard.entities.trace_assessment import Assessment
from trackyard.errors import ErrorCode, TrackyardError

from trackyard_tee._host import TeeHost

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

    from trackyard_tee.store import _Secondary

__all__ = ["IMPORT_OPS", "TeeImports"]


IMPORT_OPS = frozenset(
    {
        "import_experiment",
        "import_run",
        "import_run_data",
        "import_run_info",
        "import_assessment",
    }
)


def _pairs(items: dict[str, str]) -> list[list[str]]:
    return [[k, v] for k, v in items.items()]


def _missing(fetch: Callable[[], object]) -> bool:
    """Whether ``fetch()`` raises RESOURCE_DOES_NOT_EXIST."""
    try:
        fetch()
    except TrackyardError as exc:
        if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
            raise
        return True
    return False


class TeeImports(TeeHost):
    """The ``import_*`` methods of :class:`~trackyard_tee.store.TeeTrackingStore`."""

    # -- the contract ----------------------------------------------------------------------
    def new_experiment_id(self) -> str:
        """The primary's next experiment id."""
        return self.primary.new_experiment_id()

    def read_metric_points(self, run_id: str, keys: Sequence[str]) -> list[Metric]:
        """Every point of the metrics ``keys`` of a run, read from the primary."""
        return self.primary.read_metric_points(run_id, keys)

    def import_experiment(self, experiment: Experiment) -> None:
        """Import on the primary, then on each secondary (its own id there if need be)."""
        self._write(
            "import_experiment",
            lambda: self.primary.import_experiment(experiment),
            lambda _: {"experiment": experiment.to_dictionary()},
        )

    def import_run(self, run: Run, metrics: Sequence[Metric]) -> None:
        """Import on the primary, then on each secondary (without its dataset inputs)."""
        from trackyard_tee.store import _metric_rows

        def record(_: None) -> dict[str, Any]:
            info = run.info.to_dictionary()
            info.pop("run_uuid")
            return {
                "info": info,
                "params": _pairs(run.data.params),
                "tags": _pairs(run.data.tags),
                "metrics": _metric_rows(metrics),
            }

        self._write("import_run", lambda: self.primary.import_run(run, metrics), record)

    def import_run_data(self, run_id: str, metrics: Sequence[Metric], data: RunData) -> None:
        """Add points, params and tags on the primary, then on each secondary."""
        from trackyard_tee.store import _metric_rows

        self._write(
            "import_run_data",
            lambda: self.primary.import_run_data(run_id, metrics, data),
            lambda _: {
                "run_id": run_id,
                "metrics": _metric_rows(metrics),
                "params": _pairs(data.params),
                "tags": _pairs(data.tags),
            },
        )

    def import_run_info(self, info: RunInfo) -> None:
        """Set a run's info on the primary, then on each secondary."""

        def record(_: None) -> dict[str, Any]:
            fields = info.to_dictionary()
            fields.pop("run_uuid")
            return {"info": fields}

        self._write("import_run_info", lambda: self.primary.import_run_info(info), record)

    def import_assessment(self, assessment: Assessment) -> None:
        """Import on the primary, then on each secondary (same id everywhere)."""
        self._write(
            "import_assessment",
            lambda: self.primary.import_assessment(assessment),
            lambda _: {"assessment": assessment.to_dictionary()},
        )

    # -- applying one import to one secondary ----------------------------------------------
    def _apply_import_op(
        self, s: _Secondary, store: TrackingStore, op: str, a: dict[str, Any], *, replay: bool
    ) -> None:
        from trackyard_tee.store import _metrics

        if op == "import_experiment":
            self._import_experiment(s, store, Experiment(**a["experiment"]), replay=replay)
        elif op == "import_run":
            info = RunInfo(**a["info"])
            info.experiment_id = self._experiment_id(s, store, info.experiment_id)
            if not (replay and not _missing(lambda: store.get_run(info.run_id))):
                data = RunData(
                    params=[Param(k, v) for k, v in a["params"]],
                    tags=[RunTag(k, v) for k, v in a["tags"]],
                )
                store.import_run(Run(info, data), _metrics(a["metrics"]))
            s.identity_runs.add(info.run_id)
        elif op == "import_run_data":
            data = RunData(
                params=[Param(k, v) for k, v in a["params"]],
                tags=[RunTag(k, v) for k, v in a["tags"]],
            )
            run_id = self._run_id(s, store, a["run_id"])
            store.import_run_data(run_id, _metrics(a["metrics"]), data)
        elif op == "import_run_info":
            info = RunInfo(**a["info"])
            info.run_id = self._run_id(s, store, info.run_id)
            info.experiment_id = self._experiment_id(s, store, info.experiment_id)
            store.import_run_info(info)
        elif op == "import_assessment":
            made = Assessment.from_dictionary(a["assessment"])
            assert made.trace_id is not None and made.assessment_id is not None
            trace_id, assessment_id = made.trace_id, made.assessment_id
            if replay and not _missing(lambda: store.get_assessment(trace_id, assessment_id)):
                return
            if made.overrides is not None:  # made through the tee: another id there
                made.overrides = s.queue.ids.get("a", made.overrides) or made.overrides
            if made.run_id is not None:
                made.run_id = self._run_id(s, store, made.run_id)
            store.import_assessment(made)
        else:
            raise TrackyardError(f"Unknown tee journal operation {op!r}", ErrorCode.DATA_LOSS)

    def _import_experiment(
        self, s: _Secondary, store: TrackingStore, experiment: Experiment, *, replay: bool
    ) -> None:
        from trackyard_tee.store import ORIGIN_EXPERIMENT_TAG

        pid = experiment.experiment_id
        if s.queue.ids.get("e", pid) is not None:
            return
        held = store.get_experiment_by_name(experiment.name)
        if held is not None and replay:
            if held.experiment_id == pid:
                return
            if held.tags.get(ORIGIN_EXPERIMENT_TAG) == pid:
                s.queue.ids.add("e", pid, held.experiment_id)
                return
        try:
            store.import_experiment(experiment)
            return
        except TrackyardError as exc:
            # the name is taken there (refused), or only the id is: unholdable or used
            if held is not None or exc.error_code not in (
                ErrorCode.INVALID_PARAMETER_VALUE,
                ErrorCode.RESOURCE_ALREADY_EXISTS,
            ):
                raise
        sid = store.new_experiment_id()
        experiment.experiment_id = sid
        experiment.tags = {**experiment.tags, ORIGIN_EXPERIMENT_TAG: pid}
        store.import_experiment(experiment)
        s.queue.ids.add("e", pid, sid)
