"""The reference downsampling of :mod:`trackyard.analytics`, on hand-made histories."""

from __future__ import annotations

import math
import random

import pytest

from trackyard.analytics import downsample
from trackyard.entities import Metric


def _series(values: list[float]) -> list[Metric]:
    return [Metric("m", v, 1_000 + i, i) for i, v in enumerate(values)]


def test_short_histories_are_returned_whole() -> None:
    points = _series([3.0, 1.0, 2.0, 5.0])
    assert downsample(points, 4) == points
    assert downsample(points, 100) == points
    assert downsample([], 4) == []


def test_one_bucket_keeps_first_last_lowest_highest() -> None:
    points = _series([5.0, 9.0, 1.0, 4.0, 9.0, 0.5, 7.0, 3.0])
    kept = downsample(points, 4)  # one bucket of 8 points
    # first (5.0), highest (the earliest 9.0), lowest (0.5), last (3.0), in history order
    assert [p.step for p in kept] == [0, 1, 5, 7]


def test_buckets_split_consecutive_points() -> None:
    values = [0.0, 8.0, 1.0, 2.0, 9.0, 3.0, -1.0, 4.0, 5.0, 6.0]
    kept = downsample(_series(values), 9)  # two buckets: points 0-4 and 5-9
    # bucket 1: first and lowest 0.0, last and highest 9.0; bucket 2: first 3.0, lowest
    # -1.0, last and highest 6.0
    assert [p.step for p in kept] == [0, 4, 5, 6, 9]
    assert [p.value for p in kept] == [0.0, 9.0, 3.0, -1.0, 6.0]


def test_nan_counts_as_highest() -> None:
    kept = downsample(_series([1.0, float("nan"), -2.0, 3.0, 0.0, 2.0]), 4)
    assert [p.step for p in kept] == [0, 1, 2, 5]
    assert math.isnan(kept[1].value)


@pytest.mark.parametrize("max_points", [4, 5, 11, 64, 999])
def test_shape_rules_hold(max_points: int) -> None:
    rng = random.Random(max_points)
    points = _series([rng.choice([rng.random(), 0.5, float("inf")]) for _ in range(2_000)])
    kept = downsample(points, max_points)
    assert len(kept) <= max_points
    assert kept[0] is points[0] and kept[-1] is points[-1]
    positions = [points.index(p) for p in kept]
    assert positions == sorted(set(positions))
    assert max(p.value for p in kept) == max(p.value for p in points)
    assert min(p.value for p in kept) == min(p.value for p in points)
