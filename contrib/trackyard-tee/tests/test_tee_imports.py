"""Copies into a tee: every import reaches the primary, then each secondary, and a secondary
that is away receives them from its journal when it is back.

The outage is real: the secondary SQLite database's directory does not exist yet.
"""

from __future__ import annotations

from pathlib import Path

from trackyard import MlflowClient
from trackyard.backends import get_tracking_store
from trackyard.copy import copy_store, dump_store
from trackyard.entities import Metric, Param
from trackyard.entities.trace_assessment import Expectation, Feedback

from trackyard_tee import format_tee_uri
from trackyard_tee.store import TeeTrackingStore


def _source(uri: str) -> None:
    """Two experiments (one deleted), finished and deleted runs, a trace with assessments."""
    c = MlflowClient(uri)
    exp = c.create_experiment("train", tags={"team": "a"})
    for i in range(2):
        run_id = c.create_run(exp, run_name=f"run-{i}").info.run_id
        points = [Metric("loss", 1.0 / (s + 1), 1_000 + s, s) for s in range(5)]
        c.log_batch(run_id, metrics=points, params=[Param("lr", str(i))])
        c.set_terminated(run_id, "FINISHED" if i else "FAILED")
    c.delete_run(run_id)
    root = c.start_trace("answer", inputs={"q": 1}, experiment_id=exp, run_id=run_id)
    c.end_trace(root.trace_id, outputs="done")
    first = c.log_assessment(Feedback("good", True), request_id=root.trace_id)
    c.log_assessment(Feedback("good", False, overrides=first.assessment_id), root.trace_id)
    c.log_assessment(Expectation("answer", "42", span_id=root.span_id), root.trace_id)
    gone = c.create_experiment("old")
    c.create_run(gone)
    c.delete_experiment(gone)


def test_a_copy_into_a_tee_reaches_a_secondary_that_was_away(tmp_path: Path) -> None:
    src = f"sqlite:///{tmp_path / 'src.db'}"
    _source(src)
    away = tmp_path / "later"
    primary, secondary = f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{away / 'sec.db'}"
    uri = format_tee_uri([primary, secondary], tmp_path / "queue", retry_interval=0)
    tee = get_tracking_store(uri, str(tmp_path / "artifacts"))
    assert isinstance(tee, TeeTrackingStore) and tee.capabilities.imports

    report = copy_store(src, uri, include_artifacts=False, include_registry=False)
    assert (report.runs, report.traces, report.assessments) == (3, 1, 3)
    assert tee.status()[0].pending > 0  # all queued: the secondary is away

    away.mkdir()
    assert [(s.pending, s.rejected, s.last_error) for s in tee.flush()] == [(0, 0, None)]
    assert tee.verify() == []
    expected = dump_store(src, artifacts=False, registry=False)
    assert dump_store(primary, artifacts=False, registry=False) == expected
    assert dump_store(secondary, artifacts=False, registry=False) == expected
    # a second copy finds everything on the primary and forwards nothing
    again = copy_store(src, uri, include_artifacts=False, include_registry=False)
    assert again.written == 0, again.summary()
    assert tee.status()[0].pending == 0
