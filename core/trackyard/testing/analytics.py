"""Checks of the analytics additions that every tracking store runs (part of
:class:`~trackyard.testing.TrackingStoreSuite`).

- ``get_metric_history_bulk`` returns what the generic definition
  (:func:`trackyard.analytics.metric_history_bulk`, built on ``get_metric_history``) returns,
  downsampled or not, however the store answers it;
- ``search_runs(output_format="pandas" | "arrow")`` returns the same page as the default
  output, as one table (skipped with the reason when pandas or pyarrow is not installed).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from trackyard import analytics
from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["AnalyticsChecks"]

T0 = 1_700_000_000_000


def _points(histories: dict[str, dict[str, list[Metric]]]) -> dict[str, dict[str, list[Any]]]:
    """Comparable form: (value or 'nan', timestamp, step) per point."""
    return {
        run_id: {
            key: [("nan" if math.isnan(p.value) else p.value, p.timestamp, p.step) for p in pts]
            for key, pts in per_key.items()
        }
        for run_id, per_key in histories.items()
    }


class AnalyticsChecks:
    """Mixin of :class:`~trackyard.testing.TrackingStoreSuite` (uses its ``client`` fixture)."""

    @pytest.fixture
    def history_fixture(self, client: Any) -> tuple[Any, list[str]]:
        """Three runs with series of many shapes: long, short, NaN, ties, unordered, empty."""
        exp = client.create_experiment("bulk-histories")
        runs = [client.create_run(exp).info.run_id for _ in range(3)]
        long = [Metric("loss", math.sin(i / 7) + (i % 13) / 10, T0 + i, i) for i in range(403)]
        long[17] = Metric("loss", float("nan"), T0 + 17, 17)
        long[200] = Metric("loss", 5.0, T0 + 200, 200)  # a tie for the highest value
        long[201] = Metric("loss", 5.0, T0 + 201, 201)
        client.log_batch(runs[0], metrics=long[:250])
        client.log_batch(runs[0], metrics=list(reversed(long[250:])))  # out of order
        client.log_batch(runs[0], metrics=[Metric("acc", 0.5, T0, 0), Metric("acc", 0.7, T0, 1)])
        same_time = [Metric("loss", float(i % 5), T0, i) for i in range(60)]
        client.log_batch(runs[1], metrics=same_time)
        client.log_batch(runs[2], metrics=[Metric("other", 1.0, T0, 0)])
        return client, runs

    @pytest.mark.parametrize("max_points", [None, 4, 7, 12, 50, 1000])
    def test_metric_history_bulk_matches_generic(
        self, history_fixture: Any, max_points: int | None
    ) -> None:
        client, runs = history_fixture
        store = client._store
        keys = ["loss", "acc", "never"]
        got = client.get_metric_history_bulk(runs, keys, max_points=max_points)
        expected = analytics.metric_history_bulk(store, runs, keys, max_points)
        assert _points(got) == _points(expected)
        assert list(got) == runs
        for per_key in got.values():
            assert list(per_key) == keys
            if max_points is not None:
                assert all(len(points) <= max_points for points in per_key.values())
        full = client.get_metric_history(runs[0], "loss")
        assert _points({"r": {"k": got[runs[0]]["loss"]}}) == _points(
            {"r": {"k": full if max_points is None else analytics.downsample(full, max_points)}}
        )

    def test_metric_history_bulk_errors(self, history_fixture: Any) -> None:
        client, runs = history_fixture
        with pytest.raises(TrackyardError) as excinfo:
            client.get_metric_history_bulk([runs[0], "f" * 32], ["loss"])
        assert excinfo.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
        for bad in (0, 3, -1, True, 2.5, "10"):
            with pytest.raises(TrackyardError) as excinfo:
                client.get_metric_history_bulk(runs, ["loss"], max_points=bad)
            assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        with pytest.raises(TrackyardError) as excinfo:
            client.get_metric_history_bulk(runs, ["bad/../key"])
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert client.get_metric_history_bulk([], ["loss"]) == {}
        one = client.get_metric_history_bulk(runs[1], "loss", max_points=8)
        assert len(one[runs[1]]["loss"]) <= 8

    @pytest.fixture
    def table_fixture(self, client: Any) -> tuple[Any, str]:
        exp = client.create_experiment("tables")
        for i in range(7):
            run_id = client.create_run(exp, start_time=T0 + i, run_name=f"t{i}").info.run_id
            metrics = [Metric("acc", i / 10, T0, 0)]
            if i % 2:
                metrics.append(Metric("loss", float("nan") if i == 3 else 1.0 / i, T0, 0))
            params = [Param("lr", str(i))] if i % 3 else []
            client.log_batch(run_id, metrics, params, [RunTag("team", "ab"[i % 2])])
            if i == 4:
                client.set_terminated(run_id, end_time=T0 + 100)
        return client, exp

    def test_search_runs_as_pandas(self, table_fixture: Any) -> None:
        pd = pytest.importorskip("pandas", reason="output_format='pandas' needs pandas")
        client, exp = table_fixture
        page = client.search_runs([exp], "metrics.acc > 0.05", order_by=["metrics.acc"])
        df = client.search_runs(
            [exp], "metrics.acc > 0.05", order_by=["metrics.acc"], output_format="pandas"
        )
        assert list(df.columns[:6]) == [
            "run_id",
            "experiment_id",
            "status",
            "artifact_uri",
            "start_time",
            "end_time",
        ]
        assert list(df["run_id"]) == [r.info.run_id for r in page]
        assert {"metrics.acc", "metrics.loss", "params.lr", "tags.team"} <= set(df.columns)
        for i, run in enumerate(page):
            row = df.iloc[i]
            assert row["start_time"] == pd.Timestamp(run.info.start_time, unit="ms", tz="UTC")
            if run.info.end_time is None:
                assert pd.isna(row["end_time"])
            for key, value in run.data.metrics.items():
                got = row[f"metrics.{key}"]
                assert (math.isnan(got) and math.isnan(value)) or got == value
            assert row.get("params.lr") == run.data.params.get("lr")
            assert row["tags.team"] == run.data.tags["team"]
        assert df.attrs["next_page_token"] is None
        first = client.search_runs([exp], max_results=2, output_format="pandas")
        assert len(first) == 2 and first.attrs["next_page_token"]
        empty = client.search_runs([exp], "metrics.acc > 5", output_format="pandas")
        assert len(empty) == 0 and "run_id" in empty.columns

    def test_search_runs_as_arrow(self, table_fixture: Any) -> None:
        pa = pytest.importorskip("pyarrow", reason="output_format='arrow' needs pyarrow")
        client, exp = table_fixture
        page = client.search_runs([exp], order_by=["params.lr DESC"])
        table = client.search_runs([exp], order_by=["params.lr DESC"], output_format="arrow")
        assert isinstance(table, pa.Table)
        assert table.column("run_id").to_pylist() == [r.info.run_id for r in page]
        assert table.schema.field("start_time").type == pa.timestamp("ms", tz="UTC")
        lrs = table.column("params.lr").to_pylist()
        assert lrs == [r.data.params.get("lr") for r in page]
        losses = table.column("metrics.loss").to_pylist()
        for got, run in zip(losses, page, strict=True):
            want = run.data.metrics.get("loss")
            assert got == want or (want is not None and math.isnan(want) and math.isnan(got))
        paged = client.search_runs([exp], max_results=3, output_format="arrow")
        token = (paged.schema.metadata or {}).get(b"next_page_token")
        assert token and client.search_runs([exp], page_token=token.decode(), max_results=50)

    def test_search_runs_bad_output_format(self, table_fixture: Any) -> None:
        client, exp = table_fixture
        with pytest.raises(TrackyardError) as excinfo:
            client.search_runs([exp], output_format="polars")
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
