"""Traces through a tee whose secondary is away, then back: queued, replayed, verified.

The outage is real: the secondary SQLite database's directory does not exist yet, so opening
it fails until the directory is made.
"""

from __future__ import annotations

from pathlib import Path

from trackyard import MlflowClient
from trackyard.backends import get_tracking_store
from trackyard.entities.trace_assessment import Feedback

from trackyard_tee import format_tee_uri
from trackyard_tee.store import TeeTrackingStore


def _write(client: MlflowClient, exp: str, name: str) -> str:
    root = client.start_trace(name, inputs={"q": name}, experiment_id=exp, tags={"t": name})
    span = client.start_span("llm", root.trace_id, root.span_id, "LLM")
    client.end_span(root.trace_id, span.span_id, outputs="ok")
    client.end_trace(root.trace_id, outputs="done")
    return str(root.trace_id)


def test_traces_are_queued_while_a_secondary_is_away_and_replayed(tmp_path: Path) -> None:
    away = tmp_path / "later"
    uri = format_tee_uri(
        [f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{away / 'secondary.db'}"],
        tmp_path / "queue",
        retry_interval=0,
    )
    tee = get_tracking_store(uri, str(tmp_path / "artifacts"))
    assert isinstance(tee, TeeTrackingStore) and tee.capabilities.traces
    client = MlflowClient(uri)
    exp = client.create_experiment("traced")
    first = _write(client, exp, "first")
    second = _write(client, exp, "second")
    third = _write(client, exp, "third")
    fb = client.log_assessment(Feedback("relevance", 0.4), request_id=first)
    over = client.log_assessment(Feedback("relevance", 0.8, overrides=fb.assessment_id), first)
    client.set_trace_tag(first, "extra", "1")
    client.delete_trace_tag(first, "t")
    client.delete_traces(exp, trace_ids=[second])
    assert tee.status()[0].pending > 0  # all queued: the secondary is away

    away.mkdir()
    assert [(s.pending, s.rejected) for s in tee.flush()] == [(0, 0)]
    assert tee.verify() == []
    secondary = get_tracking_store(f"sqlite:///{away / 'secondary.db'}", str(tmp_path / "a"))
    mirror = secondary.get_trace(first)
    assert [s.name for s in mirror.data.spans] == ["first", "llm"]
    assert mirror.info.tags["extra"] == "1" and "t" not in mirror.info.tags
    valid = {a.value: a.valid for a in mirror.info.assessments}
    assert valid == {0.4: False, 0.8: True}
    assert over.assessment_id not in {a.assessment_id for a in mirror.info.assessments}
    sid = mirror.info.experiment_id
    mirrored = MlflowClient(f"sqlite:///{away / 'secondary.db'}")
    assert {t.info.trace_id for t in mirrored.search_traces([sid])} == {first, third}

    # deleting the override on the primary makes the old feedback valid on the secondary too
    client.delete_assessment(first, over.assessment_id)
    assert {a.value: a.valid for a in secondary.get_trace(first).info.assessments} == {0.4: True}

    # the oldest traces by time: the same ones go on both sides
    assert client.delete_traces(exp, max_timestamp_millis=2**62, max_traces=1) == 1
    assert [t.info.trace_id for t in mirrored.search_traces([sid])] == [third]
    assert tee.verify() == []
    secondary.delete_traces(sid, trace_ids=[third])  # behind the tee's back
    assert any(f"trace {third} is missing" in d for d in tee.verify())
