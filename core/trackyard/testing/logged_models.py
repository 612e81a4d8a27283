"""``LoggedModelChecks``: the logged-model contract, part of every ``TrackingStoreSuite``.

Every test needs the ``logged_models`` capability and skips, saying so, without it. Search
results are compared with :mod:`trackyard.search.logged_model_evaluator`, which defines the
semantics, on a fixture of models with tags, params and metric points on datasets.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import pytest

from trackyard.entities import LoggedModelStatus, Metric
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.logged_model_evaluator import search_logged_models_in_memory
from trackyard.search.request import LoggedModelSearch
from trackyard.testing._client import require_capability

__all__ = ["LOGGED_MODEL_SEARCH_CASES", "LoggedModelChecks"]

T0 = 1_700_000_000_000

# (filter_string, order_by, datasets, needs), compared with the evaluator on the fixture.
LOGGED_MODEL_SEARCH_CASES: list[tuple[str, list[Any] | None, list[Any] | None, str]] = [
    ("", None, None, ""),
    ("name = 'model-3'", None, None, ""),
    ("name != 'model-3'", [{"field_name": "name"}], None, ""),
    ("name LIKE 'model-%'", [{"field_name": "name", "ascending": False}], None, ""),
    ("name ILIKE 'MODEL-1%'", None, None, ""),
    ("attributes.name IN ('model-1', 'model-4')", None, None, ""),
    ("name NOT IN ('model-1', 'model-4')", ["name ASC"], None, ""),
    ("model_type = 'sklearn'", None, None, ""),
    ("model_type != 'sklearn'", None, None, ""),
    ("status = 'READY'", None, None, ""),
    ("status != 'PENDING'", [{"field_name": "status"}], None, ""),
    ("status LIKE 'F%'", None, None, ""),
    ("status IN ('FAILED', 'PENDING')", [{"field_name": "status", "ascending": False}], None, ""),
    ("source_run_id != 'x'", None, None, ""),
    ("creation_timestamp > 0", [{"field_name": "creation_timestamp"}], None, ""),
    ("creation_time >= 0", [{"field_name": "last_updated_timestamp"}], None, ""),
    ("metrics.acc > 0.5", None, None, ""),
    ("metrics.acc >= 0.5", [{"field_name": "metrics.acc", "ascending": False}], None, ""),
    ("metrics.acc < 0.3", None, None, ""),
    ("metrics.acc = 0.9", None, None, ""),
    ("metrics.acc != 0.9", None, None, ""),
    ("metrics.loss <= 1", [{"field_name": "metrics.loss"}], None, ""),
    ("metrics.`f 1` > 0", None, None, ""),
    ("metrics.acc > 0.5", None, [{"dataset_name": "train"}], ""),
    ("metrics.acc > 0.5", None, [{"dataset_name": "eval", "dataset_digest": "e1"}], ""),
    ("", None, [{"dataset_name": "eval"}], ""),
    ("", None, [{"dataset_name": "train"}, {"dataset_name": "eval", "dataset_digest": "zz"}], ""),
    ("", [{"field_name": "metrics.acc"}], None, ""),
    ("", [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "eval"}], None, ""),
    (
        "",
        [{"field_name": "metrics.acc", "dataset_name": "train", "dataset_digest": "t1"}],
        None,
        "",
    ),
    ("params.lr = '0.1'", None, None, ""),
    ("params.lr != '0.1'", None, None, ""),
    ("params.opt LIKE 'a%'", None, None, ""),
    ("params.opt ILIKE 'A%'", None, None, ""),
    ("params.lr IN ('0.1', '0.01')", None, None, ""),
    ("tags.team = 'vision'", None, None, ""),
    ("tags.team NOT IN ('vision')", None, None, ""),
    ("tags.`mlflow.note` LIKE '%;%'", None, None, ""),
    ("metrics.acc > 0.2 AND params.lr = '0.01' AND tags.team = 'nlp'", None, None, ""),
    # A model with several matching points is found once, in every order.
    ("metrics.acc >= 0 AND metrics.loss <= 1", ["model_type DESC"], None, ""),
    ("tags.team != 'x' AND metrics.acc > 0.1", ["name ASC"], [{"dataset_name": "eval"}], ""),
    ("metrics.acc > -1", [{"field_name": "source_run_id"}], None, ""),
    ("metrics.acc > 0.8 OR tags.team = 'nlp'", ["metrics.acc DESC"], None, "search_or"),
    ("(name = 'model-0' OR name = 'model-5') AND status = 'READY'", None, None, "search_or"),
]

LOGGED_MODEL_BAD_FILTERS = [
    "metric.acc > 0.5",  # singular prefixes are refused for logged models
    "datasets.name = 'x'",
    "metrics.acc > '0.5'",
    "name > 1",
    "params.lr IS NULL",
    "bogus = 'x'",
    "name = model-1",
    "creation_timestamp = 'x'",
    "metrics.acc >",
]

LOGGED_MODEL_BAD_ORDERS: list[Any] = [
    [{"field_name": "params.lr"}],
    [{"field_name": "bogus"}],
    [{"field_name": "name", "ascending": "yes"}],
    [{"ascending": True}],
    [{"field_name": "name", "extra": 1}],
    [{"field_name": "name", "dataset_name": "train"}],
    ["tags.team DESC"],
    [42],
]


def _expect(code: str, fn: Any, *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    got = excinfo.value.error_code
    assert got == code, f"expected {code}, got {got}: {excinfo.value}"
    return excinfo.value


class LoggedModelChecks:
    """Logged models: create, get, finalize, tags, params, metrics, delete, search."""

    @pytest.fixture
    def lm_client(self, client: Any) -> Any:
        require_capability(client._store, "logged_models")
        return client

    # -- lifecycle -------------------------------------------------------------------------
    def test_create_and_get_logged_model(self, lm_client: Any, exp_id: str, run_id: str) -> None:
        client = lm_client
        model = client.create_logged_model(
            exp_id,
            name="clf",
            source_run_id=run_id,
            tags={"team": "vision"},
            params={"lr": 0.1},
            model_type="sklearn",
        )
        assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
        assert model.experiment_id == exp_id
        assert model.name == "clf"
        assert model.status == LoggedModelStatus.PENDING
        assert model.source_run_id == run_id
        assert model.model_type == "sklearn"
        assert model.tags == {"team": "vision"}
        assert model.params == {"lr": "0.1"}
        assert model.model_uri == f"models:/{model.model_id}"
        exp = client.get_experiment(exp_id)
        assert model.artifact_location == (
            exp.artifact_location.rstrip("/") + f"/models/{model.model_id}/artifacts"
        )
        got = client.get_logged_model(model.model_id)
        assert got.to_dictionary() == model.to_dictionary()
        assert got.creation_timestamp == got.last_updated_timestamp > 0

    def test_create_logged_model_makes_up_a_name(self, lm_client: Any, exp_id: str) -> None:
        model = lm_client.create_logged_model(exp_id)
        assert model.name and isinstance(model.name, str)
        assert model.tags == {} and model.params == {} and model.metrics is None

    def test_create_logged_model_bad_input_writes_nothing(
        self, lm_client: Any, exp_id: str
    ) -> None:
        client = lm_client
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.create_logged_model, "987654")
        for bad in ("a/b", "a.b", "", "x:y", "50%", "it's"):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_logged_model, exp_id, bad)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.create_logged_model,
            exp_id,
            "ok",
            tags={"": "v"},
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.create_logged_model,
            exp_id,
            "ok",
            model_type=3,
        )
        deleted = client.create_experiment("lm-deleted")
        client.delete_experiment(deleted)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.create_logged_model, deleted, "ok")
        assert list(client.search_logged_models([exp_id, deleted])) == []

    def test_finalize_logged_model(self, lm_client: Any, exp_id: str) -> None:
        client = lm_client
        model = client.create_logged_model(exp_id, "m")
        ready = client.finalize_logged_model(model.model_id, "READY")
        assert ready.status == LoggedModelStatus.READY
        assert ready.last_updated_timestamp >= model.last_updated_timestamp
        failed = client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        assert client.get_logged_model(model.model_id).status == failed.status == "FAILED"
        for bad in ("PENDING", "BOGUS", "", None, 2):
            _expect(
                ErrorCode.INVALID_PARAMETER_VALUE, client.finalize_logged_model, model.model_id, bad
            )
        assert client.get_logged_model(model.model_id).status == LoggedModelStatus.FAILED
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.finalize_logged_model,
            "m-" + "0" * 32,
            "READY",
        )

    def test_logged_model_tags(self, lm_client: Any, exp_id: str) -> None:
        client = lm_client
        model = client.create_logged_model(exp_id, "m", tags={"a": "1"})
        client.set_logged_model_tags(model.model_id, {"a": "2", "b": "x y"})
        assert client.get_logged_model(model.model_id).tags == {"a": "2", "b": "x y"}
        client.delete_logged_model_tag(model.model_id, "a")
        assert client.get_logged_model(model.model_id).tags == {"b": "x y"}
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_logged_model_tag, model.model_id, "a"
        )
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.set_logged_model_tags,
            "m-" + "1" * 32,
            {"a": "b"},
        )

    def test_logged_model_params(self, lm_client: Any, exp_id: str) -> None:
        client = lm_client
        model = client.create_logged_model(exp_id, "m", params={"a": "1"})
        client.log_model_params(model.model_id, {"b": 2, "a": "1"})
        assert client.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_model_params,
            model.model_id,
            {"c": "3", "a": "changed"},
        )
        assert client.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}

    def test_delete_logged_model(self, lm_client: Any, exp_id: str) -> None:
        client = lm_client
        keep = client.create_logged_model(exp_id, "keep")
        gone = client.create_logged_model(exp_id, "gone")
        client.delete_logged_model(gone.model_id)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_logged_model, gone.model_id)
        assert client._store.get_logged_model(gone.model_id, allow_deleted=True).name == "gone"
        assert [m.model_id for m in client.search_logged_models([exp_id])] == [keep.model_id]
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.delete_logged_model, gone.model_id)
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, client.get_logged_model, "m-unknown")
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.get_logged_model, "")

    def test_metrics_logged_with_model_id(self, lm_client: Any, exp_id: str, run_id: str) -> None:
        client = lm_client
        model = client.create_logged_model(exp_id, "m", source_run_id=run_id)
        client.log_metric(
            run_id,
            "acc",
            0.5,
            timestamp=T0,
            step=1,
            model_id=model.model_id,
            dataset_name="eval",
            dataset_digest="d1",
        )
        client.log_batch(
            run_id,
            metrics=[
                Metric("loss", 1.5, T0 + 1, 2, model_id=model.model_id),
                Metric("loss", 1.5, T0 + 1, 2, model_id=model.model_id),  # identical: once
                Metric("plain", 3.0, T0, 0),
            ],
        )
        points = sorted(
            (m.key, m.value, m.timestamp, m.step, m.run_id, m.dataset_name, m.dataset_digest)
            for m in client.get_logged_model(model.model_id).metrics
        )
        assert points == [
            ("acc", 0.5, T0, 1, run_id, "eval", "d1"),
            ("loss", 1.5, T0 + 1, 2, run_id, None, None),
        ]
        assert client.get_run(run_id).data.metrics == {"acc": 0.5, "loss": 1.5, "plain": 3.0}

    def test_metric_with_unknown_model_id_is_refused(self, lm_client: Any, run_id: str) -> None:
        client = lm_client
        require_capability(client._store, "transactions")
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.log_batch,
            run_id,
            metrics=[Metric("ok", 1.0, T0, 0), Metric("bad", 1.0, T0, 0, model_id="m-" + "2" * 32)],
        )
        assert client.get_run(run_id).data.metrics == {}

    # -- artifacts and URIs ------------------------------------------------------------------
    def test_model_artifacts_and_models_uri(
        self, lm_client: Any, exp_id: str, tmp_path: Any
    ) -> None:
        from trackyard import artifacts

        client = lm_client
        model = client.create_logged_model(exp_id, "m")
        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "MLmodel").write_text("flavors: {}\n")
        (src / "sub" / "w.bin").write_bytes(b"\x00\x01")
        client.log_model_artifacts(model.model_id, str(src))
        client.log_model_artifact(model.model_id, str(src / "MLmodel"), "extra")
        names = sorted(f.path for f in client.list_logged_model_artifacts(model.model_id))
        assert names == ["MLmodel", "extra", "sub"]
        assert [f.path for f in client.list_logged_model_artifacts(model.model_id, "sub")] == [
            "sub/w.bin"
        ]
        local = client.download_artifacts(f"models:/{model.model_id}", "", str(tmp_path / "o2"))
        with open(os.path.join(local, "MLmodel"), encoding="utf-8") as fh:
            assert fh.read() == "flavors: {}\n"
        with open(os.path.join(local, "sub", "w.bin"), "rb") as fb:
            assert fb.read() == b"\x00\x01"
        loc = artifacts.locate(client, f"models:/{model.model_id}")
        assert loc.root == model.artifact_location and loc.path == ""
        sub = client.download_artifacts(f"models:/{model.model_id}/sub", "", str(tmp_path / "o3"))
        assert os.listdir(sub) == ["w.bin"]
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            client.download_artifacts,
            "models:/m-unknown",
            "",
            str(tmp_path / "o4"),
        )
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.list_logged_model_artifacts, "m-" + "3" * 32
        )

    def test_document_form_create_logged_model(
        self, lm_client: Any, exp_id: str, run_id: str, tmp_path: Any
    ) -> None:
        client = lm_client
        src = tmp_path / "model"
        src.mkdir()
        (src / "model.pkl").write_bytes(b"pickle")
        model = client.create_logged_model(
            "doc", run_id, str(src), flavor="sklearn", metadata={"owner": "ml"}
        )
        assert model.experiment_id == exp_id
        assert model.source_run_id == run_id
        assert model.model_type == "sklearn"
        assert model.tags == {"owner": "ml"}
        assert model.status == LoggedModelStatus.READY
        assert [f.path for f in client.list_logged_model_artifacts(model.model_id)] == ["model.pkl"]
        client.log_artifacts(run_id, str(src), "saved")
        kw = client.create_logged_model(name="kw", run_id=run_id, model_path="saved")
        assert [f.path for f in client.list_logged_model_artifacts(kw.model_id)] == ["model.pkl"]
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST, client.create_logged_model, "doc", "f" * 32, str(src)
        )
        found = client.search_logged_models("name = 'kw'")
        assert [m.model_id for m in found] == [kw.model_id]
        client.log_model_params(run_id, {"p": "1"})
        assert client.get_run(run_id).data.params == {"p": "1"}
        client.log_model_params(run_id=run_id, model_params={"q": "2"})  # by keyword too
        client.log_model_params(model_id=kw.model_id, model_params={"r": "3"})
        assert client.get_run(run_id).data.params == {"p": "1", "q": "2"}
        assert client.get_logged_model(kw.model_id).params == {"r": "3"}
        before = client.get_run(run_id).data.params
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_model_params,
            kw.model_id,
            {"s": "4"},
            run_id=run_id,
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.log_model_params,
            run_id=run_id,
            params={"s": "4"},
            model_params={"s": "4"},
        )
        assert client.get_run(run_id).data.params == before

    # -- search ----------------------------------------------------------------------------
    @pytest.fixture
    def lm_search_fixture(self, lm_client: Any) -> tuple[Any, list[str], list[Any]]:
        client = lm_client
        exp_a = client.create_experiment("lm-search-a")
        exp_b = client.create_experiment("lm-search-b")
        run_a = client.create_run(exp_a).info.run_id
        run_b = client.create_run(exp_b).info.run_id
        ids = []
        for i in range(9):
            exp, run = (exp_a, run_a) if i % 3 else (exp_b, run_b)
            tags = {"team": ["vision", "nlp", "audio"][i % 3]}
            if i == 4:
                tags["mlflow.note"] = "a;b"
            params = {"lr": ["0.1", "0.01", "0.001"][i % 3]}
            if i % 2:
                params["opt"] = ["adam", "Adam", "sgd"][i % 3]
            model = client.create_logged_model(
                exp,
                f"model-{i}",
                source_run_id=run if i % 4 else None,
                tags=tags,
                params=params,
                model_type=None if i == 2 else ["sklearn", "torch"][i % 2],
            )
            if i % 3 == 1:
                client.finalize_logged_model(model.model_id, "READY")
            elif i % 3 == 2:
                client.finalize_logged_model(model.model_id, "FAILED")
            metrics = []
            if i != 6:
                acc = [0.1, 0.9, 0.5, 0.7, 0.25, 0.95, 0.0, 0.6, 0.5][i]
                metrics += [
                    Metric(
                        "acc",
                        acc,
                        T0 + i,
                        0,
                        model_id=model.model_id,
                        dataset_name="train",
                        dataset_digest="t1",
                    ),
                    Metric(
                        "acc",
                        1 - acc,
                        T0 + 100 + i,
                        1,
                        model_id=model.model_id,
                        dataset_name="eval",
                        dataset_digest="e1" if i % 2 else "e2",
                    ),
                ]
            if i % 2 == 0:
                metrics.append(Metric("loss", 2.0 - i * 0.2, T0, 0, model_id=model.model_id))
            if i == 3:
                metrics.append(Metric("f 1", 0.4, T0, 0, model_id=model.model_id))
            if metrics:
                client.log_batch(run, metrics=metrics)
            ids.append(model.model_id)
        deleted = client.create_logged_model(exp_a, "model-deleted", tags={"team": "nlp"})
        client.delete_logged_model(deleted.model_id)
        models = [client.get_logged_model(m) for m in ids]
        return client, [exp_a, exp_b], models

    @pytest.mark.parametrize("filter_string, order_by, datasets, needs", LOGGED_MODEL_SEARCH_CASES)
    def test_search_logged_models_matches_evaluator(
        self,
        lm_search_fixture: Any,
        filter_string: str,
        order_by: list[Any] | None,
        datasets: list[Any] | None,
        needs: str,
    ) -> None:
        client, exp_ids, models = lm_search_fixture
        if needs:
            require_capability(client._store, needs)
        request = LoggedModelSearch.parse(exp_ids, filter_string, datasets, 1000, order_by)
        expected = [m.model_id for m in search_logged_models_in_memory(models, request)]
        got = client.search_logged_models(exp_ids, filter_string, datasets, 1000, order_by)
        assert [m.model_id for m in got] == expected
        assert got.token is None
        paged: list[str] = []
        token = None
        while True:
            page = client.search_logged_models(
                exp_ids, filter_string, datasets, 2, order_by, page_token=token
            )
            assert len(page) <= 2
            paged.extend(m.model_id for m in page)
            token = page.token
            if not token:
                break
        assert paged == expected

    def test_search_logged_models_returns_full_models(self, lm_search_fixture: Any) -> None:
        client, exp_ids, models = lm_search_fixture
        by_id = {m.model_id: m for m in models}
        for got in client.search_logged_models(exp_ids, max_results=100):
            want = by_id[got.model_id]
            assert got.to_dictionary()["tags"] == want.tags
            assert got.params == want.params
            assert sorted((m.key, m.value, m.step) for m in got.metrics or ()) == sorted(
                (m.key, m.value, m.step) for m in want.metrics or ()
            )
            assert not any(math.isnan(m.value) for m in got.metrics or ())

    def test_search_logged_models_scopes_and_defaults(self, lm_search_fixture: Any) -> None:
        client, exp_ids, models = lm_search_fixture
        only_b = client.search_logged_models([exp_ids[1]])
        assert {m.experiment_id for m in only_b} == {exp_ids[1]}
        assert len(only_b) == 3
        everything = client.search_logged_models()  # the document's form: every experiment
        assert {m.model_id for m in everything} == {m.model_id for m in models}
        order = [(m.creation_timestamp, m.model_id) for m in everything]
        assert order == sorted(order, key=lambda t: (-t[0], t[1]))
        assert list(client.search_logged_models(["424242"])) == []

    @pytest.mark.parametrize("bad_filter", LOGGED_MODEL_BAD_FILTERS)
    def test_search_logged_models_bad_filters(
        self, lm_search_fixture: Any, bad_filter: str
    ) -> None:
        client, exp_ids, _ = lm_search_fixture
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_logged_models, exp_ids, bad_filter)

    @pytest.mark.parametrize("bad_order", LOGGED_MODEL_BAD_ORDERS)
    def test_search_logged_models_bad_order(self, lm_search_fixture: Any, bad_order: Any) -> None:
        client, exp_ids, _ = lm_search_fixture
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.search_logged_models,
            exp_ids,
            order_by=bad_order,
        )

    def test_search_logged_models_bad_paging_and_datasets(self, lm_search_fixture: Any) -> None:
        client, exp_ids, _ = lm_search_fixture
        search = client.search_logged_models
        for bad in (0, -1, "10", True):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, search, exp_ids, max_results=bad)
        for bad_ds in (
            [{"dataset_digest": "x"}],
            [{"dataset_name": ""}],
            ["train"],
            {"dataset_name": "train"},
        ):
            _expect(ErrorCode.INVALID_PARAMETER_VALUE, search, exp_ids, datasets=bad_ds)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, search, exp_ids, page_token="not-a-token")
        token = search(exp_ids, "name LIKE 'model-%'", max_results=2).token
        assert token
        assert len(search(exp_ids, "name LIKE 'model-%'", max_results=2, page_token=token)) == 2
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            search,
            exp_ids,
            "name LIKE 'model-1%'",
            max_results=2,
            page_token=token,
        )
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            search,
            exp_ids[:1],
            "name LIKE 'model-%'",
            max_results=2,
            page_token=token,
        )
