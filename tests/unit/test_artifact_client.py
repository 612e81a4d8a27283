"""MlflowClient's rich-artifact helpers: log_figure, log_image, log_table, load_table,
delete_artifacts, on SQLite with local artifacts (and one run on a real S3 server)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests._object_stores import ObjectStore
from trackyard import MlflowClient
from trackyard.errors import ErrorCode, TrackyardError

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
PIL_Image = pytest.importorskip("PIL.Image")

SERIES_RE = re.compile(
    r"^images/train~img\+step\+3\+timestamp\+1700000000000\+[0-9a-f]{8}-[0-9a-f]{4}-"
    r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\+compressed\.webp|\.png)$"
)


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{tmp_path / 'db.sqlite'}")


@pytest.fixture
def run_id(client: MlflowClient) -> str:
    return client.create_run("0").info.run_id


def _fetch(client: MlflowClient, run_id: str, path: str, tmp_path: Path) -> bytes:
    dst = tmp_path / f"dl-{len(list(tmp_path.iterdir()))}"
    dst.mkdir()
    return Path(client.download_artifacts(run_id, path, str(dst))).read_bytes()


def _all_paths(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    out: list[str] = []
    for info in client.list_artifacts(run_id, path):
        out.extend(_all_paths(client, run_id, info.path) if info.is_dir else [info.path])
    return sorted(out)


# -- figures ------------------------------------------------------------------------------------
def test_log_figure_matplotlib(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [2, 3])
    client.log_figure(run_id, fig, "plots/curve.png")
    client.log_figure(run_id, fig, "plots/curve.svg", save_kwargs={"transparent": True})
    client.log_figure(run_id, fig, "plots/small.png", {"dpi": 20})  # the document's form
    plt.close(fig)
    assert _fetch(client, run_id, "plots/curve.png", tmp_path).startswith(b"\x89PNG")
    assert b"<svg" in _fetch(client, run_id, "plots/curve.svg", tmp_path)
    small = _fetch(client, run_id, "plots/small.png", tmp_path)
    assert small.startswith(b"\x89PNG") and len(small) < len(
        _fetch(client, run_id, "plots/curve.png", tmp_path)
    )


def test_log_figure_plotly_html(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(go.Scatter(x=[0, 1], y=[2, 3]))
    client.log_figure(run_id, fig, "fig.html")
    html = _fetch(client, run_id, "fig.html", tmp_path)
    assert b"cdn.plot.ly" in html or b"plotly" in html
    with pytest.raises(TypeError):
        client.log_figure(run_id, fig, "fig.txt")


def test_log_figure_refuses_other_objects(client: MlflowClient, run_id: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        client.log_figure(run_id, object(), "fig.png")
    assert isinstance(excinfo.value, TypeError)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert client.list_artifacts(run_id) == []


# -- images -------------------------------------------------------------------------------------
def test_log_image_static_from_pil_and_numpy(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    client.log_image(run_id, PIL_Image.new("RGB", (8, 4), "red"), "img/pil.png")
    client.log_image(run_id, np.zeros((4, 6), dtype=np.uint8), artifact_file="img/gray.png")
    client.log_image(run_id, np.ones((4, 6, 3)), artifact_file="img/float.png")
    client.log_image(run_id, np.ones((4, 6, 1), dtype=bool), artifact_file="img/bool.png")
    assert _all_paths(client, run_id) == [
        "img/bool.png",
        "img/float.png",
        "img/gray.png",
        "img/pil.png",
    ]
    local = tmp_path / "pil.png"
    local.write_bytes(_fetch(client, run_id, "img/pil.png", tmp_path))
    with PIL_Image.open(local) as img:
        assert img.size == (8, 4) and img.getpixel((0, 0)) == (255, 0, 0)
    local.write_bytes(_fetch(client, run_id, "img/float.png", tmp_path))
    with PIL_Image.open(local) as img:
        assert img.getpixel((0, 0)) == (255, 255, 255)


def test_log_image_series_uses_mlflows_layout(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    image = PIL_Image.new("RGB", (600, 300), "blue")
    client.log_image(run_id, image, key="train/img", step=3, timestamp=1_700_000_000_000)
    paths = _all_paths(client, run_id)
    assert len(paths) == 2 and all(SERIES_RE.match(p) for p in paths), paths
    webp, png = paths  # "+" sorts before "."
    assert png.removesuffix(".png") + "+compressed.webp" == webp
    preview = tmp_path / "p.webp"
    preview.write_bytes(_fetch(client, run_id, webp, tmp_path))
    with PIL_Image.open(preview) as img:
        assert img.format == "WEBP" and img.size == (256, 128)
    assert client.get_run(run_id).data.tags["mlflow.loggedImages"] == "True"
    client.log_image(run_id, image, key="train/img")  # step 0, timestamp now
    steps = sorted({p.split("+step+")[1].split("+")[0] for p in _all_paths(client, run_id)})
    assert steps == ["0", "3"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"artifact_file": "a.png", "key": "k"}, TypeError),
        ({"artifact_file": "a.png", "step": 1}, TypeError),
        ({}, TypeError),
        ({"key": "bad#key"}, ValueError),
        ({"key": "k", "step": "1"}, TypeError),
    ],
)
def test_log_image_bad_arguments(
    client: MlflowClient, run_id: str, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as excinfo:
        client.log_image(run_id, PIL_Image.new("L", (2, 2)), **kwargs)
    assert isinstance(excinfo.value, TrackyardError)
    assert client.list_artifacts(run_id) == []


@pytest.mark.parametrize(
    ("array", "error"),
    [
        (np.full((2, 2), 300, dtype=np.int32), ValueError),
        (np.full((2, 2), -1, dtype=np.int16), ValueError),
        (np.zeros((2, 2, 2)), ValueError),
        (np.zeros((2,)), ValueError),
        (np.array([["a"]]), TypeError),
    ],
)
def test_log_image_bad_arrays(
    client: MlflowClient, run_id: str, array: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.log_image(run_id, array, "x.png")
    assert client.list_artifacts(run_id) == []


def test_log_image_rescales_out_of_range_floats(client: MlflowClient, run_id: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.log_image(run_id, np.array([[0.0, 2.0]]), "scaled.png")
    assert any("rescaling" in str(w.message) for w in caught)


# -- tables -------------------------------------------------------------------------------------
def test_log_table_json_in_mlflows_format_and_appends(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    client.log_table(run_id, {"q": ["a", "b"], "score": [1, 2]}, "eval/table.json")
    client.log_table(run_id, pd.DataFrame({"q": ["c"], "score": [3]}), "eval/table.json")
    body = json.loads(_fetch(client, run_id, "eval/table.json", tmp_path))
    assert body == {"columns": ["q", "score"], "data": [["a", 1], ["b", 2], ["c", 3]]}
    tag = json.loads(client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/table.json", "type": "table"}]


def test_log_table_parquet_and_scalar_dict(client: MlflowClient, run_id: str) -> None:
    client.log_table(run_id, {"inputs": "What is MLflow?"}, "t.parquet")
    client.log_table(run_id, {"inputs": "And trackyard?"}, "t.parquet")
    table = client.load_table("0", "t.parquet", run_ids=[run_id])
    assert table["inputs"].tolist() == ["What is MLflow?", "And trackyard?"]


def test_log_table_image_columns(client: MlflowClient, run_id: str) -> None:
    images = [PIL_Image.new("RGB", (4, 4), c) for c in ("red", "green")]
    client.log_table(run_id, {"image": images, "label": ["r", "g"]}, "imgs.json")
    table = client.load_table("0", "imgs.json", run_ids=[run_id])
    refs = table["image"].tolist()
    assert all(r["type"] == "image" for r in refs)
    stored = set(_all_paths(client, run_id, "table_images"))
    assert {r["filepath"] for r in refs} | {r["compressed_filepath"] for r in refs} == stored
    with pytest.raises(ValueError):
        client.log_table(run_id, {"mixed": [images[0], "text"]}, "bad.json")


@pytest.mark.parametrize(
    ("artifact_file", "error"),
    [("t.csv", ValueError), ("a:b.json", ValueError), ("../t.json", TrackyardError)],
)
def test_log_table_bad_paths(
    client: MlflowClient, run_id: str, artifact_file: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.log_table(run_id, {"a": [1]}, artifact_file)
    with pytest.raises(TrackyardError):
        client.log_table(run_id, [1, 2], "t.json")
    assert client.list_artifacts(run_id) == []


def test_load_table_across_runs_with_extra_columns(client: MlflowClient) -> None:
    first = client.create_run("0", start_time=1_000).info.run_id
    second = client.create_run("0", start_time=2_000).info.run_id
    other = client.create_run("0").info.run_id
    client.log_table(first, {"x": [1, 2], "run_id": ["mine", "mine"]}, "t.json")
    client.log_table(second, {"x": [3], "run_id": ["mine"]}, "t.json")
    client.log_table(other, {"x": [9]}, "other.json")
    client.log_param(second, "lr", "0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = client.load_table(
            "0", "t.json", run_ids=[first, second], extra_columns=["run_id", "params.lr"]
        )
    assert table["x"].tolist() == [3, 1, 2]  # newest run first
    assert table["run_id_"].tolist() == [second, first, first]
    assert table["run_id"].tolist() == ["mine"] * 3
    assert table["params.lr"].tolist() == ["0.1", None, None]
    with pytest.warns(UserWarning, match="Not all runs"):
        only = client.load_table("0", "t.json", run_ids=[first, other])
    assert only["x"].tolist() == [1, 2]
    with pytest.raises(TrackyardError) as excinfo, pytest.warns(UserWarning, match="Not all"):
        client.load_table("0", "missing.json", run_ids=[first])
    assert excinfo.value.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    with pytest.raises(TrackyardError):
        client.load_table("0", "t.json", run_ids=[first], extra_columns=["nonsense"])


@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_load_table_searches_the_experiment(store: str, tmp_path: Path) -> None:
    """Without run_ids, the store's run search finds the runs by their table tag."""
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}" if store == "sqlite" else str(tmp_path / "mlruns")
    client = MlflowClient(uri)
    a = client.create_run("0", start_time=1_000).info.run_id
    b = client.create_run("0", start_time=2_000).info.run_id
    c = client.create_run("0", start_time=3_000).info.run_id
    client.log_table(a, {"x": [1]}, "t_1.json")
    client.log_table(b, {"x": [2]}, "t_1.json")
    client.log_table(b, {"y": [0]}, "t_1.json.bak.json")
    client.log_table(c, {"x": [3]}, "tx1.json")  # "_" matches any character in LIKE
    client.delete_run(a)
    assert client.load_table("0", "t_1.json")["x"].tolist() == [2]
    client.restore_run(a)
    assert client.load_table("0", "t_1.json")["x"].tolist() == [2, 1]
    assert client.load_table("0", "tx1.json")["x"].tolist() == [3]


# -- deleting -----------------------------------------------------------------------------------
def test_delete_artifacts(client: MlflowClient, run_id: str) -> None:
    client.log_text(run_id, "a", "keep/a.txt")
    client.log_text(run_id, "b", "drop/b.txt")
    client.delete_artifacts(run_id, "drop")
    assert _all_paths(client, run_id) == ["keep/a.txt"]
    client.delete_artifacts(run_id, "not/there")
    with pytest.raises(TrackyardError) as excinfo:
        client.delete_artifacts(run_id, "../x")
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    client.delete_artifacts(run_id)
    assert client.list_artifacts(run_id) == []


def test_helpers_on_s3(s3_rclone: ObjectStore, tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'db.sqlite'}")
    exp = client.create_experiment("s3", artifact_location=s3_rclone.uri())
    from trackyard_fsspec.options import ENV_STORAGE_OPTIONS

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_STORAGE_OPTIONS, json.dumps({"s3": s3_rclone.storage_options}))
        run_id = client.create_run(exp).info.run_id
        client.log_image(run_id, np.zeros((3, 3, 3), dtype=np.uint8), key="k", step=1)
        client.log_table(run_id, {"a": [1]}, "t.json")
        assert client.load_table(exp, "t.json", run_ids=[run_id])["a"].tolist() == [1]
        assert len(_all_paths(client, run_id, "images")) == 2
        client.delete_artifacts(run_id, "images")
        assert _all_paths(client, run_id) == ["t.json"]
