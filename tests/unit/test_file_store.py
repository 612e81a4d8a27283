"""Tests specific to the file tracking store (the shared contract is in tests/conformance).

Layout (MLflow's mlruns), the meta.yaml reader, metric lines, the latest-metrics summary,
roll-back of interrupted writes, and path safety. Everything runs on real files.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trackyard.entities import Metric, Param, RunTag, ViewType
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing import make_client
from trackyard_file import _fs, _metrics
from trackyard_file.tracking import LOCK_FILE, SUMMARY_FILE, FileTrackingStore

T0 = 1_700_000_000_000
INVALID = ErrorCode.INVALID_PARAMETER_VALUE


def _code(excinfo: pytest.ExceptionInfo[TrackyardError]) -> str:
    return excinfo.value.error_code


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


@pytest.fixture
def store(root: Path) -> FileTrackingStore:
    return FileTrackingStore(str(root))


@pytest.fixture
def client(store: FileTrackingStore) -> Any:
    return make_client(store)


@pytest.fixture
def run_id(client: Any) -> str:
    exp_id = client.create_experiment("e")
    return str(client.create_run(exp_id, start_time=T0, run_name="r").info.run_id)


def _run_dir(store: FileTrackingStore, run_id: str) -> Path:
    return Path(store._locate_run(run_id))


def _fresh(root: Path) -> Any:
    """A client on a new store instance (empty caches), as another process would see it."""
    return make_client(FileTrackingStore(str(root)))


# -- URIs and the root ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_uri",
    [
        lambda p: str(p),
        lambda p: p.as_uri(),
        lambda p: "file:" + str(p),
        lambda p: "file://localhost" + str(p),
    ],
)
def test_root_from_uri_forms(tmp_path: Path, make_uri: Any) -> None:
    target = tmp_path / "a dir" / "mlruns"
    assert _fs.root_from_uri(make_uri(target)) == str(target)


def test_root_from_relative_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _fs.root_from_uri("file:runs") == str(tmp_path / "runs")
    assert _fs.root_from_uri("runs") == str(tmp_path / "runs")


@pytest.mark.parametrize("uri", ["file://otherhost/x", "", "   "])
def test_root_from_uri_rejects(uri: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        _fs.root_from_uri(uri)
    assert _code(excinfo) == INVALID


def test_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(TrackyardError):
        FileTrackingStore(str(tmp_path / "f"))


def test_new_root_has_default_experiment_and_trash(root: Path, store: FileTrackingStore) -> None:
    assert (root / ".trash").is_dir()
    meta = yaml.safe_load((root / "0" / "meta.yaml").read_text())
    assert meta == {
        "artifact_location": root.as_uri() + "/0",
        "creation_time": meta["creation_time"],
        "effective_trace_archival_retention": None,
        "experiment_id": "0",
        "last_update_time": meta["creation_time"],
        "lifecycle_stage": "active",
        "name": "Default",
        "trace_location": None,
        "workspace": "default",
    }
    FileTrackingStore(str(root))  # opening again changes nothing
    assert sorted(os.listdir(root)) == [".trackyard.lock", ".trash", "0"]


def test_artifact_root_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKYARD_ARTIFACT_ROOT", raising=False)
    root = tmp_path / "r"
    assert FileTrackingStore(str(root)).artifact_uri == root.as_uri()
    # trackyard's generic default means "the store decides": MLflow's default, the root
    generic = os.path.abspath("./trackyard-artifacts")
    assert FileTrackingStore(str(root), generic).artifact_uri == root.as_uri()
    other = tmp_path / "elsewhere"
    assert FileTrackingStore(str(root), str(other)).artifact_uri == str(other)
    assert FileTrackingStore(str(root), "s3://bucket/x/").artifact_uri == "s3://bucket/x"


# -- layout ------------------------------------------------------------------------------------


def test_layout_is_mlflows(root: Path, client: Any, store: FileTrackingStore) -> None:
    exp_id = client.create_experiment("exp one", tags={"a/b": "c"})
    assert len(exp_id) == 18 and exp_id.isdigit()
    run = client.create_run(exp_id, start_time=T0, tags={"x/y": "z"}, run_name="myrun")
    rid = run.info.run_id
    client.log_metric(rid, "m", 1.5, timestamp=T0, step=2)
    client.log_metric(rid, "m", float("nan"), timestamp=T0 + 1, step=3)
    client.log_metric(
        rid, "dir/m", float("-inf"), timestamp=T0, step=7, dataset_name="ds", dataset_digest="d1"
    )
    client.log_param(rid, "p/q", "v")
    client.set_terminated(rid, end_time=T0 + 9)
    exp = root / exp_id
    run_dir = exp / rid
    assert (exp / "tags" / "a" / "b").read_bytes() == b"c"
    assert (run_dir / "tags" / "x" / "y").read_bytes() == b"z"
    assert (run_dir / "tags" / "mlflow.runName").read_bytes() == b"myrun"
    assert (run_dir / "params" / "p" / "q").read_bytes() == b"v"
    assert (run_dir / "metrics" / "m").read_text() == f"{T0} 1.5 2\n{T0 + 1} nan 3\n"
    assert (run_dir / "metrics" / "dir" / "m").read_text() == f"{T0} -inf 7 ds d1\n"
    for sub in ("metrics", "params", "tags", "artifacts"):
        assert (run_dir / sub).is_dir()
    meta = yaml.safe_load((run_dir / "meta.yaml").read_text())
    assert meta == {
        "artifact_uri": f"{root.as_uri()}/{exp_id}/{rid}/artifacts",
        "deleted_time": None,
        "end_time": T0 + 9,
        "entry_point_name": "",
        "experiment_id": exp_id,
        "lifecycle_stage": "active",
        "run_id": rid,
        "run_name": "myrun",
        "source_name": "",
        "source_type": 4,
        "source_version": "",
        "start_time": T0,
        "status": 3,
        "tags": [],
        "user_id": run.info.user_id,
    }
    exp_meta = yaml.safe_load((exp / "meta.yaml").read_text())
    assert exp_meta["experiment_id"] == exp_id and exp_meta["name"] == "exp one"
    assert "tags" not in exp_meta


def test_deleted_experiment_moves_to_trash_and_back(root: Path, client: Any) -> None:
    exp_id = client.create_experiment("gone")
    r1 = client.create_run(exp_id).info.run_id
    r2 = client.create_run(exp_id).info.run_id
    client.delete_run(r2)
    first_deleted = yaml.safe_load((root / exp_id / r2 / "meta.yaml").read_text())["deleted_time"]
    client.delete_experiment(exp_id)
    assert not (root / exp_id).exists()
    meta = yaml.safe_load((root / ".trash" / exp_id / "meta.yaml").read_text())
    assert meta["lifecycle_stage"] == "deleted"
    run_meta = yaml.safe_load((root / ".trash" / exp_id / r1 / "meta.yaml").read_text())
    assert run_meta["lifecycle_stage"] == "deleted" and run_meta["deleted_time"]
    assert _fresh(root).get_run(r1).info.lifecycle_stage == "deleted"
    with pytest.raises(TrackyardError) as excinfo:
        client.log_metric(r1, "m", 1.0)
    assert _code(excinfo) == INVALID
    client.restore_experiment(exp_id)
    assert (root / exp_id).is_dir() and not (root / ".trash" / exp_id).exists()
    assert client.get_run(r1).info.lifecycle_stage == "active"
    # a run deleted on its own before the experiment stays deleted
    assert client.get_run(r2).info.lifecycle_stage == "deleted"
    r2_meta = yaml.safe_load((root / exp_id / r2 / "meta.yaml").read_text())
    assert r2_meta["deleted_time"] == first_deleted
    client.log_metric(r1, "m", 1.0)


def test_default_experiment_cannot_be_deleted(client: Any) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        client.delete_experiment("0")
    assert _code(excinfo) == INVALID
    assert client.get_experiment("0").lifecycle_stage == "active"


def test_values_have_no_trailing_newline_and_keep_unicode(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    client.set_tag(run_id, "note", "line1\nline2 ünï")
    client.log_param(run_id, "p", "")
    run_dir = _run_dir(store, run_id)
    assert (run_dir / "tags" / "note").read_bytes() == "line1\nline2 ünï".encode()
    assert (run_dir / "params" / "p").read_bytes() == b""
    data = client.get_run(run_id).data
    assert data.tags["note"] == "line1\nline2 ünï" and data.params["p"] == ""


def test_experiment_name_is_never_a_path(root: Path, client: Any, tmp_path: Path) -> None:
    before = {p for p in tmp_path.rglob("*")}
    for name in ["../escape", "/abs/name", "a\\b", "C:\\x", ".trash", "0", "models", "x/../../y"]:
        exp_id = client.create_experiment(name)
        assert client.get_experiment_by_name(name).experiment_id == exp_id
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(root in p.parents for p in created)
    assert all(
        p.name.isdigit() or root / p.name not in created for p in created if p.parent == root
    )


# -- meta.yaml -------------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85\u2028\u2029"),
    max_size=40,
)
_scalars = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.booleans(),
    st.floats(allow_nan=False),
    _text,
    st.sampled_from(
        ["yes", "No", "on", "0x1f", "0b101", "1e5", "1_000", "012", "2024-01-02", ".inf", "~", "7a"]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), _scalars, max_size=8))
def test_load_meta_agrees_with_yaml(data: dict[str, Any]) -> None:
    dumped = _fs.dump_meta(data)
    assert _fs.load_meta(dumped) == yaml.safe_load(dumped.decode())


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: 'x: y'\n",
        "a: 'it''s'\n",
        "tags:\n  k: v\n",
        "name: a long name that PyYAML folded\n  over two lines\n",
        'name: "double\\tquoted"\n',
        "x: 1.5\ny: 2024-01-01\nz: yes\n",
        "run_id: 0123abc\nr2: 7677e890c20e49e9bcb4cfba6829928f\n",
        "empty:\nnull_value: null\ntilde: ~\n",
        "",
    ],
)
def test_load_meta_examples(text: str) -> None:
    assert _fs.load_meta(text.encode()) == (yaml.safe_load(text) or {})


def test_load_meta_rejects_non_mappings() -> None:
    with pytest.raises(ValueError):
        _fs.load_meta(b"- a\n- b\n")


# -- metric lines --------------------------------------------------------------------------


def test_parse_lines_forms() -> None:
    text = "1 2.5\n10 nan 3\n\n11 -inf 4 train abc123\n12 1e-300 5\n"
    points = _metrics.parse_lines(text)
    assert [(p.timestamp, p.step) for p in points] == [(1, 0), (10, 3), (11, 4), (12, 5)]
    assert math.isnan(points[1].value) and points[2].value == -math.inf
    assert (points[2].dataset_name, points[2].dataset_digest) == ("train", "abc123")


def test_parse_lines_skips_malformed_and_partial(caplog: pytest.LogCaptureFixture) -> None:
    text = "1 1.0 1\nbroken line here now\n2 x 2\n3 3.0 3\n4 4.0"
    points = _metrics.parse_lines(text, "m")
    assert [p.step for p in points] == [1, 3]  # the unterminated "4 4.0" is a torn write
    assert "malformed" in caplog.text


def test_format_lines_dataset_fields() -> None:
    data = _metrics.format_lines(
        [
            (1, 1.0, 0, "ds", "d1"),
            (2, math.nan, 1, None, None),
            (3, 2.0, 2, "has space", "d"),
            (4, 3.0, 3, "ds", ""),
        ]
    )
    assert data == b"1 1.0 0 ds d1\n2 nan 1\n3 2.0 2\n4 3.0 3\n"


def test_five_field_lines_keep_their_step(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    path = _run_dir(store, run_id) / "metrics" / "acc"
    path.write_text(f"{T0} 0.5 7 train d1\n{T0} 0.25 3\n")
    history = _fresh(store.root).get_metric_history(run_id, "acc")
    assert [(p.value, p.step) for p in history] == [(0.25, 3), (0.5, 7)]
    assert (history[1].dataset_name, history[1].dataset_digest) == ("train", "d1")
    assert _fresh(store.root).get_run(run_id).data.metrics["acc"] == 0.5


def test_partial_last_line_is_ignored_then_cut(
    client: Any, run_id: str, store: FileTrackingStore, caplog: pytest.LogCaptureFixture
) -> None:
    client.log_metric(run_id, "m", 1.0, timestamp=T0, step=1)
    path = _run_dir(store, run_id) / "metrics" / "m"
    with open(path, "ab") as fh:
        fh.write(b"1700000000001 99.0 9")  # a writer killed in the middle of its line
    fresh = _fresh(store.root)
    assert [p.step for p in fresh.get_metric_history(run_id, "m")] == [1]
    assert fresh.get_run(run_id).data.metrics["m"] == 1.0
    fresh.log_metric(run_id, "m", 2.0, timestamp=T0 + 2, step=2)
    assert path.read_text() == f"{T0} 1.0 1\n{T0 + 2} 2.0 2\n"
    assert "partial line" in caplog.text


# -- the latest-metrics summary --------------------------------------------------------------


def _summary(store: FileTrackingStore, run_id: str) -> dict[str, _metrics.Entry]:
    return _metrics.loads_summary((_run_dir(store, run_id) / SUMMARY_FILE).read_bytes())


def test_summary_is_kept_in_step(client: Any, run_id: str, store: FileTrackingStore) -> None:
    client.log_batch(run_id, metrics=[Metric("a", float(i), T0 + i, i) for i in range(100)])
    client.log_metric(run_id, "a", -1.0, timestamp=T0, step=50)
    client.log_metric(run_id, "b", 7.0, timestamp=T0, step=0)
    entries = _summary(store, run_id)
    assert (entries["a"].value, entries["a"].step) == (99.0, 99)
    assert entries["b"].value == 7.0
    size = (_run_dir(store, run_id) / "metrics" / "a").stat().st_size
    assert entries["a"].size == entries["a"].consumed == size


def test_summary_rebuilt_when_missing_or_corrupt(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    client.log_batch(run_id, metrics=[Metric("a", float(i), T0 + i, i) for i in range(10)])
    path = _run_dir(store, run_id) / SUMMARY_FILE
    path.unlink()
    assert _fresh(store.root).get_run(run_id).data.metrics == {"a": 9.0}
    assert _summary(store, run_id)["a"].value == 9.0  # written back
    path.write_bytes(path.read_bytes()[:-5] + b"12345")  # checksum no longer matches
    assert _metrics.loads_summary(path.read_bytes()) == {}
    assert _fresh(store.root).get_run(run_id).data.metrics == {"a": 9.0}


def test_summary_lies_are_caught(client: Any, run_id: str, store: FileTrackingStore) -> None:
    client.log_metric(run_id, "a", 1.0, timestamp=T0, step=1)
    metric = _run_dir(store, run_id) / "metrics" / "a"
    # another program appends (MLflow does not update the summary)
    with open(metric, "a") as fh:
        fh.write(f"{T0} 5.0 2\n")
    assert _fresh(store.root).get_run(run_id).data.metrics["a"] == 5.0
    # another program rewrites the file shorter
    metric.write_text(f"{T0} 3.0 0\n")
    assert _fresh(store.root).get_run(run_id).data.metrics["a"] == 3.0


def test_incremental_catch_up_reads_only_new_lines(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    client.log_batch(run_id, metrics=[Metric("a", float(i), T0 + i, i) for i in range(1000)])
    path = _run_dir(store, run_id) / "metrics" / "a"
    known = _summary(store, run_id)["a"]
    with open(path, "a") as fh:
        fh.write(f"{T0} 0.5 5000\n")
    entry = _metrics.scan_file(str(path), os.stat(path), known)
    assert (entry.value, entry.step) == (0.5, 5000)
    assert entry.consumed == path.stat().st_size
    # a lie about where lines end (not at a newline) forces a full re-read, still correct
    bogus = known._replace(consumed=known.consumed - 3)
    entry = _metrics.scan_file(str(path), os.stat(path), bogus)
    assert (entry.value, entry.step) == (0.5, 5000)


def test_foreign_in_place_writes_seen_after_revalidation(
    root: Path, run_id: str, store: FileTrackingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKYARD_FILE_REVALIDATE_SECONDS", "0")
    client = _fresh(root)
    client.set_tag(run_id, "t", "old")
    client.log_metric(run_id, "m", 1.0, timestamp=T0, step=0)
    assert client.get_run(run_id).data.tags["t"] == "old"
    run_dir = _run_dir(store, run_id)
    with open(run_dir / "tags" / "t", "w") as fh:  # MLflow rewrites tags in place
        fh.write("new")
    with open(run_dir / "metrics" / "m", "a") as fh:  # and appends without a summary
        fh.write(f"{T0} 2.0 1\n")
    data = client.get_run(run_id).data
    assert data.tags["t"] == "new" and data.metrics["m"] == 2.0


def test_trackyard_writes_from_another_store_are_seen_at_once(root: Path, run_id: str) -> None:
    reader, writer = _fresh(root), _fresh(root)
    for i in range(20):
        writer.log_metric(run_id, "m", float(i), timestamp=T0, step=i)
        writer.set_tag(run_id, "i", str(i))
        data = reader.get_run(run_id).data
        assert data.metrics["m"] == float(i) and data.tags["i"] == str(i)
        assert [
            r.info.run_id
            for r in reader.search_runs(
                [reader.get_run(run_id).info.experiment_id], f"metrics.m = {i}"
            )
        ] == [run_id]


# -- all or nothing -------------------------------------------------------------------------


def test_conflicting_param_writes_nothing(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    client.log_param(run_id, "p", "1")
    run_dir = _run_dir(store, run_id)
    before = {f: (run_dir / f).read_bytes() for f in _files(run_dir) if "trackyard" not in f}
    with pytest.raises(TrackyardError) as excinfo:
        client.log_batch(
            run_id,
            metrics=[Metric(f"m{i}", 1.0, T0, 0) for i in range(50)],
            params=[Param("q", "1"), Param("p", "2")],
            tags=[RunTag("t", "v")],
        )
    assert _code(excinfo) == INVALID
    after = {f: (run_dir / f).read_bytes() for f in _files(run_dir) if "trackyard" not in f}
    assert after == before


@pytest.mark.parametrize(
    "existing, new",
    [("m", "m/sub"), ("m/sub", "m"), ("a/b/c", "a/b")],
)
def test_key_clashes_are_refused_before_writing(
    client: Any, run_id: str, store: FileTrackingStore, existing: str, new: str
) -> None:
    client.log_metric(run_id, existing, 1.0, timestamp=T0)
    with pytest.raises(TrackyardError) as excinfo:
        client.log_batch(run_id, metrics=[Metric("ok", 1.0, T0, 0), Metric(new, 2.0, T0, 0)])
    assert _code(excinfo) == INVALID
    assert "in the way" in str(excinfo.value)
    assert set(client.get_run(run_id).data.metrics) == {existing}
    with pytest.raises(TrackyardError):
        client.log_batch(run_id, metrics=[Metric("x", 1.0, T0, 0), Metric("x/y", 1.0, T0, 0)])
    assert "x" not in client.get_run(run_id).data.metrics


def test_journal_rolls_back_an_interrupted_batch(root: Path, client: Any, run_id: str) -> None:
    store = client._store
    client.log_metric(run_id, "a", 1.0, timestamp=T0, step=1)
    client.set_tag(run_id, "t", "old")
    run_dir = _run_dir(store, run_id)
    before = {f: (run_dir / f).read_bytes() for f in _files(run_dir) if "trackyard" not in f}
    # A writer saved its journal, appended to "a" and replaced "t", then died.
    lock = run_dir / LOCK_FILE
    undo = [
        ["truncate", "metrics/a", (run_dir / "metrics" / "a").stat().st_size],
        ["unlink", "metrics/b"],
        ["restore", "tags/t", "old"],
    ]
    lock.write_bytes(json.dumps({"format": 1, "undo": undo}).encode() + b"\n")
    with open(run_dir / "metrics" / "a", "ab") as fh:
        fh.write(f"{T0} 5.0 5\n{T0} 6.0".encode())
    (run_dir / "metrics" / "b").write_text(f"{T0} 1.0 0\n")
    (run_dir / "tags" / "t").write_text("new")
    # The next reader waits for the lock (free: the writer is dead) and rolls back.
    fresh = _fresh(root)
    run = fresh.get_run(run_id)
    assert run.data.metrics == {"a": 1.0} and run.data.tags["t"] == "old"
    after = {f: (run_dir / f).read_bytes() for f in _files(run_dir) if "trackyard" not in f}
    assert after == before
    assert lock.read_bytes() == b""


def test_incomplete_journal_is_discarded(root: Path, client: Any, run_id: str) -> None:
    lock = _run_dir(client._store, run_id) / LOCK_FILE
    lock.write_bytes(b'{"format": 1, "undo": [["unlink", "metr')  # died while saving it
    client2 = _fresh(root)
    client2.log_metric(run_id, "m", 1.0, timestamp=T0)
    assert lock.read_bytes() == b""
    assert client2.get_run(run_id).data.metrics == {"m": 1.0}


def test_failed_apply_is_undone(client: Any, run_id: str, store: FileTrackingStore) -> None:
    """An operation failing half-way (here: a folder where a file goes) undoes the others."""
    from trackyard_file._txn import Txn

    run_dir = str(_run_dir(store, run_id))
    client.log_metric(run_id, "a", 1.0, timestamp=T0)
    os.makedirs(os.path.join(run_dir, "tags", "blocked"))
    txn = Txn(run_dir, sync=False)
    txn.append(os.path.join(run_dir, "metrics", "a"), b"1 2.0 3\n")
    txn.append(os.path.join(run_dir, "metrics", "new", "key"), b"1 2.0 3\n")
    txn.replace(os.path.join(run_dir, "tags", "blocked"), b"x")
    fd = os.open(os.path.join(run_dir, LOCK_FILE), os.O_RDWR)
    try:
        with pytest.raises(OSError):
            txn.apply(fd)
        assert os.fstat(fd).st_size == 0
    finally:
        os.close(fd)
    assert Path(run_dir, "metrics", "a").read_text() == f"{T0} 1.0 0\n"
    assert not Path(run_dir, "metrics", "new").exists()


# -- path safety ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "/abs", "a\\b", "..\\..\\x", "a//b", "./a", "a/", "", "x\x00"]
)
def test_store_refuses_escaping_keys(store: FileTrackingStore, run_id: str, key: str) -> None:
    """The client refuses these first; the store refuses them too (defence in depth)."""

    def files() -> set[Path]:
        return {p for p in Path(store.root).parent.rglob("*") if "trackyard" not in p.name}

    outside_before = files()
    for call in (
        lambda: store.log_batch(run_id, [Metric(key, 1.0, T0, 0)], [], []),
        lambda: store.log_batch(run_id, [], [Param(key, "v")], []),
        lambda: store.log_batch(run_id, [], [], [RunTag(key, "v")]),
        lambda: store.get_metric_history(run_id, key),
        lambda: store.delete_tag(run_id, key),
    ):
        with pytest.raises(TrackyardError) as excinfo:
            call()
        assert _code(excinfo) == INVALID
    assert files() == outside_before


def test_key_parts_windows_drive_is_only_special_on_windows() -> None:
    assert _fs.key_parts("C:x") == ("C:x",)  # a plain file name on POSIX
    with pytest.raises(TrackyardError):
        _fs.key_parts("C:\\x")


@pytest.mark.parametrize("category", ["metrics", "params", "tags"])
def test_symlink_inside_run_pointing_outside(
    store: FileTrackingStore, client: Any, run_id: str, tmp_path: Path, category: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = _run_dir(store, run_id)
    (run_dir / category / "evil").symlink_to(outside)
    calls = {
        "metrics": lambda: client.log_metric(run_id, "evil/x", 1.0),
        "params": lambda: client.log_param(run_id, "evil/x", "v"),
        "tags": lambda: client.set_tag(run_id, "evil/x", "v"),
    }
    with pytest.raises(TrackyardError) as excinfo:
        calls[category]()
    assert _code(excinfo) == INVALID
    assert list(outside.iterdir()) == []
    # the link is not followed when reading either
    (outside / "x").write_text("secret")
    data = client.get_run(run_id).data
    assert "evil/x" not in {**data.metrics, **data.params, **data.tags}


def test_symlinked_category_folder_is_refused(
    store: FileTrackingStore, client: Any, run_id: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    run_dir = _run_dir(store, run_id)
    os.rename(run_dir / "metrics", tmp_path / "moved")
    (run_dir / "metrics").symlink_to(outside)
    with pytest.raises(TrackyardError) as excinfo:
        client.log_metric(run_id, "m", 1.0)
    assert _code(excinfo) == INVALID
    assert list(outside.iterdir()) == []


def test_symlinked_metric_file_is_not_read_or_written(
    store: FileTrackingStore, client: Any, run_id: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(f"{T0} 42.0 0\n")
    (_run_dir(store, run_id) / "metrics" / "m").symlink_to(secret)
    with pytest.raises(TrackyardError):
        client.log_metric(run_id, "m", 1.0)
    with pytest.raises(TrackyardError):
        client.get_metric_history(run_id, "m")
    assert "m" not in client.get_run(run_id).data.metrics
    assert secret.read_text() == f"{T0} 42.0 0\n"


def test_symlinked_experiment_and_run_folders_are_ignored(
    root: Path, client: Any, run_id: str, tmp_path: Path
) -> None:
    store = client._store
    elsewhere = tmp_path / "elsewhere"
    exp_dir = _run_dir(store, run_id).parent
    os.symlink(exp_dir, root / "123456789012345678")
    os.symlink(_run_dir(store, run_id), exp_dir / ("f" * 32))
    elsewhere.mkdir()
    fresh = _fresh(root)
    with pytest.raises(TrackyardError) as excinfo:
        fresh.get_experiment("123456789012345678")
    assert _code(excinfo) == ErrorCode.RESOURCE_DOES_NOT_EXIST
    with pytest.raises(TrackyardError):
        fresh.get_run("f" * 32)
    runs = fresh.search_runs([exp_dir.name], run_view_type=ViewType.ALL)
    assert [r.info.run_id for r in runs] == [run_id]


def test_lock_file_symlink_is_not_followed(
    store: FileTrackingStore, client: Any, run_id: str, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    run_dir = _run_dir(store, run_id)
    lock = run_dir / LOCK_FILE
    if lock.exists():
        lock.unlink()
    lock.symlink_to(target)
    with pytest.raises(TrackyardError) as excinfo:
        client.log_metric(run_id, "m", 1.0)
    assert _code(excinfo) == ErrorCode.INVALID_STATE
    assert not target.exists()


# -- reading what others wrote ---------------------------------------------------------------


def test_reads_legacy_and_odd_run_metadata(root: Path, client: Any, run_id: str) -> None:
    run_dir = _run_dir(client._store, run_id)
    exp_id = run_dir.parent.name
    legacy = {
        "artifact_uri": "/somewhere/artifacts",
        "end_time": None,
        "experiment_id": int(exp_id),
        "lifecycle_stage": "active",
        "run_uuid": run_id,
        "name": "",
        "start_time": T0,
        "user_id": "u",
    }
    (run_dir / "meta.yaml").write_text(yaml.safe_dump(legacy))
    run = _fresh(root).get_run(run_id)
    assert run.info.status == "RUNNING"  # no status: RUNNING, as MLflow reads it
    assert run.info.experiment_id == exp_id
    assert run.info.run_name == "r"  # from the mlflow.runName tag


def test_folders_that_are_not_runs_are_skipped(root: Path, client: Any, run_id: str) -> None:
    exp_dir = _run_dir(client._store, run_id).parent
    (exp_dir / "not-a-run").mkdir()
    (exp_dir / "bad-meta").mkdir()
    (exp_dir / "bad-meta" / "meta.yaml").write_text("run_id: other\nexperiment_id: '1'\n")
    (exp_dir / "datasets").mkdir()
    runs = _fresh(root).search_runs([exp_dir.name], run_view_type=ViewType.ALL)
    assert [r.info.run_id for r in runs] == [run_id]


def test_reads_dataset_inputs_ignoring_destination_id(root: Path, client: Any, run_id: str) -> None:
    run_dir = _run_dir(client._store, run_id)
    exp_dir = run_dir.parent
    ds_id = "9778a6377275ce4a6dd8d4252af0512c"
    (exp_dir / "datasets" / ds_id).mkdir(parents=True)
    (exp_dir / "datasets" / ds_id / "meta.yaml").write_text(
        yaml.safe_dump(
            {
                "digest": "d0ca",
                "name": "dsn",
                "profile": None,
                "schema": None,
                "source": "{}",
                "source_type": "code",
            }
        )
    )
    (run_dir / "inputs" / "e7e7").mkdir(parents=True)
    (run_dir / "inputs" / "e7e7" / "meta.yaml").write_text(
        yaml.safe_dump(
            {
                "destination_id": ds_id,  # MLflow's bug: the dataset id, not the run id
                "destination_type": "RUN",
                "source_id": ds_id,
                "source_type": "DATASET",
                "tags": {"mlflow.data.context": "training"},
            }
        )
    )
    fresh = _fresh(root)
    (dataset_input,) = fresh.get_run(run_id).inputs.dataset_inputs
    assert (dataset_input.dataset.name, dataset_input.dataset.digest) == ("dsn", "d0ca")
    found = fresh.search_runs([exp_dir.name], "datasets.context = 'training'")
    assert [r.info.run_id for r in found] == [run_id]


def test_metric_history_dedupes_and_orders(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    path = _run_dir(store, run_id) / "metrics" / "m"
    path.write_text(f"{T0 + 5} 1.0 1\n{T0} 2.0 2\n{T0} 2.0 2\n{T0} nan 2\n{T0} nan 2\n")
    history = _fresh(store.root).get_metric_history(run_id, "m")
    assert [(p.timestamp, p.step) for p in history] == [(T0, 2), (T0, 2), (T0 + 5, 1)]
    assert math.isnan(history[0].value) and history[1].value == 2.0


_points = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 3),
        st.sampled_from([0.0, -0.0, 1.5, -2.0, math.inf, -math.inf, math.nan]),
    ),
    max_size=12,
)


@given(_points, st.booleans())
@settings(max_examples=200, deadline=None)
def test_history_orders_and_dedupes_any_file(points: list[Any], in_order: bool) -> None:
    order = lambda p: (p[0], p[1], 0.0 if p[2] != p[2] else p[2])  # noqa: E731
    if in_order:  # the writer's usual order: the rows are kept as they stand
        points = sorted(points, key=order)
    text = "".join(f"{ts} {value!r} {step}\n" for ts, step, value in points)
    seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for ts, step, value in points:
        seen.setdefault((ts, step, "nan" if value != value else value), (ts, step, value))
    want = sorted(seen.values(), key=order)  # (timestamp, step, value), NaN as 0
    got = _metrics.history(text)
    assert [(r[0], r[1], repr(r[2])) for r in got] == [(r[0], r[1], repr(r[2])) for r in want]


@given(_points.filter(bool))
@settings(max_examples=200, deadline=None)
def test_batch_top_is_the_first_highest_ranked_point(points: list[Any]) -> None:
    batch = [Metric("m", value, ts, step) for ts, step, value in points]
    best = batch[0]
    for m in batch:
        if _metrics.rank(m.step, m.timestamp, m.value) > _metrics.rank(
            best.step, best.timestamp, best.value
        ):
            best = m
    got = _metrics.batch_top(batch)
    assert repr(got) == repr((best.step, best.timestamp, best.value))


def test_history_pages(client: Any, run_id: str) -> None:
    client.log_batch(run_id, metrics=[Metric("m", float(i), T0 + i, i) for i in range(25)])
    store = client._store
    page = store.get_metric_history(run_id, "m", max_results=10)
    assert [p.step for p in page] == list(range(10)) and page.token
    page = store.get_metric_history(run_id, "m", max_results=10, page_token=page.token)
    assert page[0].step == 10
    with pytest.raises(TrackyardError):
        store.get_metric_history(run_id, "m", max_results=0)


def test_meta_files_are_replaced_atomically(
    client: Any, run_id: str, store: FileTrackingStore
) -> None:
    meta = _run_dir(store, run_id) / "meta.yaml"
    inode = meta.stat().st_ino
    client.set_terminated(run_id)
    assert meta.stat().st_ino != inode  # a new file renamed over the old one
    assert stat.S_ISREG(meta.stat().st_mode)
    leftovers = [p for p in _run_dir(store, run_id).iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
