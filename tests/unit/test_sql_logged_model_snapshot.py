"""SQLite search snapshots for logged models: a repeated search is reused only while nothing
was written, and never hands out objects a caller could have changed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trackyard.entities import Metric
from trackyard.testing import make_client
from trackyard_sql.tracking import SqlTrackingStore

_FILTER = "metrics.acc > 0.5"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlTrackingStore]:
    s = SqlTrackingStore(f"sqlite:///{tmp_path / 't.db'}", str(tmp_path / "artifacts"))
    yield s
    s.close()


def _seed(client: Any, n: int) -> tuple[str, str, list[str]]:
    exp = client.create_experiment("snap")
    run = client.create_run(exp).info.run_id
    ids = []
    for i in range(n):
        mid = client.create_logged_model(exp, name=f"m{i}", params={"p": str(i)}).model_id
        client.log_batch(run, metrics=[Metric("acc", i / n, 1_000 + i, 0, model_id=mid)])
        ids.append(mid)
    return exp, run, ids


def _search(client: Any, exp: str, **kw: Any) -> Any:
    return client.search_logged_models([exp], filter_string=_FILTER, **kw)


def _found(client: Any, exp: str, model_id: str) -> Any:
    return next(m for m in _search(client, exp) if m.model_id == model_id)


def test_repeated_search_returns_equal_independent_copies(store: SqlTrackingStore) -> None:
    client = make_client(store)
    exp, _, _ = _seed(client, 10)
    first = _search(client, exp, max_results=3)
    second = _search(client, exp, max_results=3)
    assert [m.to_dictionary() for m in first] == [m.to_dictionary() for m in second]
    assert first.token == second.token and first.token is not None
    first[0].tags["mutated"] = "yes"
    first[0].params["p"] = "changed"
    first[0].metrics[0].value = -1.0
    again = _search(client, exp, max_results=3)[0]
    assert "mutated" not in again.tags and again.params["p"] != "changed"
    assert again.metrics[0].value != -1.0
    rest = _search(client, exp, max_results=3, page_token=first.token)
    assert {m.model_id for m in rest}.isdisjoint(m.model_id for m in first)


def test_search_sees_writes_of_this_store(store: SqlTrackingStore) -> None:
    client = make_client(store)
    exp, run, ids = _seed(client, 10)
    assert len(_search(client, exp)) == 4
    client.set_logged_model_tags(ids[9], {"fresh": "1"})
    assert _found(client, exp, ids[9]).tags["fresh"] == "1"
    client.log_batch(run, metrics=[Metric("acc", 0.9, 5_000, 0, model_id=ids[0])])
    found = _search(client, exp)
    assert len(found) == 5 and ids[0] in {m.model_id for m in found}
    client.delete_logged_model(ids[9])
    assert ids[9] not in {m.model_id for m in _search(client, exp)}


def test_search_sees_writes_of_other_connections_and_processes(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    client = make_client(store)
    exp, _, ids = _seed(client, 6)
    assert "other" not in _found(client, exp, ids[5]).tags
    with sqlite3.connect(tmp_path / "t.db") as other:  # another connection, same process
        other.execute(
            "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) "
            "VALUES (?, ?, 'other', 'connection')",
            (ids[5], int(exp)),
        )
    assert _found(client, exp, ids[5]).tags["other"] == "connection"
    script = (
        "import sys\n"
        "from trackyard_sql.tracking import SqlTrackingStore\n"
        "from trackyard.testing import make_client\n"
        "s = SqlTrackingStore(store_uri=sys.argv[1], artifact_uri=sys.argv[2])\n"
        "make_client(s).set_logged_model_tags(sys.argv[3], {'other': 'process'})\n"
    )
    uri = f"sqlite:///{tmp_path / 't.db'}"
    subprocess.run([sys.executable, "-c", script, uri, str(tmp_path / "a"), ids[5]], check=True)
    assert _found(client, exp, ids[5]).tags["other"] == "process"
