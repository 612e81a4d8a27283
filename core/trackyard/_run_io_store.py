"""The run inputs/outputs part of the tracking store contract (mixed into ``TrackingStore``).

A store that keeps them overrides both methods and declares ``Capabilities(datasets=True)``;
``get_run`` and ``search_runs`` then return ``Run.inputs`` (dataset inputs with their input
tags, model inputs) and ``Run.outputs`` (model outputs), and run searches honour the
``datasets.`` filters. The defaults raise ``FEATURE_DISABLED``. Signatures are MLflow's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities import DatasetInput, LoggedModelInput, LoggedModelOutput

__all__ = ["RunInputsStoreMixin"]


class RunInputsStoreMixin:
    """Datasets and models that a run consumed, and models it produced."""

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record inputs of an active run, all or nothing.

        A dataset is identified per experiment by (name, digest): logging it again reuses
        it, and the first of several inputs with the same name and digest wins. Logging the
        same input of a run again changes nothing. A model input names an existing logged
        model (RESOURCE_DOES_NOT_EXIST otherwise).
        """
        raise TrackyardError(
            f"{type(self).__name__} does not support run inputs.", ErrorCode.FEATURE_DISABLED
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models an active run produced (each at a step)."""
        raise TrackyardError(
            f"{type(self).__name__} does not support run outputs.", ErrorCode.FEATURE_DISABLED
        )
