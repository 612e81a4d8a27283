"""`import trackyard` stays light: proven in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "duckdb",
    "fsspec",
    "s3fs",
    "gcsfs",
    "pandas",
    "numpy",
    "matplotlib",
    "plotly",
    "PIL",
    "tqdm",
    "rich",
    "pyarrow",
    "pydantic",
    "pydantic_settings",
    "psycopg",
    "pymysql",
    "yaml",
    "click",
    "fastapi",
    "starlette",
    "uvicorn",
    "anyio",
    "httptools",
    # HTTP stacks: the REST plugin imports urllib3 only when an http(s) store is used
    "urllib3",
    "requests",
    "httpx",
)


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_import_trackyard_loads_no_heavy_modules() -> None:
    assert _heavy(_modules_after("import trackyard")) == []


def test_making_a_client_loads_no_heavy_modules() -> None:
    modules = _modules_after("import trackyard\nc = trackyard.MlflowClient()\nrepr(c)")
    assert _heavy(modules) == []
    assert "pluggy" not in modules  # plugins are discovered on first store use


def test_listing_schemes_loads_hook_modules_only() -> None:
    modules = _modules_after(
        "from trackyard.plugins import get_plugin_manager\n"
        "pm = get_plugin_manager()\n"
        "assert 'sqlite' in pm.schemes('tracking'), pm.schemes('tracking')\n"
        "assert 'memory' in pm.schemes('artifact')\n"
    )
    assert _heavy(modules) == []
    assert "trackyard_sql.hooks" in modules and "trackyard_sql.tracking" not in modules


def test_http_schemes_are_listed_without_an_http_stack() -> None:
    modules = _modules_after(
        "from trackyard.plugins import get_plugin_manager\n"
        "pm = get_plugin_manager()\n"
        "assert {'http', 'https'} <= set(pm.schemes('tracking')), pm.schemes('tracking')\n"
        "assert {'http', 'https'} <= set(pm.schemes('registry'))\n"
        "assert 'mlflow-artifacts' in pm.schemes('artifact')\n"
        "import trackyard\n"
        "repr(trackyard.MlflowClient(tracking_uri='http://127.0.0.1:1'))\n"
    )
    assert _heavy(modules) == []
    assert "trackyard_rest.hooks" in modules and "trackyard_rest.client.http" not in modules


def test_fluent_api_loads_pandas_only_in_search_runs() -> None:
    modules = _modules_after(
        "import trackyard\n"
        "assert 'trackyard.fluent' not in __import__('sys').modules\n"
        "trackyard.active_run(), trackyard.get_tracking_uri()\n"
    )
    assert "trackyard.fluent" in modules and _heavy(modules) == []


def test_server_cli_hook_loads_no_web_stack() -> None:
    modules = _modules_after(
        "import trackyard_rest.server.hooks, trackyard_rest.server.config\n"
        "from trackyard.cli import cli\n"
        "trackyard_rest.server.hooks.trackyard_cli(cli)\n"
    )
    web = {"fastapi", "starlette", "uvicorn", "pydantic", "anyio", "httptools"}
    assert sorted(m for m in modules if m.split(".")[0] in web) == []
    assert "trackyard_rest.server.app" not in modules
