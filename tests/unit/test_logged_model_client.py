"""The client's logged-model surface beyond the kit: events, telling the two forms apart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from trackyard_memory import fresh_uri, reset
from trackyard_memory.tracking import MemoryTrackingStore

from trackyard import hookimpl
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.plugins.manager import get_plugin_manager
from trackyard.testing import make_client


class _Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def trackyard_on_event(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture
def client(tmp_path: Any) -> Iterator[Any]:
    uri = fresh_uri("lm-client")
    yield make_client(MemoryTrackingStore(store_uri=uri, artifact_uri=str(tmp_path / "a")))
    reset(uri)


def test_events_after_each_change(client: Any) -> None:
    recorder = _Recorder()
    name = f"lm-recorder-{id(recorder)}"
    get_plugin_manager().register(recorder, name)
    try:
        exp = client.create_experiment("e")
        model = client.create_logged_model(exp, "m")
        client.finalize_logged_model(model.model_id, "READY")
        client.delete_logged_model(model.model_id)
    finally:
        get_plugin_manager().unregister(name=name)
    got = [(e.name, getattr(e.entity, "model_id", e.entity)) for e in recorder.events]
    assert got[1:] == [
        ("logged_model.created", model.model_id),
        ("logged_model.finalized", model.model_id),
        ("logged_model.deleted", model.model_id),
    ]
    assert recorder.events[2].data == {"status": "READY"}


def test_positional_forms_are_told_apart(client: Any) -> None:
    exp = client.create_experiment("e")
    run = client.create_run(exp).info.run_id
    mlflow_form = client.create_logged_model(exp, "by-id", run)
    assert (mlflow_form.experiment_id, mlflow_form.source_run_id) == (exp, run)
    document_form = client.create_logged_model("by-run", run, None)
    assert (document_form.name, document_form.source_run_id) == ("by-run", run)
    assert document_form.experiment_id == exp


def test_document_form_with_a_missing_run_path_writes_nothing(client: Any) -> None:
    exp = client.create_experiment("e")
    run = client.create_run(exp).info.run_id
    with pytest.raises(TrackyardError) as excinfo:
        client.create_logged_model("m", run, "no/such/dir")
    assert excinfo.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert list(client.search_logged_models([exp])) == []
