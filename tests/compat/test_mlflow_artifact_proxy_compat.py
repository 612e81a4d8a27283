"""MLflow 3.17.2's own ``mlflow-artifacts`` repository against trackyard's artifact proxy:
it uploads (also through its multipart attempt and fallback), lists, downloads and deletes;
the files land where trackyard's repositories read them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (fastapi, uvicorn) is not installed")

from tests._artifact_proxy import Proxy, start_proxy
from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard.backends import get_artifact_repository

pytestmark = [pytest.mark.compat, requires_mlflow]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    (tmp_path / "dest").mkdir()
    (tmp_path / "logs").mkdir()
    proxy = start_proxy(str(tmp_path / "dest"), str(tmp_path / "logs"))
    yield proxy
    proxy.stop()


def test_mlflow_client_round_trip_through_the_proxy(proxy: Proxy, tmp_path: Path) -> None:
    seen = run_mlflow(
        """
        import os
        import pathlib
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        work = pathlib.Path(ARGS["work"])
        (work / "src" / "sub").mkdir(parents=True)
        (work / "src" / "a.txt").write_text("alpha")
        (work / "src" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
        (work / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
        (work / "ünï côde.txt").write_text("wide")

        repo = get_artifact_repository(ARGS["uri"] + "/1/run-1/artifacts")
        repo.log_artifacts(str(work / "src"), "inputs")
        repo.log_artifact(str(work / "big.bin"), "model")  # multipart first, then a PUT
        repo.log_artifact(str(work / "ünï côde.txt"))
        out = {
            "root": [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts()],
            "inputs": [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("inputs")],
            "file": [f.path for f in repo.list_artifacts("inputs/a.txt")],
        }
        dst = work / "dst"
        dst.mkdir()
        local = repo.download_artifacts("", str(dst))
        out["downloaded"] = sorted(
            str(p.relative_to(local)) for p in pathlib.Path(local).rglob("*") if p.is_file()
        )
        out["same_big"] = (pathlib.Path(local) / "model" / "big.bin").read_bytes() == (
            work / "big.bin"
        ).read_bytes()
        out["wide"] = (pathlib.Path(local) / "ünï côde.txt").read_text()
        repo.delete_artifacts("inputs/sub")
        out["after_delete"] = [f.path for f in repo.list_artifacts("inputs")]
        emit(out)
        """,
        tracking_uri=proxy.url,  # mlflow-artifacts: needs an http tracking URI, unused here
        uri=f"mlflow-artifacts://127.0.0.1:{proxy.port}",
        work=str(tmp_path / "peer"),
        env={
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
            "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(1024 * 1024),
            "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(1024 * 1024),
        },
    )
    assert [tuple(f) for f in seen["root"]] == [
        ("inputs", True, None),
        ("model", True, None),
        ("ünï côde.txt", False, 4),
    ]
    assert [tuple(f) for f in seen["inputs"]] == [
        ("inputs/a.txt", False, 5),
        ("inputs/sub", True, None),
    ]
    assert seen["file"] == []
    assert seen["downloaded"] == [
        "inputs/a.txt",
        "inputs/sub/b.bin",
        "model/big.bin",
        "ünï côde.txt",
    ]
    assert seen["same_big"] is True
    assert seen["wide"] == "wide"
    assert seen["after_delete"] == ["inputs/a.txt"]

    # the files are where trackyard's own repository finds them
    ours = get_artifact_repository(str(tmp_path / "dest" / "1" / "run-1" / "artifacts"))
    assert [f.path for f in ours.list_artifacts("model")] == ["model/big.bin"]
    with ours.open_artifact("inputs/a.txt") as fh:
        assert fh.read() == b"alpha"
