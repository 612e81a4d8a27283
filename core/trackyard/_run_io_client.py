"""Run inputs and outputs on :class:`trackyard.MlflowClient`: ``log_inputs``, ``log_outputs``.

Inputs are validated as MLflow validates them (limits from ``mlflow/utils/validation.py``)
before any store sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard import validation
from trackyard.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
)
from trackyard.errors import TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

__all__ = ["RunInputsClientMixin", "validate_dataset_inputs"]

MAX_DATASETS_PER_BATCH = 1000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_TYPE_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500


def _text(value: object, what: str, limit: int, *, optional: bool = False) -> str | None:
    if value is None:
        if optional:
            return None
        raise TrackyardError.invalid_parameter_value(f"{what} cannot be None")
    if not isinstance(value, str):
        raise TrackyardError.invalid_parameter_value(f"{what} must be a string, got {value!r}")
    if len(value) > limit:
        raise TrackyardError.invalid_parameter_value(
            f"{what} exceeds the maximum length of {limit} characters ({len(value)})"
        )
    return value


def validate_dataset_inputs(datasets: object) -> list[DatasetInput]:
    """Check dataset inputs (types, non-None fields, lengths) and return them as a list."""
    if not isinstance(datasets, (list, tuple)):
        raise TrackyardError.invalid_parameter_value(
            f"Argument 'datasets' should be a list, got {type(datasets).__name__!r}"
        )
    if len(datasets) > MAX_DATASETS_PER_BATCH:
        raise TrackyardError.invalid_parameter_value(
            f"A batch logged at most {MAX_DATASETS_PER_BATCH} datasets, got {len(datasets)}"
        )
    out = []
    for item in datasets:
        if not isinstance(item, DatasetInput) or not isinstance(item.dataset, Dataset):
            raise TrackyardError.invalid_parameter_value(
                f"Expected DatasetInput(Dataset(...), tags), got {item!r}"
            )
        ds = item.dataset
        _text(ds.name, "Dataset name", MAX_DATASET_NAME_SIZE)
        _text(ds.digest, "Dataset digest", MAX_DATASET_DIGEST_SIZE)
        _text(ds.source_type, "Dataset source_type", MAX_DATASET_SOURCE_TYPE_SIZE)
        _text(ds.source, "Dataset source", MAX_DATASET_SOURCE_SIZE)
        _text(ds.schema, "Dataset schema", MAX_DATASET_SCHEMA_SIZE, optional=True)
        _text(ds.profile, "Dataset profile", MAX_DATASET_PROFILE_SIZE, optional=True)
        tags = tuple(item.tags or ())
        for tag in tags:
            if not isinstance(tag, InputTag):
                raise TrackyardError.invalid_parameter_value(f"Expected an InputTag, got {tag!r}")
            _text(tag.key, "InputTag key", MAX_INPUT_TAG_KEY_SIZE)
            _text(tag.value, "InputTag value", MAX_INPUT_TAG_VALUE_SIZE)
        out.append(DatasetInput(ds, tags))
    return out


def _model_refs(models: object, kind: type, what: str) -> list[Any]:
    if not isinstance(models, (list, tuple)):
        raise TrackyardError.invalid_parameter_value(
            f"Argument 'models' should be a list, got {type(models).__name__!r}"
        )
    for m in models:
        model_id = getattr(m, "model_id", None)
        if not isinstance(m, kind) or not isinstance(model_id, str) or not model_id:
            raise TrackyardError.invalid_parameter_value(f"Expected a {what}, got {m!r}")
        if isinstance(m, LoggedModelOutput) and (
            isinstance(m.step, bool) or not isinstance(m.step, int)
        ):
            raise TrackyardError.invalid_parameter_value(
                f"LoggedModelOutput step must be an int, got {m.step!r}"
            )
    return list(models)


class RunInputsClientMixin:
    """``log_inputs`` and ``log_outputs`` of :class:`trackyard.MlflowClient`."""

    if TYPE_CHECKING:

        @property
        def _tracking_store(self) -> TrackingStore: ...

        def _emit(self, name: str, entity: Any, /, **data: Any) -> None: ...

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Log datasets (with input tags such as ``mlflow.data.context``) and logged models
        that a run consumed.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for malformed inputs or a deleted run,
                RESOURCE_DOES_NOT_EXIST for a missing run or logged model; nothing is
                written then.
        """
        run_id = validation.validate_run_id(run_id)
        ds = validate_dataset_inputs(datasets) if datasets is not None else []
        ms = _model_refs(models, LoggedModelInput, "LoggedModelInput") if models else []
        if ds or ms:
            self._tracking_store.log_inputs(run_id, ds, ms)
        else:  # nothing to write, but the run must exist and be active, as for a batch
            self._tracking_store.log_batch(run_id, [], [], [])

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Log logged models that a run produced (``LoggedModelOutput(model_id, step)``)."""
        run_id = validation.validate_run_id(run_id)
        ms = _model_refs(models, LoggedModelOutput, "LoggedModelOutput")
        if ms:
            self._tracking_store.log_outputs(run_id, ms)
        else:
            self._tracking_store.log_batch(run_id, [], [], [])
