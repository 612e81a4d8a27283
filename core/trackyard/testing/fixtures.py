"""Per-test isolation of trackyard's process-wide state, for a plugin's test suite.

trackyard keeps a few things per process: the plugin manager (which plugins loaded, with
which allowlist), the cache of store instances, the ``set_tracking_uri`` /
``set_registry_uri`` overrides, and the plugin problems it already warned about. A test that
changes any of them, or an environment variable they are read from, would leak into the next
test. One line in your ``tests/conftest.py`` gives every test a clean start::

    from trackyard.testing.fixtures import isolation

    trackyard_isolation = isolation("trackyard-mystore")

Each test then runs with ``TRACKYARD_PLUGINS`` allowing trackyard's built-ins and the named
distributions (and nothing else installed in the environment), without inherited URIs,
artifact root or plugin switches, and with a fresh plugin manager and an empty store cache;
all of it is reset again after the test. It works in a suite of its own and in one pytest
run shared with other suites, since each conftest.py sets it up for its own folder.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

__all__ = ["ISOLATED_VARIABLES", "isolation", "reset_state"]

#: Environment variables an isolated test starts without (``TRACKYARD_PLUGINS`` is set).
ISOLATED_VARIABLES: tuple[str, ...] = (
    "TRACKYARD_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "TRACKYARD_REGISTRY_URI",
    "MLFLOW_REGISTRY_URI",
    "TRACKYARD_ARTIFACT_ROOT",
    "TRACKYARD_ARTIFACT_STORAGE_OPTIONS",
    "TRACKYARD_ARTIFACT_MAX_WORKERS",
    "TRACKYARD_ARTIFACT_CHUNK_SIZE",
    "TRACKYARD_ARTIFACT_RETRIES",
    "TRACKYARD_ARTIFACT_PROGRESS",
    "TRACKYARD_DISABLE_PLUGINS",
    "TRACKYARD_STRICT_PLUGINS",
    "TRACKYARD_TRACE_PLUGINS",
    "TRACKYARD_WEBHOOK_ALLOWED_NETWORKS",
    "TRACKYARD_ENABLE_ASYNC_LOGGING",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
    "TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
)


def reset_state() -> None:
    """Forget trackyard's process-wide state.

    Closes and forgets cached stores, drops the plugin manager (the next use loads plugins
    again, reading the environment afresh), forgets which plugin problems were already
    warned about, clears the ``set_tracking_uri`` / ``set_registry_uri`` overrides and, if
    the fluent API was used, this thread's active runs and the active experiment (without
    ending them).
    """
    from trackyard import config
    from trackyard.backends import clear_store_cache
    from trackyard.plugins import manager

    fluent = sys.modules.get("trackyard.fluent")
    if fluent is not None:
        fluent._reset()
    clear_store_cache()
    manager.reset_plugin_manager()
    with manager._reported_lock:
        manager._reported.clear()
    config.set_tracking_uri(None)
    config.set_registry_uri(None)
    delivery = sys.modules.get("trackyard.webhooks.delivery")
    if delivery is not None:  # cached webhook lists belong to the stores just closed
        delivery.forget_webhooks()


def isolation(
    *distributions: str, builtins: bool = True, name: str = "trackyard_isolation"
) -> Callable[..., Any]:
    """Build an autouse fixture that isolates every test of the conftest.py's folder.

    Args:
        distributions: plugins to load besides trackyard's built-ins: distribution names
            (``"trackyard-mystore"``) or entry-point names.
        builtins: also load trackyard's own plugins (SQL, file, fsspec, run context).
        name: the fixture's name (a conftest.py assigns the result to a variable of any name).

    Returns:
        The fixture; assign it to a module-level name in a ``conftest.py``.
    """
    allowed = ",".join(dict.fromkeys(("trackyard",) * builtins + distributions))

    @pytest.fixture(autouse=True, name=name)
    def fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setenv("TRACKYARD_PLUGINS", allowed)
        for var in ISOLATED_VARIABLES:
            monkeypatch.delenv(var, raising=False)
        reset_state()
        yield
        reset_state()

    fixture.__doc__ = f"Isolate trackyard's process-wide state; plugins allowed: {allowed!r}."
    return fixture
