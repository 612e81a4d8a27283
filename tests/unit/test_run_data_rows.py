"""RunData.metric_rows: the latest points as tuples, whichever way the RunData was built."""

from __future__ import annotations

import math

from trackyard.entities import Metric, RunData

T0 = 1_700_000_000_000


def test_rows_of_ready_made_parts_are_the_parts_and_make_no_objects() -> None:
    rows = [("loss", 0.5, T0, 3), ("acc", math.inf, T0 + 1, 4)]
    data = RunData.from_parts(rows, {"loss": 0.5, "acc": math.inf}, {}, {})
    assert data.metric_rows is rows
    assert data._metric_objs is None  # nothing built for reading the rows
    assert [(m.key, m.value, m.timestamp, m.step) for m in data.metric_objects] == rows
    assert data.metric_rows is rows  # still the same after the objects were made


def test_rows_of_metric_objects_match_them() -> None:
    data = RunData([Metric("a", 1.0, T0, 2), Metric("b", math.nan, T0 + 5, 0)])
    got = data.metric_rows
    assert [r[0] for r in got] == ["a", "b"]
    assert got[0] == ("a", 1.0, T0, 2)
    assert got[1][2:] == (T0 + 5, 0) and math.isnan(got[1][1])
    assert list(RunData().metric_rows) == []
    assert RunData.from_parts([], {}, {}, {}).metric_rows == []
