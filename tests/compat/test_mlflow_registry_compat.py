"""Model registry data compatibility with MLflow 3.17.2 (SQLite; PostgreSQL and MariaDB too).

MLflow creates registered models, versions (a deleted one, a staged one, one copied from a
``models:/`` URI), aliases, tags, a renamed model and prompts; trackyard reads them exactly as
MLflow does. Then trackyard writes to the same database and MLflow reads everything back,
keeps writing, and sees the same thing trackyard sees.

PostgreSQL and MariaDB run when their services are configured (``tests._services``).
Both sides describe the registry with the same function (:func:`describe`), run by MLflow's
``MlflowClient`` in the peer interpreter and by trackyard's in this one.
"""

from __future__ import annotations

import inspect
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import mysql_base_uri, postgres_base_uri, worker_database_uri
from tests.compat.peer import requires_mlflow, run_mlflow

pytestmark = [pytest.mark.compat, requires_mlflow]

ALEMBIC_HEAD = "dc11669786a5"
RUN_ID = "0123456789abcdef0123456789abcdef"


def describe(client: Any) -> dict[str, Any]:
    """Everything the registry holds, as JSON-able data, read through ``client``.

    Only API calls that MLflow's and trackyard's ``MlflowClient`` share are used, and values
    are normalized where the libraries' Python types differ (MLflow's SQL store returns
    versions as ints, trackyard as strings, as MLflow's REST API does). Prompts are read
    through search results and the prompt API: the model getters do not show them.
    """

    def version(v: Any, full: Any = None) -> dict[str, Any]:
        prompt = full is None
        full = full or v
        out = {
            "name": full.name,
            "version": str(full.version),
            "creation_timestamp": full.creation_timestamp,
            "last_updated_timestamp": full.last_updated_timestamp,
            "description": full.description,
            "user_id": full.user_id,
            "current_stage": full.current_stage,
            "source": full.source,
            "run_id": full.run_id,
            "status": full.status,
            "status_message": full.status_message,
            "run_link": full.run_link,
            "tags": dict(full.tags),
        }
        if not prompt:  # MLflow's search results carry no aliases; its getters hide prompts
            out["aliases"] = sorted(full.aliases)
            out["download_uri"] = client.get_model_version_download_uri(
                full.name, str(full.version)
            )
        return out

    def model(m: Any, full: Any) -> dict[str, Any]:
        return {
            "name": full.name,
            "creation_timestamp": full.creation_timestamp,
            "last_updated_timestamp": full.last_updated_timestamp,
            "description": full.description,
            # MLflow's RegisteredModel.tags hides the prompt marker; trackyard's shows it
            "tags": {k: v for k, v in full.tags.items() if k != "mlflow.prompt.is_prompt"},
            "aliases": {k: str(v) for k, v in full.aliases.items()},
            "latest_versions": sorted(
                [str(v.version), v.current_stage] for v in full.latest_versions
            ),
        }

    is_prompt = "tags.`mlflow.prompt.is_prompt` = 'true'"
    models = list(client.search_registered_models(max_results=1000))
    prompt_models = list(client.search_registered_models(is_prompt, max_results=1000))
    versions = list(client.search_model_versions(max_results=10000))
    prompt_versions = list(client.search_model_versions(is_prompt, max_results=10000))
    prompts = {}
    for p in client.search_prompts():
        versions_of = {}
        for pv in client.search_prompt_versions(p.name):
            versions_of[str(pv.version)] = {
                "template": pv.template,
                "commit_message": pv.commit_message,
                "tags": dict(pv.tags),
                "variables": sorted(pv.variables),
                "response_format": pv.response_format,
                "model_config": pv.model_config,
            }
        prompts[p.name] = {
            "description": p.description,
            "tags": dict(p.tags),
            "versions": versions_of,
        }
    by_alias = {}
    for m in models:
        for alias in sorted(client.get_registered_model(m.name).aliases):
            by_alias[f"{m.name}@{alias}"] = str(
                client.get_model_version_by_alias(m.name, alias).version
            )
    for m in prompt_models:
        for alias in sorted(m.aliases):
            pv = client.get_prompt_version_by_alias(m.name, alias)
            by_alias[f"{m.name}@{alias}"] = str(pv.version)
    return {
        "model_names": [m.name for m in models],
        "prompt_model_names": [m.name for m in prompt_models],
        "version_keys": [[v.name, str(v.version)] for v in versions],
        "prompt_version_keys": [[v.name, str(v.version)] for v in prompt_versions],
        "models": [model(m, client.get_registered_model(m.name)) for m in models]
        + [model(m, m) for m in prompt_models],
        "versions": [version(v, client.get_model_version(v.name, str(v.version))) for v in versions]
        + [version(v) for v in prompt_versions],
        "prompts": prompts,
        "by_alias": by_alias,
        "filtered": {
            "tags": [m.name for m in client.search_registered_models("tags.team = 'vision'")],
            "like": [
                [v.name, str(v.version)] for v in client.search_model_versions("name LIKE 'm%'")
            ],
            "ordered": [
                [v.name, str(v.version)]
                for v in client.search_model_versions(
                    order_by=["creation_timestamp ASC"], max_results=10000
                )
            ],
        },
    }


DESCRIBE = textwrap.dedent(inspect.getsource(describe))

MLFLOW_SETUP = """
import warnings

warnings.simplefilter("ignore")
from mlflow import MlflowClient

client = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
client.create_registered_model("m1", tags={"team": "vision"}, description="first model")
client.create_model_version("m1", "s3://bucket/m1/1", tags={"k": "v"}, description="one")
client.create_model_version(
    "m1", f"runs:/{ARGS['run_id']}/model", run_id=ARGS["run_id"], run_link="http://host/run"
)
client.create_model_version("m1", "s3://bucket/m1/3")
client.set_registered_model_alias("m1", "champion", "2")
client.set_registered_model_alias("m1", "doomed", "3")
client.set_model_version_tag("m1", "2", "quality", "high")
client.transition_model_version_stage("m1", "1", "Production")
client.delete_model_version("m1", "3")
client.create_model_version("m1", "models:/m1/1")
client.create_registered_model("old-name", tags={"team": "nlp"})
client.create_model_version("old-name", "s3://bucket/old/1", tags={"t": "1"})
client.set_registered_model_alias("old-name", "prod", "1")
client.rename_registered_model("old-name", "m2")
client.register_prompt("greet", "Hello {{ name }}!", commit_message="c1", tags={"a": "b"})
client.register_prompt(
    "greet",
    [{"role": "user", "content": "{{ q }}"}],
    commit_message="chat",
    response_format={"type": "object"},
    model_config={"temperature": 0.5},
)
client.set_prompt_alias("greet", "prod", 1)
client.create_prompt("empty-prompt", description="no versions yet", tags={"team": "vision"})
"""


def _mlflow_describe(uri: str, before: str = "") -> Any:
    script = (
        "from __future__ import annotations\nfrom typing import Any\n\n"
        + DESCRIBE
        + "\n\nimport warnings\nwarnings.simplefilter('ignore')\nfrom mlflow import MlflowClient\n"
        + textwrap.dedent(before)
        + "\nemit(describe(MlflowClient(tracking_uri=ARGS['uri'], registry_uri=ARGS['uri'])))\n"
    )
    return run_mlflow(script, uri=uri)


def _fresh_server_database(uri: str) -> None:
    """Empty a PostgreSQL/MySQL database completely, for MLflow to create its schema."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            else:
                name = engine.url.database
                conn.exec_driver_sql(f"DROP DATABASE `{name}`")
                conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def mlflow_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database that MLflow created and filled with :data:`MLFLOW_SETUP`."""
    from trackyard.backends import clear_store_cache

    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        base = postgres_base_uri() if request.param == "postgresql" else mysql_base_uri()
        uri = worker_database_uri(base, "regcompat")
        _fresh_server_database(uri)
    run_mlflow(MLFLOW_SETUP, uri=uri, run_id=RUN_ID, timeout=600)
    yield uri
    clear_store_cache()


def _schema_state(uri: str) -> tuple[list[str], set[str]]:
    """MLflow's alembic version rows and the table names of the database."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            versions = [
                r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ]
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    return versions, tables


def _trackyard_describe(uri: str) -> Any:
    from trackyard import MlflowClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return describe(MlflowClient(tracking_uri=uri, registry_uri=uri))


def test_trackyard_reads_what_mlflow_wrote(mlflow_db: str) -> None:
    mlflow_view = _mlflow_describe(mlflow_db)
    trackyard_view = _trackyard_describe(mlflow_db)
    assert trackyard_view == mlflow_view
    # the scenario really produced what it claims
    assert mlflow_view["model_names"] == ["m1", "m2"]
    assert mlflow_view["prompt_model_names"] == ["empty-prompt", "greet"]
    assert ["m1", "3"] not in mlflow_view["version_keys"]
    assert mlflow_view["by_alias"] == {"m1@champion": "2", "m2@prod": "1", "greet@prod": "1"}
    copied = next(v for v in mlflow_view["versions"] if v["source"] == "models:/m1/1")
    assert copied["download_uri"] == "s3://bucket/m1/1"


def test_mlflow_reads_what_trackyard_wrote(mlflow_db: str, tmp_path: Path) -> None:
    from trackyard import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_db, registry_uri=mlflow_db)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.create_registered_model("ty-model", tags={"team": "vision"}, description="by ty")
        for i in range(3):
            client.create_model_version(
                "ty-model", f"s3://bucket/ty/{i}", tags={"i": str(i)}, description=f"v{i}"
            )
        client.set_registered_model_alias("ty-model", "champion", "1")
        client.set_registered_model_alias("ty-model", "gone", "2")
        client.set_model_version_tag("ty-model", "1", "quality", "ok")
        client.delete_model_version("ty-model", "2")
        client.transition_model_version_stage("ty-model", "3", "Staging")
        client.create_model_version("m1", "models:/m1@champion")  # MLflow's model: version 5
        client.rename_registered_model("m2", "m2-renamed")
        client.update_registered_model("m1", "updated by trackyard")
        client.register_prompt("ty-prompt", "Hi {{ who }}", commit_message="first", tags={"x": "y"})
        client.register_prompt("ty-prompt", "Hello {{ who }}", commit_message="second")
        client.set_prompt_alias("ty-prompt", "prod", 2)
        client.set_prompt_tag("ty-prompt", "owner", "ana")
        client.register_prompt("greet", "Third {{ name }}")  # MLflow's prompt: version 3
    trackyard_view = _trackyard_describe(mlflow_db)
    mlflow_view = _mlflow_describe(mlflow_db)
    assert mlflow_view == trackyard_view
    assert "ty-prompt" not in mlflow_view["model_names"]
    assert mlflow_view["by_alias"]["ty-prompt@prod"] == "2"
    assert ["m1", "5"] in mlflow_view["version_keys"]
    assert ["ty-model", "2"] not in mlflow_view["version_keys"]

    # MLflow keeps working on the database: numbering, prompts, renames, deletes
    result = run_mlflow(
        """
        import warnings

        warnings.simplefilter("ignore")
        from mlflow import MlflowClient

        c = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
        next_version = c.create_model_version("ty-model", "s3://bucket/ty/next").version
        prompt = c.load_prompt("prompts:/ty-prompt@prod")
        c.rename_registered_model("ty-model", "ty-model-2")
        c.delete_registered_model("m2-renamed")
        emit({
            "next_version": str(next_version),
            "prompt": prompt.template,
            "prompt_version": str(prompt.version),
            "versions": [str(v.version) for v in c.search_model_versions("name = 'ty-model-2'")],
        })
        """,
        uri=mlflow_db,
    )
    assert result == {
        "next_version": "4",
        "prompt": "Hello {{ who }}",
        "prompt_version": "2",
        "versions": ["4", "3", "1"],
    }
    # and trackyard sees MLflow's changes
    assert _trackyard_describe(mlflow_db) == _mlflow_describe(mlflow_db)
    versions, tables = _schema_state(mlflow_db)
    assert versions == [ALEMBIC_HEAD]
    assert "trackyard_schema" not in tables  # trackyard leaves MLflow's schema as it is


def test_trackyard_refuses_what_mlflow_columns_cannot_hold(mlflow_db: str) -> None:
    from trackyard import MlflowClient
    from trackyard.errors import ErrorCode, TrackyardError

    client = MlflowClient(tracking_uri=mlflow_db, registry_uri=mlflow_db)
    before = _trackyard_describe(mlflow_db)
    for call in (
        lambda: client.set_registered_model_tag("m1", "wide", "x" * 5001),  # VARCHAR(5000)
        lambda: client.create_registered_model("n" * 257),  # VARCHAR(256)
        lambda: client.create_model_version("m1", "s3://" + "x" * 600),  # VARCHAR(500)
        lambda: client.update_model_version("m1", "1", "d" * 5001),
    ):
        with pytest.raises(TrackyardError) as excinfo:
            call()
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert "holds at most" in excinfo.value.message
    assert _trackyard_describe(mlflow_db) == before
    if mlflow_db.startswith("mysql"):
        # MLflow's model_version_tags.value is TEXT: 65,535 bytes on MySQL/MariaDB
        with pytest.raises(TrackyardError, match="65535 bytes") as excinfo:
            client.set_model_version_tag("m1", "1", "long", "y" * 100_000)
        assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
        assert _trackyard_describe(mlflow_db) == before
        client.set_model_version_tag("m1", "1", "long", "y" * 60_000)
        assert len(client.get_model_version("m1", "1").tags["long"]) == 60_000
    else:
        client.set_model_version_tag("m1", "1", "long", "y" * 100_000)  # TEXT: fits
        assert len(client.get_model_version("m1", "1").tags["long"]) == 100_000
