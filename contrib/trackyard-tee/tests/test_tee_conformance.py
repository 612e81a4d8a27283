"""trackyard's conformance kit, unchanged, against tee stores with SQLite and file targets.

Each test gets a tee over fresh targets; after the test, the fixture replays anything queued
and checks that every secondary mirrors the primary (same experiments, runs, params, tags,
latest metrics and metric histories, through the id map) and that nothing was refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from trackyard.backends import get_tracking_store
from trackyard.testing import TraceStoreSuite, TrackingStoreSuite

from trackyard_tee import format_tee_uri
from trackyard_tee.store import TeeTrackingStore


def _tee(targets: list[str], tmp_path: Path) -> Iterator[TeeTrackingStore]:
    uri = format_tee_uri(targets, tmp_path / "queue", retry_interval=0)
    store = get_tracking_store(uri, str(tmp_path / "artifacts"))
    assert isinstance(store, TeeTrackingStore)
    yield store
    statuses = store.flush()
    assert [(s.pending, s.rejected, s.last_error) for s in statuses] == [(0, 0, None)] * len(
        statuses
    )
    assert store.verify() == []


class TestTeeSqliteToFile(TrackingStoreSuite):
    """Primary SQLite, secondary file store."""

    covers = "trackyard_tee.store:TeeTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[TeeTrackingStore]:
        yield from _tee(
            [f"sqlite:///{tmp_path / 'primary.db'}", str(tmp_path / "mlruns")], tmp_path
        )


class TestTeeFileToSqlite(TrackingStoreSuite):
    """Primary file store, secondary SQLite."""

    covers = "trackyard_tee.store:TeeTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[TeeTrackingStore]:
        yield from _tee(
            [f"file://{tmp_path / 'mlruns'}", f"sqlite:///{tmp_path / 'secondary.db'}"], tmp_path
        )


class TestTeeTracesToFile(TraceStoreSuite):
    """A target without traces (the file store, for now): the kit checks the tee refuses them."""

    covers = "trackyard_tee.store:TeeTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[TeeTrackingStore]:
        yield from _tee(
            [f"sqlite:///{tmp_path / 'primary.db'}", str(tmp_path / "mlruns")], tmp_path
        )


class TestTeeSqliteTraces(TraceStoreSuite):
    """Primary SQLite, secondary SQLite: traces and assessments are mirrored (verified after)."""

    covers = "trackyard_tee.store:TeeTrackingStore"

    @pytest.fixture
    def tracking_store(self, tmp_path: Path) -> Iterator[TeeTrackingStore]:
        yield from _tee(
            [f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{tmp_path / 'secondary.db'}"],
            tmp_path,
        )
