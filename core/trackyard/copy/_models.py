"""Copying logged models (with tags, params and metric points) between stores that keep them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from trackyard.copy._plan import ExperimentPartCopier, join_uri, pages

if TYPE_CHECKING:
    from trackyard.entities import LoggedModel
    from trackyard.stores import TrackingStore

__all__ = ["LoggedModelCopier", "source_models"]


def source_models(store: TrackingStore, experiment_id: str) -> Iterator[LoggedModel]:
    """Every (undeleted) logged model of an experiment, oldest first."""
    from trackyard.search.request import LoggedModelSearch

    yield from pages(
        lambda token: store.search_logged_models(
            LoggedModelSearch.parse(
                [experiment_id],
                max_results=100,
                order_by=["creation_timestamp ASC"],
                page_token=token,
            )
        )
    )


class LoggedModelCopier(ExperimentPartCopier):
    """Copies the logged models of copied experiments; a model the destination has is kept."""

    capability = "logged_models"

    def copy_experiment(
        self, src_experiment_id: str, dst_experiment_id: str, dst_location: str, active: bool
    ) -> None:
        """Copy the logged models of one experiment (counted as skipped when they cannot be
        written: the destination keeps or imports none, or the experiment is deleted there).
        """
        if not self.src.capabilities.logged_models:
            return
        fetch = functools.partial(self.dst.get_logged_model, allow_deleted=True)
        for model in source_models(self.src, src_experiment_id):
            model_id = model.model_id
            if not (self.enabled and active):
                self.report.logged_models_skipped += 1
                continue
            if self.checkpoint.get("logged_model", model_id) == dst_experiment_id:
                continue
            if not self.exists(fetch, model_id):
                location = join_uri(dst_location, "models", model_id, "artifacts")
                copied = dataclasses.replace(
                    model, experiment_id=dst_experiment_id, artifact_location=location
                )
                if not self.imported(functools.partial(self.dst.import_logged_model, copied)):
                    self.enabled = False  # this destination cannot import them
                    self.report.logged_models_skipped += 1
                    continue
                self.report.logged_models += 1
            self.checkpoint.record("logged_model", model_id, dst_experiment_id)
