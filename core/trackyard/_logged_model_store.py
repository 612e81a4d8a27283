"""The logged-model part of the tracking store contract (mixed into ``TrackingStore``).

Every method has a default that raises ``FEATURE_DISABLED``: a store that keeps logged models
overrides all of them and declares ``Capabilities(logged_models=True)``; the conformance kit
(:mod:`trackyard.testing.logged_models`) then holds it to this contract. Method names and
signatures are MLflow's tracking ``AbstractStore``'s, except that search receives a parsed
:class:`~trackyard.search.request.LoggedModelSearch`.

Stores with logged models also record, for every metric passed to ``log_batch`` with a
``model_id``, a point of that logged model (key, value, timestamp, step, the run id and the
dataset name and digest): :meth:`get_logged_model` returns them in ``metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities import (
        LoggedModel,
        LoggedModelParameter,
        LoggedModelStatus,
        LoggedModelTag,
        PagedList,
    )
    from trackyard.search.request import LoggedModelSearch

__all__ = ["LoggedModelStoreMixin"]


def _disabled(store: object) -> TrackyardError:
    return TrackyardError(
        f"{type(store).__name__} does not support logged models.", ErrorCode.FEATURE_DISABLED
    )


class LoggedModelStoreMixin:
    """Logged models: create, read, search, finalize, tag, param and delete."""

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Sequence[LoggedModelTag] | None = None,
        params: Sequence[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model in an active experiment (name made up if None).

        Its id is ``m-<uuid4 hex>`` and its artifact location
        ``<experiment artifact location>/models/<model_id>/artifacts``.
        RESOURCE_DOES_NOT_EXIST for a missing experiment, INVALID_STATE for a deleted one.
        """
        raise _disabled(self)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """Return a model with its tags, params and metric points.

        RESOURCE_DOES_NOT_EXIST if absent, or deleted unless ``allow_deleted``.
        """
        raise _disabled(self)

    def search_logged_models(self, request: LoggedModelSearch) -> PagedList[LoggedModel]:
        """Return the page of models ``request`` asks for (deleted models never match).

        Semantics: :mod:`trackyard.search.logged_model_evaluator`.
        """
        raise _disabled(self)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Set a model's status and last-updated time; return the model."""
        raise _disabled(self)

    def set_logged_model_tags(self, model_id: str, tags: Sequence[LoggedModelTag]) -> None:
        """Set (or overwrite) tags on a model; the last value of a repeated key wins."""
        raise _disabled(self)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Delete a model tag (RESOURCE_DOES_NOT_EXIST if the model or the tag is absent)."""
        raise _disabled(self)

    def delete_logged_model(self, model_id: str) -> None:
        """Mark a model deleted: it disappears from get and search."""
        raise _disabled(self)

    def log_logged_model_params(
        self, model_id: str, params: Sequence[LoggedModelParameter]
    ) -> None:
        """Add params to a model (a key already set keeps its first value unless equal)."""
        raise _disabled(self)
