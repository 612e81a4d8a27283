"""``trackyard artifacts list|download|upload``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._object_stores import ObjectStore
from trackyard import MlflowClient
from trackyard.cli import cli


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str, MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    client = MlflowClient(uri)
    run_id = client.create_run("0").info.run_id
    client.log_text(run_id, "hello", "notes/a.txt")
    client.log_text(run_id, "x" * 2048, "notes/deep/b.txt")
    client.log_text(run_id, "top", "top.txt")
    return uri, run_id, client


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_by_run_id_and_runs_uri(setup: tuple[str, str, MlflowClient]) -> None:
    uri, run_id, _ = setup
    out = _invoke("artifacts", "list", "--tracking-uri", uri, "--run-id", run_id)
    lines = out.splitlines()
    assert lines[0].split() == ["path", "type", "size"]
    assert [line.split()[:2] for line in lines[2:]] == [["notes", "dir"], ["top.txt", "file"]]
    out = _invoke("artifacts", "list", "--tracking-uri", uri, "-r", f"runs:/{run_id}/notes")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert rows == [["notes/a.txt", "file", "5", "B"], ["notes/deep/b.txt", "file", "2.0", "KiB"]]


def test_download_and_upload(setup: tuple[str, str, MlflowClient], tmp_path: Path) -> None:
    uri, run_id, client = setup
    dst = tmp_path / "dst"
    dst.mkdir()
    out = _invoke(
        "artifacts",
        "download",
        "--tracking-uri",
        uri,
        f"runs:/{run_id}/notes",
        "--dst-path",
        str(dst),
    )
    assert out.strip() == str(dst / "notes")
    assert (dst / "notes" / "deep" / "b.txt").read_text() == "x" * 2048
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"weights")
    out = _invoke(
        "artifacts",
        "upload",
        str(src),
        "--tracking-uri",
        uri,
        "--run-id",
        run_id,
        "--artifact-path",
        "up",
    )
    assert f"runs:/{run_id}/up/model" in out
    assert [f.path for f in client.list_artifacts(run_id, "up/model/sub")] == ["up/model/sub/w.bin"]
    (tmp_path / "one.txt").write_text("1")
    _invoke(
        "artifacts",
        "upload",
        str(tmp_path / "one.txt"),
        "--tracking-uri",
        uri,
        f"runs:/{run_id}/single",
    )
    assert [f.path for f in client.list_artifacts(run_id, "single")] == ["single/one.txt"]


def test_plain_artifact_uri(
    s3_rclone: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from trackyard_fsspec.options import ENV_STORAGE_OPTIONS

    monkeypatch.setenv(ENV_STORAGE_OPTIONS, json.dumps({"s3": s3_rclone.storage_options}))
    target = s3_rclone.uri()
    (tmp_path / "f.txt").write_text("on s3")
    _invoke("artifacts", "upload", str(tmp_path / "f.txt"), target, "--artifact-path", "d")
    out = _invoke("artifacts", "list", target, "-r")
    assert "d/f.txt" in out
    dst = tmp_path / "dst"
    dst.mkdir()
    out = _invoke(
        "artifacts", "download", target, "--artifact-path", "d/f.txt", "--dst-path", str(dst)
    )
    assert Path(out.strip()).read_text() == "on s3"


def test_usage_errors(setup: tuple[str, str, MlflowClient]) -> None:
    uri, run_id, _ = setup
    runner = CliRunner()
    both = runner.invoke(
        cli, ["artifacts", "list", "--tracking-uri", uri, "--run-id", run_id, f"runs:/{run_id}"]
    )
    assert both.exit_code == 2 and "either --run-id or a URI" in both.output
    missing = runner.invoke(cli, ["artifacts", "list", "--tracking-uri", uri, "--run-id", "f" * 32])
    assert missing.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in missing.output
    bad = runner.invoke(cli, ["artifacts", "list", "--tracking-uri", uri, f"runs:/{run_id}/../x"])
    assert bad.exit_code == 1 and "INVALID_PARAMETER_VALUE" in bad.output


def test_models_uri_and_download_layout(
    setup: tuple[str, str, MlflowClient], tmp_path: Path
) -> None:
    """A models:/ URI lists and downloads the version's files; a plain URI lands under its
    own name in a --dst-path that is created when missing, as trackyard.artifacts does."""
    uri, run_id, client = setup
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{run_id}/notes", run_id)
    client.set_registered_model_alias("m", "champion", "1")
    out = _invoke("artifacts", "list", "--tracking-uri", uri, "models:/m@champion", "-r")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["a.txt", "deep/b.txt"]
    dst = tmp_path / "new" / "dst"
    out = _invoke(
        "artifacts", "download", "--tracking-uri", uri, "models:/m/1", "--dst-path", str(dst)
    )
    assert out.strip() == str(dst)
    assert (dst / "deep" / "b.txt").read_text() == "x" * 2048
    root = client.get_run(run_id).info.artifact_uri
    dst2 = tmp_path / "plain"
    out = _invoke("artifacts", "download", f"{root}/notes", "--dst-path", str(dst2))
    assert out.strip() == str(dst2 / "notes")
    assert (dst2 / "notes" / "a.txt").read_text() == "hello"
