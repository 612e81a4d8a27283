"""trackyard.artifacts and MlflowClient.download_artifacts: where files land, as in MLflow.

The layouts asserted here were read off MLflow 3.17.2 (``mlflow.artifacts`` and
``MlflowClient.download_artifacts``); tests/compat/test_mlflow_dropin_compat.py compares the
two side by side.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import trackyard
from trackyard import MlflowClient, artifacts
from trackyard.errors import ErrorCode, LocalPathError, TrackyardError


def tree(root: str | Path) -> list[str]:
    """Every file under ``root``, as sorted POSIX paths relative to it."""
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def expect(code: str, fn: Any, *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    assert excinfo.value.error_code == code, excinfo.value
    return excinfo.value


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def world(uri: str, tmp_path: Path) -> dict[str, Any]:
    """A run with ``model/{MLmodel, data/w.bin}`` and ``notes/readme.txt``, registered as
    ``m`` version 1 (source ``runs:/<id>/model``, alias ``champ``) and version 2 (a local
    directory as source)."""
    client = MlflowClient(uri)
    exp = client.create_experiment("e", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(exp).info.run_id
    src = tmp_path / "src" / "model"
    (src / "data").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "data" / "w.bin").write_text("w")
    client.log_artifacts(run_id, str(src.parent))
    client.log_text(run_id, "hello", "notes/readme.txt")
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("m", "champ", "1")
    client.create_model_version("m", str(src))
    return {"client": client, "run_id": run_id, "src": src}


MODEL = ["MLmodel", "data/w.bin", "registered_model_meta"]


@pytest.mark.parametrize(
    "suffix, local, files",
    [
        # models:/ URIs name a version's files: they land straight in dst
        ("models:/m@champ", ".", MODEL),
        ("models:/m/1", ".", MODEL),
        ("models:/m/1/", ".", MODEL),
        ("models:/m/latest", ".", MODEL),  # version 2: a plain local source
        ("models:/m/2", ".", MODEL),
        ("models:/m@champ/MLmodel", "MLmodel", ["MLmodel"]),
        ("models:/m/1/data", "data", ["data/w.bin"]),
        ("models:/m/2/data/w.bin", "data/w.bin", ["data/w.bin"]),
        # runs:/ URIs name one file or directory: it lands under its own name
        ("runs:/{run}/model", "model", ["model/MLmodel", "model/data/w.bin"]),
        ("runs:/{run}/model/data", "data", ["data/w.bin"]),
        ("runs:/{run}/model/data/w.bin", "w.bin", ["w.bin"]),
        ("runs:/{run}/model/", ".", ["MLmodel", "data/w.bin"]),  # trailing slash: contents
        ("runs:/{run}/", ".", ["model/MLmodel", "model/data/w.bin", "notes/readme.txt"]),
    ],
)
def test_download_layout(
    world: dict[str, Any], uri: str, tmp_path: Path, suffix: str, local: str, files: list[str]
) -> None:
    dst = tmp_path / "dst"
    path = artifacts.download_artifacts(
        suffix.format(run=world["run_id"]), dst_path=str(dst), tracking_uri=uri
    )
    assert Path(path) == (dst / local if local != "." else dst)
    assert tree(dst) == files


def test_registered_model_meta(world: dict[str, Any], uri: str, tmp_path: Path) -> None:
    # MLflow writes the version as a string, or as an int when the URI used an alias
    for given, number in (("models:/m/1", "1"), ("models:/m@champ", 1)):
        dst = tmp_path / str(type(number).__name__)
        local = artifacts.download_artifacts(given, dst_path=dst, tracking_uri=uri)
        meta = yaml.safe_load(Path(local, "registered_model_meta").read_text())
        assert meta == {"model_name": "m", "model_version": number}
    local = artifacts.download_artifacts(
        "models:/m/1/data", dst_path=tmp_path / "sub", tracking_uri=uri
    )
    assert not os.path.exists(os.path.join(local, "registered_model_meta"))  # no MLmodel there


@pytest.mark.parametrize(
    "path, local, files",
    [
        ("model", "model", ["model/MLmodel", "model/data/w.bin"]),
        ("model/data", "data", ["data/w.bin"]),
        ("notes/readme.txt", "readme.txt", ["readme.txt"]),
        ("model/", ".", ["MLmodel", "data/w.bin"]),
        ("", ".", ["model/MLmodel", "model/data/w.bin", "notes/readme.txt"]),
        (None, ".", ["model/MLmodel", "model/data/w.bin", "notes/readme.txt"]),
    ],
)
def test_download_by_run_id(
    world: dict[str, Any],
    uri: str,
    tmp_path: Path,
    path: str | None,
    local: str,
    files: list[str],
) -> None:
    dst = tmp_path / "by-module"
    got = artifacts.download_artifacts(
        run_id=world["run_id"], artifact_path=path, dst_path=dst, tracking_uri=uri
    )
    assert Path(got) == (dst / local if local != "." else dst)
    assert tree(dst) == files
    if path is not None:  # the client method has the same layout
        dst2 = tmp_path / "by-client"
        got2 = world["client"].download_artifacts(world["run_id"], path, str(dst2))
        assert Path(got2) == (dst2 / local if local != "." else dst2)
        assert tree(dst2) == files


def test_client_download_through_uris(world: dict[str, Any], tmp_path: Path) -> None:
    """A trackyard extension: MlflowClient.download_artifacts takes a URI as ``run_id``,
    with ``path`` below what it names; the layout is that of the joined URI."""
    client = world["client"]
    got = client.download_artifacts("models:/m@champ", "", str(tmp_path / "a"))
    assert Path(got) == tmp_path / "a" and tree(got) == MODEL
    got = client.download_artifacts("models:/m@champ", "data", str(tmp_path / "b"))
    assert Path(got) == tmp_path / "b" / "data"
    got = client.download_artifacts(f"runs:/{world['run_id']}/model", "data", str(tmp_path / "c"))
    assert Path(got) == tmp_path / "c" / "data" and tree(tmp_path / "c") == ["data/w.bin"]


def test_chained_models_source(world: dict[str, Any], uri: str, tmp_path: Path) -> None:
    client = world["client"]
    client.create_registered_model("copy")
    client.create_model_version("copy", "models:/m@champ")
    local = artifacts.download_artifacts(
        "models:/copy/1", dst_path=tmp_path / "d", tracking_uri=uri
    )
    assert tree(local) == MODEL
    meta = yaml.safe_load(Path(local, "registered_model_meta").read_text())
    assert meta == {"model_name": "copy", "model_version": "1"}


def test_plain_uris_and_local_paths(world: dict[str, Any], uri: str, tmp_path: Path) -> None:
    src = world["src"]
    for given in (str(src), src.as_uri()):
        dst = tmp_path / f"plain-{len(given)}"
        got = artifacts.download_artifacts(given, dst_path=dst, tracking_uri=uri)
        assert Path(got) == dst / "model"
        assert tree(dst) == ["model/MLmodel", "model/data/w.bin"]


def test_file_uri_with_quoted_names(uri: str, tmp_path: Path) -> None:
    folder = tmp_path / "with space" / "100% sure"
    folder.mkdir(parents=True)
    (folder / "a b.txt").write_text("x")
    client = MlflowClient(uri)
    run_id = client.create_run("0").info.run_id
    client.log_artifact(run_id, str(folder))  # artifacts: "100% sure/a b.txt"
    got = client.download_artifacts(run_id, "100% sure/a b.txt", str(tmp_path / "dst"))
    assert Path(got).read_text() == "x" and Path(got).name == "a b.txt"
    got = artifacts.download_artifacts(folder.as_uri(), dst_path=tmp_path / "d2")
    assert tree(got) == ["a b.txt"]


def test_destination_is_created(world: dict[str, Any], uri: str, tmp_path: Path) -> None:
    dst = tmp_path / "does" / "not" / "exist"
    got = artifacts.download_artifacts(
        run_id=world["run_id"], artifact_path="notes", dst_path=dst, tracking_uri=uri
    )
    assert Path(got) == dst / "notes"
    got = world["client"].download_artifacts(world["run_id"], "notes", str(tmp_path / "x" / "y"))
    assert Path(got) == tmp_path / "x" / "y" / "notes"


def test_destination_taken_by_a_file(world: dict[str, Any], uri: str, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    for call in (
        lambda: artifacts.download_artifacts(
            run_id=world["run_id"], dst_path=taken, tracking_uri=uri
        ),
        lambda: world["client"].download_artifacts(world["run_id"], "notes", str(taken)),
    ):
        with pytest.raises(FileExistsError) as excinfo:
            call()
        assert isinstance(excinfo.value, LocalPathError)
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert excinfo.value.filename == str(taken)
    with pytest.raises(NotADirectoryError):  # a file where a parent directory belongs
        artifacts.download_artifacts(
            run_id=world["run_id"], dst_path=taken / "below", tracking_uri=uri
        )


def test_default_destination_is_a_new_directory(world: dict[str, Any], uri: str) -> None:
    got = artifacts.download_artifacts(f"runs:/{world['run_id']}/notes", tracking_uri=uri)
    assert os.path.basename(got) == "notes" and tree(got) == ["readme.txt"]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({}, "Exactly one of `run_id` or `artifact_uri`"),
        ({"artifact_uri": "runs:/r/x", "run_id": "r"}, "Exactly one of `run_id` or `artifact_uri`"),
        ({"artifact_path": "x"}, "Exactly one of `run_id` or `artifact_uri`"),
        ({"artifact_uri": "runs:/r/x", "artifact_path": "x"}, "`artifact_path` cannot be"),
    ],
)
def test_argument_rules(uri: str, kwargs: dict[str, Any], fragment: str) -> None:
    for fn in (artifacts.download_artifacts, artifacts.list_artifacts):
        error = expect(ErrorCode.INVALID_PARAMETER_VALUE, fn, tracking_uri=uri, **kwargs)
        assert fragment in error.message


def test_missing_things(world: dict[str, Any], uri: str, tmp_path: Path) -> None:
    run_id = world["run_id"]
    for given in (f"runs:/{run_id}/nope", "models:/m/1/nope", f"runs:/{'0' * 32}/x"):
        expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            artifacts.download_artifacts,
            given,
            dst_path=tmp_path,
            tracking_uri=uri,
        )
    expect(
        ErrorCode.RESOURCE_DOES_NOT_EXIST,
        artifacts.download_artifacts,
        "models:/nope/1",
        tracking_uri=uri,
    )
    expect(
        ErrorCode.INVALID_PARAMETER_VALUE,
        artifacts.download_artifacts,
        "models:/m@nope",
        tracking_uri=uri,
    )
    for bad in (f"runs:/{run_id}/../x", f"runs:/{run_id}/a/%2e%2e/%2e%2e/x", "models:/m/1/../x"):
        expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            artifacts.download_artifacts,
            bad,
            dst_path=tmp_path,
            tracking_uri=uri,
        )
    assert os.listdir(tmp_path / "art") == [run_id]  # nothing written outside the run


def test_list_artifacts_paths_are_mlflows(world: dict[str, Any], uri: str) -> None:
    run_id = world["run_id"]

    def listed(**kwargs: Any) -> list[tuple[str, bool]]:
        return [(f.path, f.is_dir) for f in artifacts.list_artifacts(tracking_uri=uri, **kwargs)]

    # relative to the run root for run_id/artifact_path
    assert listed(run_id=run_id) == [("model", True), ("notes", True)]
    assert listed(run_id=run_id, artifact_path="model/data") == [("model/data/w.bin", False)]
    # relative to the parent of what a runs:/ or plain URI names
    assert listed(artifact_uri=f"runs:/{run_id}/model") == [
        ("model/MLmodel", False),
        ("model/data", True),
    ]
    assert listed(artifact_uri=f"runs:/{run_id}/model/data") == [("data/w.bin", False)]
    assert listed(artifact_uri=str(world["src"])) == [
        ("model/MLmodel", False),
        ("model/data", True),
    ]
    # relative to the version's root for models:/
    assert listed(artifact_uri="models:/m@champ") == [("MLmodel", False), ("data", True)]
    assert listed(artifact_uri="models:/m/2/data") == [("data/w.bin", False)]
    assert listed(artifact_uri=f"runs:/{run_id}/nothing") == []
    sizes = {f.path: f.file_size for f in artifacts.list_artifacts("models:/m/1", tracking_uri=uri)}
    assert sizes == {"MLmodel": 12, "data": None}


def test_load_text_and_dict(
    world: dict[str, Any], uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKYARD_TRACKING_URI", uri)  # load_* take no tracking_uri, as in MLflow
    client, run_id = world["client"], world["run_id"]
    client.log_dict(run_id, {"a": [1, 2]}, "conf/d.json")
    client.log_dict(run_id, {"a": 1}, "conf/d.yaml")
    client._artifact_repo(run_id).write_bytes(b"\xff\xfe", "latin.txt")
    assert artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "hello"
    assert artifacts.load_text("models:/m@champ/MLmodel") == "flavors: {}\n"
    assert artifacts.load_dict(f"runs:/{run_id}/conf/d.json") == {"a": [1, 2]}
    for not_json in ("conf/d.yaml", "notes/readme.txt"):  # MLflow reads JSON only
        error = expect(ErrorCode.BAD_REQUEST, artifacts.load_dict, f"runs:/{run_id}/{not_json}")
        assert "JSON" in error.message
    assert (
        "UTF-8"
        in expect(ErrorCode.BAD_REQUEST, artifacts.load_text, f"runs:/{run_id}/latin.txt").message
    )
    expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, artifacts.load_text, f"runs:/{run_id}/none.txt")
    with pytest.raises(IsADirectoryError) as excinfo:
        artifacts.load_text(f"runs:/{run_id}/notes")
    assert isinstance(excinfo.value, TrackyardError)


def test_module_is_reachable_as_an_attribute() -> None:
    import subprocess
    import sys

    code = (
        "import sys, trackyard\n"
        "assert 'trackyard.artifacts' not in sys.modules\n"
        "assert trackyard.artifacts.download_artifacts is not None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert trackyard.artifacts is artifacts


@pytest.mark.parametrize(
    "source", ["{src}/../../outside", "{src}/%2e%2e/%2e%2e/outside", "runs:/{run}/../../x"]
)
def test_a_traversing_source_written_by_another_tool_is_refused_at_download(
    world: dict[str, Any], uri: str, tmp_path: Path, source: str
) -> None:
    """Sources are checked again when a version is downloaded: the store may hold one that
    was never validated (written by an older tool), and it must not lead out of its root."""
    import sqlalchemy as sa

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET")
    bad = source.format(src=tmp_path / "src" / "model", run=world.get("run_id", "r"))
    engine = sa.create_engine(uri)
    with engine.begin() as conn:  # what another tool could have written
        conn.execute(
            sa.text(
                "UPDATE model_versions SET source = :s, storage_location = :s WHERE version = 2"
            ),
            {"s": bad},
        )
    engine.dispose()
    dst = tmp_path / "dl"
    expect(
        ErrorCode.INVALID_PARAMETER_VALUE,
        artifacts.download_artifacts,
        "models:/m/2",
        dst_path=str(dst),
        tracking_uri=uri,
    )
    assert tree(tmp_path).count("dl/secret.txt") == 0
    assert not dst.exists() or tree(dst) == []
