"""trackyard: MLflow's client API over pluggable tracking, registry and artifact backends.

    import trackyard as mlflow                    # the fluent API, as in MLflow

    with mlflow.start_run():
        mlflow.log_metric("loss", 0.25, step=1)

    from trackyard import MlflowClient

    client = MlflowClient()                       # sqlite:///trackyard.db by default
    exp = client.create_experiment("demo")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "loss", 0.25, step=1)

Importing trackyard is cheap: no database driver, SQLAlchemy or fsspec is imported until a
store is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trackyard._async_logging import AsyncLoggingError, RunOperations
from trackyard.client import MlflowClient
from trackyard.config import get_registry_uri, get_tracking_uri, set_registry_uri, set_tracking_uri
from trackyard.errors import MlflowException, TrackyardError

if TYPE_CHECKING:
    from trackyard.plugins.hookspecs import hookimpl

__version__ = "0.1.0"

# The fluent API (trackyard.fluent), imported on first use.
_FLUENT = frozenset(
    {
        "ActiveRun",
        "active_run",
        "create_experiment",
        "delete_tag",
        "end_run",
        "flush_async_logging",
        "get_artifact_uri",
        "get_experiment",
        "get_experiment_by_name",
        "get_parent_run",
        "get_run",
        "last_active_run",
        "log_artifact",
        "log_artifacts",
        "log_dict",
        "log_figure",
        "log_image",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "log_table",
        "log_text",
        "search_experiments",
        "search_runs",
        "set_experiment",
        "set_experiment_tag",
        "set_tag",
        "set_tags",
        "start_run",
    }
)

__all__ = [
    "AsyncLoggingError",
    "MlflowClient",
    "MlflowException",
    "RunOperations",
    "TrackyardError",
    "__version__",
    "copy_store",
    "flush_trace_async_logging",
    "get_active_trace_id",
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_registry_uri",
    "get_tracking_uri",
    "hookimpl",
    "log_expectation",
    "log_feedback",
    "override_feedback",
    "set_registry_uri",
    "set_tracking_uri",
    "start_span",
    "sync_stores",
    "trace",
    "update_current_trace",
    *sorted(_FLUENT),
]

# MLflow 3.17.2's fluent tracing names, loaded on first use from trackyard.tracing.
_TRACING = frozenset(
    (
        "flush_trace_async_logging",
        "get_active_trace_id",
        "get_current_active_span",
        "get_last_active_trace_id",
        "start_span",
        "trace",
        "update_current_trace",
    )
)


def __getattr__(name: str) -> Any:
    # hookimpl needs pluggy; plugin modules import it, plain users never pay for it.
    if name == "hookimpl":
        from trackyard.plugins.hookspecs import hookimpl

        return hookimpl
    if name in ("log_feedback", "log_expectation", "override_feedback"):
        from trackyard import _assessment_api

        return getattr(_assessment_api, name)
    if name in _TRACING:
        import trackyard.tracing

        return getattr(trackyard.tracing, name)
    if name == "tracing":
        import trackyard.tracing

        return trackyard.tracing
    if name in _FLUENT:
        from trackyard import fluent

        value = getattr(fluent, name)
        globals()[name] = value  # later lookups skip this hook (log_metric in a loop)
        return value
    if name in ("copy_store", "sync_stores"):  # trackyard.copy, loaded on first use
        import trackyard.copy

        return getattr(trackyard.copy, name)
    if name == "artifacts":  # ``trackyard.artifacts.download_artifacts(...)``, as in MLflow
        import trackyard.artifacts

        return trackyard.artifacts
    raise AttributeError(f"module 'trackyard' has no attribute {name!r}")
