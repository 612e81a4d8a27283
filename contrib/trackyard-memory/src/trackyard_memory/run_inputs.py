"""Run inputs and outputs in the memory store (mixed into :class:`MemoryTrackingStore`).

As in MLflow's SQL store: a dataset is one per experiment and (name, digest), the first of
several inputs with the same name and digest wins, and logging an input again changes
nothing. Model inputs and outputs must name existing logged models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import DatasetInput, LoggedModelInput, LoggedModelOutput

if TYPE_CHECKING:
    import threading

__all__ = ["MemoryRunInputs"]


class MemoryRunInputs:
    """``log_inputs`` and ``log_outputs``; the store supplies its lock and lookups."""

    _lock: threading.RLock

    if TYPE_CHECKING:

        def _data(self) -> Any: ...
        def _active_run(self, data: Any, run_id: str) -> Any: ...
        def _model(self, data: Any, model_id: str, allow_deleted: bool = False) -> Any: ...

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record dataset and model inputs of an active run, all or nothing."""
        with self._lock:
            data = self._data()
            run = self._active_run(data, run_id)
            for m in models or ():
                self._model(data, m.model_id)
            # dataset per (experiment, name, digest): the first logged keeps its fields
            known: dict[tuple[str, str, str], Any] = data.__dict__.setdefault("datasets", {})
            seen = {(d.dataset.name, d.dataset.digest) for d in run.dataset_inputs}
            for item in datasets or ():
                key = (item.dataset.name, item.dataset.digest)
                if key in seen:
                    continue
                seen.add(key)
                dataset = known.setdefault((run.experiment_id, *key), item.dataset)
                run.dataset_inputs.append(DatasetInput(dataset, tuple(item.tags)))
            have = {m.model_id for m in run.model_inputs}
            for m in models or ():
                if m.model_id not in have:
                    have.add(m.model_id)
                    run.model_inputs.append(LoggedModelInput(m.model_id))

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models an active run produced (a model logged again keeps its new step)."""
        with self._lock:
            data = self._data()
            run = self._active_run(data, run_id)
            for m in models:
                self._model(data, m.model_id)
            for m in models:
                run.model_outputs[:] = [o for o in run.model_outputs if o.model_id != m.model_id]
                run.model_outputs.append(LoggedModelOutput(m.model_id, m.step))
