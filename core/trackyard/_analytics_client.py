"""Client methods beyond MLflow's API, for analytics: bulk histories and tables of runs.

:class:`AnalyticsClientMixin` is one of :class:`trackyard.MlflowClient`'s bases; the
semantics live in :mod:`trackyard.analytics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard import validation
from trackyard.errors import TrackyardError

if TYPE_CHECKING:
    from trackyard.analytics import MetricHistories
    from trackyard.entities import PagedList, Run
    from trackyard.stores import TrackingStore

__all__ = ["OUTPUT_FORMATS", "AnalyticsClientMixin"]

#: What ``search_runs(output_format=...)`` accepts.
OUTPUT_FORMATS = ("list", "pandas", "arrow")


def _names(values: str | Sequence[str], what: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Sequence):
        raise TrackyardError.invalid_parameter_value(
            f"{what} must be a string or a list of strings, got {type(values).__name__}"
        )
    return list(values)


class AnalyticsClientMixin:
    """``get_metric_history_bulk`` and the table forms of ``search_runs``."""

    if TYPE_CHECKING:

        @property
        def _tracking_store(self) -> TrackingStore: ...

    def get_metric_history_bulk(
        self,
        run_ids: str | Sequence[str],
        keys: str | Sequence[str],
        max_points: int | None = None,
    ) -> MetricHistories:
        """Histories of several metrics of several runs, in one call.

        Args:
            run_ids: a run id or a list of them (each must exist).
            keys: a metric key or a list of them.
            max_points: None for whole histories; else at most this many points per series
                (at least 4): a longer history is cut into ``max_points // 4`` buckets of
                consecutive points and the first, last, lowest and highest point of each
                bucket are kept (see :func:`trackyard.analytics.downsample`).

        Returns:
            ``{run_id: {key: [Metric, ...]}}`` with every requested run and key; points are in
            ``get_metric_history`` order, and a metric a run never logged is an empty list.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST for an unknown run;
                INVALID_PARAMETER_VALUE for a bad id, key or ``max_points``.
        """
        from trackyard.analytics import check_max_points

        ids = list(dict.fromkeys(validation.validate_run_id(r) for r in _names(run_ids, "run_ids")))
        metric_keys = list(
            dict.fromkeys(validation.validate_key(k, "metric") for k in _names(keys, "keys"))
        )
        limit = check_max_points(max_points)
        if not ids:
            return {}
        return self._tracking_store.get_metric_history_bulk(ids, metric_keys, limit)

    @staticmethod
    def _check_output_format(output_format: object) -> str:
        if output_format not in OUTPUT_FORMATS:
            raise TrackyardError.invalid_parameter_value(
                f"Unsupported output_format {output_format!r}; expected one of "
                f"{', '.join(repr(f) for f in OUTPUT_FORMATS)}."
            )
        return str(output_format)

    @staticmethod
    def _runs_output(page: PagedList[Run], output_format: str) -> Any:
        """``page`` as it was asked for: the page itself, a DataFrame or an Arrow table."""
        if output_format == "pandas":
            from trackyard.analytics import runs_to_pandas

            return runs_to_pandas(page, page.token)
        if output_format == "arrow":
            from trackyard.analytics import runs_to_arrow

            return runs_to_arrow(page, page.token)
        return page
