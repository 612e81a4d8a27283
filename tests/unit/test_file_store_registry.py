"""Tests specific to the file model registry store (the contract is in tests/conformance).

MLflow's ``models/`` layout, crash safety of version creation, renames and deletes, names as
folder names, and processes creating versions of one model at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing import make_client
from trackyard_file.registry import LOCK_FILE, FileRegistryStore

INVALID = ErrorCode.INVALID_PARAMETER_VALUE
MISSING = ErrorCode.RESOURCE_DOES_NOT_EXIST


def _code(excinfo: pytest.ExceptionInfo[TrackyardError]) -> str:
    return excinfo.value.error_code


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


@pytest.fixture
def client(root: Path) -> Any:
    return make_client(None, FileRegistryStore(str(root)))


def _fresh(root: Path) -> Any:
    return make_client(None, FileRegistryStore(str(root)))


def _meta(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_layout_is_mlflows(root: Path, client: Any) -> None:
    client.create_registered_model("model1", tags={"t": "v", "a/b": "c"}, description="d")
    client.create_model_version("model1", "file:///tmp/x", run_id="r" * 32, tags={"vt": "1"})
    client.create_model_version("model1", "s3://b/2")
    client.set_registered_model_alias("model1", "champ", "1")
    model = root / "models" / "model1"
    meta = _meta(model / "meta.yaml")
    assert meta == {
        "aliases": {"champ": "1"},
        "creation_timestamp": meta["creation_timestamp"],
        "deployment_job_id": None,
        "deployment_job_state": None,
        "description": "d",
        "last_updated_timestamp": meta["last_updated_timestamp"],
        "name": "model1",
        "workspace": "default",
    }
    assert (model / "tags" / "t").read_bytes() == b"v"
    assert (model / "tags" / "a" / "b").read_bytes() == b"c"
    assert (model / "aliases" / "champ").read_bytes() == b"1"
    version = _meta(model / "version-1" / "meta.yaml")
    assert version == {
        "creation_timestamp": version["creation_timestamp"],
        "current_stage": "None",
        "deployment_job_state": None,
        "description": None,
        "last_updated_timestamp": version["last_updated_timestamp"],
        "model_id": None,
        "name": "model1",
        "run_id": "r" * 32,
        "run_link": None,
        "source": "file:///tmp/x",
        "status": "READY",
        "status_message": None,
        "storage_location": "file:///tmp/x",
        "user_id": None,
        "version": 1,
        "workspace": "default",
    }
    assert (model / "version-1" / "tags" / "vt").read_bytes() == b"1"
    client.delete_model_version("model1", "1")
    assert _meta(model / "version-1" / "meta.yaml")["current_stage"] == "Deleted_Internal"
    assert not (model / "aliases" / "champ").exists()
    assert _meta(model / "meta.yaml")["aliases"] == {}
    assert client.create_model_version("model1", "s3://b/3").version == "3"
    # (an emptied aliases/ folder is removed; MLflow reads a missing one as no aliases)
    assert sorted(p.name for p in model.iterdir() if not p.name.startswith(".")) == [
        "meta.yaml",
        "tags",
        "version-1",
        "version-2",
        "version-3",
    ]


def test_interrupted_version_creation_leaves_nothing_visible(root: Path, client: Any) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    model = root / "models" / "m"
    # what a process killed while assembling version 2 leaves behind
    staging = model / ".trackyard-new-0123"
    (staging / "tags").mkdir(parents=True)
    (staging / "meta.yaml").write_text("name: m\nversion: 2\n")
    # a version folder without meta.yaml (e.g. written by hand, or by another tool)
    (model / "version-7").mkdir()
    fresh = _fresh(root)
    assert [v.version for v in fresh.search_model_versions()] == ["1"]
    assert fresh.create_model_version("m", "s3://b/next").version == "8"


def test_interrupted_model_creation_is_reclaimed(root: Path, client: Any) -> None:
    (root / "models" / "half").mkdir(parents=True)  # created, killed before meta.yaml
    (root / "models" / "half" / "tags").mkdir()
    assert [m.name for m in client.search_registered_models()] == []
    with pytest.raises(TrackyardError) as excinfo:
        client.get_registered_model("half")
    assert _code(excinfo) == MISSING
    client.create_registered_model("half", description="now real")
    assert client.get_registered_model("half").description == "now real"


def test_rename_is_one_folder_rename(root: Path, client: Any) -> None:
    client.create_registered_model("old", tags={"t": "1"})
    for i in range(3):
        client.create_model_version("old", f"s3://b/{i}")
    client.set_registered_model_alias("old", "prod", "2")
    client.rename_registered_model("old", "new")
    assert not (root / "models" / "old").exists()
    model = root / "models" / "new"
    assert _meta(model / "meta.yaml")["name"] == "new"
    assert {_meta(model / f"version-{i}" / "meta.yaml")["name"] for i in (1, 2, 3)} == {"new"}
    assert (model / "aliases" / "prod").read_text() == "2"
    # a crash between the folder rename and the meta.yaml updates: the folder name wins
    meta = model / "version-1" / "meta.yaml"
    meta.write_text(meta.read_text().replace("name: new", "name: old"))
    assert _fresh(root).get_model_version("new", "1").name == "new"


def test_deleted_model_disappears_at_once(root: Path, client: Any) -> None:
    client.create_registered_model("gone")
    client.create_model_version("gone", "s3://b/1")
    client.delete_registered_model("gone")
    assert os.listdir(root / "models") == []
    # a deletion interrupted after the rename leaves a hidden folder nobody lists
    (root / "models" / ".trackyard-deleted-1234" / "version-1").mkdir(parents=True)
    (root / "models" / ".trackyard-deleted-1234" / "meta.yaml").write_text("name: gone\n")
    assert list(_fresh(root).search_registered_models()) == []


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("back\\slash", "folder name"),
        (".trackyard-x", "folder name"),
        ("é" * 128, "255 bytes"),
    ],
)
def test_names_that_cannot_be_folders(client: Any, name: str, fragment: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        client.create_registered_model(name)
    assert _code(excinfo) == INVALID and fragment in str(excinfo.value)


def test_symlinks_in_the_registry(root: Path, client: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "evil").mkdir(parents=True)
    (outside / "evil" / "meta.yaml").write_text("name: evil\n")
    client.create_registered_model("m")
    (root / "models" / "evil").symlink_to(outside / "evil")
    assert [m.name for m in client.search_registered_models()] == ["m"]
    with pytest.raises(TrackyardError) as excinfo:
        client.get_registered_model("evil")
    assert _code(excinfo) == MISSING
    (root / "models" / "m" / "tags").mkdir(exist_ok=True)
    (root / "models" / "m" / "tags" / "link").symlink_to(outside)
    with pytest.raises(TrackyardError) as excinfo:
        client.set_registered_model_tag("m", "link/x", "v")
    assert _code(excinfo) == INVALID
    assert sorted(os.listdir(outside)) == ["evil"]
    assert client.get_registered_model("m").tags == {}


def test_dangling_aliases_are_ignored(root: Path, client: Any) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    aliases = root / "models" / "m" / "aliases"
    aliases.mkdir()
    (aliases / "ghost").write_text("9")  # points at no version
    fresh = _fresh(root)
    assert fresh.get_registered_model("m").aliases == {}
    with pytest.raises(TrackyardError) as excinfo:
        fresh.get_model_version_by_alias("m", "ghost")
    assert _code(excinfo) == INVALID


def test_interrupted_change_is_rolled_back(root: Path, client: Any) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    client.create_model_version("m", "s3://b/2")
    version_meta = root / "models" / "m" / "version-1" / "meta.yaml"
    before = version_meta.read_bytes()
    # a transition with archiving died after rewriting version 1 only
    undo = [["restore", "m/version-1/meta.yaml", before.decode("latin-1")]]
    (root / LOCK_FILE).write_bytes(json.dumps({"format": 1, "undo": undo}).encode())
    version_meta.write_text(
        before.decode().replace("current_stage: None", "current_stage: Archived")
    )
    fresh = _fresh(root)
    assert fresh.get_model_version("m", "1").current_stage == "None"
    assert (root / LOCK_FILE).read_bytes() == b""
    assert version_meta.read_bytes() == before


_CREATE_VERSIONS = """
    import sys, time
    from trackyard.testing import make_client
    from trackyard_file.registry import FileRegistryStore
    root, start, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    client = make_client(None, FileRegistryStore(root))
    while time.time() < start:
        pass
    for i in range(n):
        print(client.create_model_version("shared", f"s3://b/{i}").version, flush=True)
"""


def test_processes_creating_versions_get_distinct_numbers(root: Path, client: Any) -> None:
    client.create_registered_model("shared")
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_CREATE_VERSIONS), str(root), str(start), "15"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    numbers = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        numbers += [int(line) for line in out.split()]
    assert sorted(numbers) == list(range(1, 61))
    versions = client.search_model_versions("name = 'shared'", max_results=1000)
    assert sorted(int(v.version) for v in versions) == list(range(1, 61))


def test_reads_models_meta_written_by_older_tools(root: Path, client: Any) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    meta = root / "models" / "m" / "version-1" / "meta.yaml"
    data = _meta(meta)
    for key in ("status", "storage_location", "workspace", "model_id"):
        del data[key]
    meta.write_text(yaml.safe_dump(data))
    version = _fresh(root).get_model_version("m", "1")
    assert version.status == "READY" and version.source == "s3://b/1"
    assert _fresh(root).get_model_version_download_uri("m", "1") == "s3://b/1"
