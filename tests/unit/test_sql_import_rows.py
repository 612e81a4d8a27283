"""``trackyard_sql.importing.metric_rows``: the rows a run import writes, checked against a
point-by-point reference on random histories (NaN, infinities, ties, keys out of order)."""

from __future__ import annotations

import math
import random

import pytest

from trackyard.entities import Metric
from trackyard_sql.importing import metric_rows
from trackyard_sql.runs import db_metric_value


def _reference(run_id: str, metrics: list[Metric]) -> tuple[list, list]:
    rows = []
    latest: dict[str, tuple[tuple[int, int, float], bool]] = {}
    for m in metrics:
        value, nan = db_metric_value(m.value)
        rows.append((m.key, value, m.timestamp, run_id, m.step, nan))
        rank = (m.step, m.timestamp, value)
        if m.key not in latest or rank > latest[m.key][0]:
            latest[m.key] = (rank, nan)
    latest_rows = [(k, r[2], r[1], r[0], nan, run_id) for k, (r, nan) in sorted(latest.items())]
    return rows, latest_rows


def _same(a: list, b: list) -> bool:
    # NaN is stored as 0.0, so the rows compare with ==; check the types too
    return a == b and [tuple(map(type, r)) for r in a] == [tuple(map(type, r)) for r in b]


@pytest.mark.parametrize("seed", range(40))
def test_rows_match_a_point_by_point_reference(seed: int) -> None:
    rnd = random.Random(seed)
    specials = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308]
    points = []
    for _ in range(rnd.randint(0, 60)):
        value = rnd.choice(specials) if rnd.random() < 0.2 else float(rnd.randint(-3, 3))
        points.append(Metric(rnd.choice("abc"), value, rnd.randint(0, 3), rnd.randint(0, 3)))
    if seed % 2:  # grouped by key, as copies read them
        points.sort(key=lambda m: m.key)
    got = metric_rows("r1", points)
    want = _reference("r1", points)
    assert _same(got[0], want[0]) and _same(got[1], want[1]), (points, got, want)


def test_finite_values_that_overflow_a_sum_still_come_out_right() -> None:
    points = [Metric("m", 1e308, 1, 0), Metric("m", 1e308, 2, 1), Metric("n", -5.0, 1, 3)]
    rows, latest = metric_rows("r", points)
    assert [r[1] for r in rows] == [1e308, 1e308, -5.0]
    assert not any(r[5] for r in rows)
    assert latest == [("m", 1e308, 2, 1, False, "r"), ("n", -5.0, 1, 3, False, "r")]
