"""``trackyard.log_feedback`` / ``log_expectation`` / ``override_feedback`` on a memory store."""

from __future__ import annotations

import pytest
from trackyard.errors import TrackyardError


def test_module_assessment_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    import trackyard
    from trackyard import MlflowClient

    monkeypatch.setenv("TRACKYARD_TRACKING_URI", "memory://module-assessments")
    trackyard.set_tracking_uri(None)
    client = MlflowClient()
    root = client.start_trace("t")
    client.end_trace(root.trace_id)
    fb = trackyard.log_feedback(trace_id=root.trace_id, name="rel", value=0.5, rationale="ok")
    ex = trackyard.log_expectation(trace_id=root.trace_id, name="answer", value="42")
    new = trackyard.override_feedback(
        trace_id=root.trace_id, assessment_id=fb.assessment_id, value=0.9
    )
    assert new.overrides == fb.assessment_id and new.name == "rel"
    assert client.get_assessment(fb.assessment_id).valid is False
    kinds = {a.assessment_id: a.kind for a in client.get_trace(root.trace_id).info.assessments}
    assert kinds == {
        fb.assessment_id: "feedback",
        ex.assessment_id: "expectation",
        new.assessment_id: "feedback",
    }
    with pytest.raises(TrackyardError) as info:
        trackyard.log_feedback(trace_id="tr-" + "0" * 32, value=1)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
