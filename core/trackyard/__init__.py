"""trackyard: MLflow's client API over pluggable tracking, registry and artifact backends.

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

from trackyard.client import MlflowClient
from trackyard.config import get_registry_uri, get_tracking_uri, set_registry_uri, set_tracking_uri
from trackyard.errors import MlflowException, TrackyardError

if TYPE_CHECKING:
    from trackyard.plugins.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "MlflowClient",
    "MlflowException",
    "TrackyardError",
    "__version__",
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
    "trace",
    "update_current_trace",
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
    if name == "artifacts":  # ``trackyard.artifacts.download_artifacts(...)``, as in MLflow
        import trackyard.artifacts

        return trackyard.artifacts
    raise AttributeError(f"module 'trackyard' has no attribute {name!r}")
