"""Logged models on :class:`trackyard.MlflowClient` (MLflow 3's ``LoggedModel`` API).

Both signatures work: MLflow's (``create_logged_model(experiment_id, name=None,
source_run_id=None, tags=None, params=None, model_type=None)``,
``search_logged_models(experiment_ids, filter_string=None, datasets=None, ...)``) and the
one in trackyard's client document (``create_logged_model(name, run_id, model_path,
flavor=None, metadata=None)``, ``search_logged_models(filter_string=None, ...)``).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trackyard import validation
from trackyard.entities import (
    FileInfo,
    LoggedModel,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    PagedList,
)
from trackyard.errors import ErrorCode, TrackyardError, local_path_error

if TYPE_CHECKING:
    from trackyard.stores import ArtifactRepository, TrackingStore

__all__ = ["LoggedModelClientMixin", "validate_logged_model_name", "validate_model_id"]

_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")
_RUN_ID_RE = re.compile(r"[0-9a-f]{32}")
_MAX_NAME = 500
_MAX_MODEL_TYPE = 500


def validate_model_id(model_id: object) -> str:
    """A logged model id must be a non-empty string (INVALID_PARAMETER_VALUE otherwise)."""
    if not isinstance(model_id, str) or not model_id:
        raise TrackyardError.invalid_parameter_value(
            f"`model_id` must be a non-empty string, but got {model_id!r}"
        )
    return model_id


def validate_logged_model_name(name: object) -> str | None:
    """MLflow's rule: None, or a non-empty string without ``/ : . % " '``."""
    if name is None:
        return None
    if (
        not isinstance(name, str)
        or not name
        or any(c in name for c in _BAD_NAME_CHARS)
        or len(name) > _MAX_NAME
    ):
        raise TrackyardError.invalid_parameter_value(
            f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
            f"of at most {_MAX_NAME} characters and cannot contain the following characters: "
            f"{_BAD_NAME_CHARS}"
        )
    return name


def _model_tags(tags: Mapping[str, Any] | None) -> list[LoggedModelTag]:
    if tags is None:
        return []
    if not isinstance(tags, Mapping):
        raise TrackyardError.invalid_parameter_value(f"tags must be a dict, got {tags!r}")
    out = []
    for k, v in tags.items():
        tag = validation.validate_tag(k, v)
        out.append(LoggedModelTag(tag.key, tag.value))
    return out


def _model_params(params: Mapping[str, Any] | None) -> list[LoggedModelParameter]:
    if params is None:
        return []
    if not isinstance(params, Mapping):
        raise TrackyardError.invalid_parameter_value(f"params must be a dict, got {params!r}")
    out = []
    for k, v in params.items():
        param = validation.validate_param(k, v)
        out.append(LoggedModelParameter(param.key, param.value))
    return out


class LoggedModelClientMixin:
    """Logged-model methods of :class:`trackyard.MlflowClient`."""

    _tracking_uri: str
    _registry_uri: str

    if TYPE_CHECKING:

        @property
        def _tracking_store(self) -> TrackingStore: ...

        def _emit(self, name: str, entity: Any, /, **data: Any) -> None: ...

    # -- create / read ---------------------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str | None = None,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
        *,
        run_id: str | None = None,
        model_path: str | None = None,
        flavor: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> LoggedModel:
        """Create a logged model (status PENDING) and return it.

        MLflow's form: ``create_logged_model(experiment_id, name=None, source_run_id=None,
        tags=None, params=None, model_type=None)``; a name is made up when None.

        The document's form: ``create_logged_model(name, run_id, model_path, flavor=None,
        metadata=None)`` (used when ``run_id``, ``model_path``, ``flavor`` or ``metadata`` is
        given by keyword, or when the second positional argument is a run id): the model goes
        to the run's experiment with the run as its source, ``flavor`` becomes its
        ``model_type`` and ``metadata`` its tags. ``model_path`` names the files: a local
        file or directory is uploaded to the model's artifacts; otherwise it is a path in
        the run's artifacts, copied to the model's. The model is then finalized READY.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST for a missing experiment or run,
                INVALID_STATE for a deleted experiment, INVALID_PARAMETER_VALUE for a bad
                name, tag or param; nothing is created then.
        """
        document_form = any(v is not None for v in (run_id, model_path, flavor, metadata)) or (
            isinstance(name, str)
            and _RUN_ID_RE.fullmatch(name) is not None
            and not (isinstance(experiment_id, str) and experiment_id.isdigit())
        )
        if document_form:
            if run_id is not None:  # create_logged_model([name], run_id=..., model_path=...)
                doc_name = name if name is not None else experiment_id
                doc_run: object = run_id
            else:  # create_logged_model(name, run_id, model_path) positionally
                doc_name, doc_run = experiment_id, name
            doc_path = model_path if model_path is not None else source_run_id
            return self._create_from_run(doc_name, doc_run, doc_path, flavor, metadata)
        if experiment_id is None:
            raise TrackyardError.invalid_parameter_value("experiment_id must be specified")
        experiment_id = validation.validate_experiment_id(experiment_id)
        validate_logged_model_name(name)
        if source_run_id is not None:
            validation.validate_run_id(source_run_id)
        model_type = self._model_type(model_type)
        model = self._tracking_store.create_logged_model(
            experiment_id,
            name=name,
            source_run_id=source_run_id,
            tags=_model_tags(tags),
            params=_model_params(params),
            model_type=model_type,
        )
        self._emit("logged_model.created", model)
        return model

    @staticmethod
    def _model_type(model_type: object) -> str | None:
        if model_type is None:
            return None
        if not isinstance(model_type, str) or len(model_type) > _MAX_MODEL_TYPE:
            raise TrackyardError.invalid_parameter_value(
                f"model_type must be a string of at most {_MAX_MODEL_TYPE} characters, "
                f"got {model_type!r}"
            )
        return model_type

    def _create_from_run(
        self,
        name: object,
        run_id: object,
        model_path: object,
        flavor: object,
        metadata: Mapping[str, Any] | None,
    ) -> LoggedModel:
        name = validate_logged_model_name(name)
        run_id = validation.validate_run_id(run_id)
        if model_path is not None and not isinstance(model_path, (str, os.PathLike)):
            raise TrackyardError.invalid_parameter_value(
                f"model_path must be a path, got {model_path!r}"
            )
        model_type = self._model_type(flavor)
        tags = _model_tags(metadata)
        run = self._tracking_store.get_run(run_id)  # RESOURCE_DOES_NOT_EXIST before writing
        local = os.fspath(model_path) if model_path is not None else None
        run_path = None
        if local is not None and not os.path.exists(local):
            run_path = validation.validate_artifact_path(local, allow_empty=False).rstrip("/")
            local = None
            self._require_run_artifact(run_id, run_path)
        model = self._tracking_store.create_logged_model(
            run.info.experiment_id,
            name=name,
            source_run_id=run_id,
            tags=tags,
            params=[],
            model_type=model_type,
        )
        self._emit("logged_model.created", model)
        try:
            if local is not None:
                if os.path.isdir(local):
                    self.log_model_artifacts(model.model_id, local)
                else:
                    self.log_model_artifact(model.model_id, local)
            elif run_path is not None:
                self._copy_run_files(run_id, run_path, model.model_id)
        except BaseException:
            self._tracking_store.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            raise
        return self.finalize_logged_model(model.model_id, LoggedModelStatus.READY)

    def _require_run_artifact(self, run_id: str, path: str) -> None:
        import posixpath

        repo = self._artifact_repo(run_id)  # type: ignore[attr-defined]
        parent = posixpath.dirname(path)
        if not any(info.path == path for info in repo.list_artifacts(parent or None)):
            raise TrackyardError(
                f"model_path {path!r} is neither a local file or directory nor an artifact "
                f"of run {run_id!r}.",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )

    def _copy_run_files(self, run_id: str, path: str, model_id: str) -> None:
        import tempfile

        from trackyard import artifacts

        with tempfile.TemporaryDirectory(prefix="trackyard-model-") as tmp:
            location = artifacts.locate_run_path(self, run_id, path.rstrip("/") + "/")  # type: ignore[arg-type]
            local = location.repository(self).download_artifacts(location.path, tmp)  # type: ignore[arg-type]
            self._model_repo(model_id).log_artifacts(local, None)

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """Return a logged model with its tags, params and metric points.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST if there is no such (undeleted) model.
        """
        return self._tracking_store.get_logged_model(validate_model_id(model_id))

    def search_logged_models(
        self,
        experiment_ids: Sequence[str] | str | None = None,
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any] | str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Return one page of logged models matching ``filter_string``.

        MLflow's grammar: attributes (``name``, ``model_id``, ``status``, ``model_type``,
        ``source_run_id``, ``creation_timestamp``, ``last_updated_timestamp``),
        ``metrics.<k>``, ``params.<k>``, ``tags.<k>`` (plural prefixes only). ``order_by``
        items are MLflow's objects ``{"field_name", "ascending", "dataset_name",
        "dataset_digest"}`` or strings (``"metrics.acc DESC"``). Default order: newest
        first; 100 results a page. Semantics: :mod:`trackyard.search.logged_model_evaluator`.

        The document's form ``search_logged_models(filter_string=None, max_results=None,
        order_by=None, page_token=None)`` also works: a string first argument is the filter,
        and without experiment ids every active experiment is searched.
        """
        from trackyard.entities import ViewType
        from trackyard.search.request import LoggedModelSearch

        if isinstance(experiment_ids, str):
            if filter_string is not None:
                raise TrackyardError.invalid_parameter_value(
                    f"experiment_ids must be a list of strings, got {experiment_ids!r}"
                )
            filter_string, experiment_ids = experiment_ids, None
        if experiment_ids is None:
            ids: list[str] = []
            page = self._tracking_store.search_experiments(_experiment_page(ViewType.ACTIVE_ONLY))
            while True:
                ids.extend(e.experiment_id for e in page)
                if not page.token:
                    break
                page = self._tracking_store.search_experiments(
                    _experiment_page(ViewType.ACTIVE_ONLY, page.token)
                )
        else:
            if not isinstance(experiment_ids, Sequence):
                raise TrackyardError.invalid_parameter_value(
                    f"experiment_ids must be a list of strings, got {type(experiment_ids)}"
                )
            ids = [validation.validate_experiment_id(e) for e in experiment_ids]
        request = LoggedModelSearch.parse(
            ids, filter_string, datasets, max_results, order_by, page_token
        )
        return self._tracking_store.search_logged_models(request)

    # -- update ----------------------------------------------------------------------------
    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus | str) -> LoggedModel:
        """Set a model's final status, ``"READY"`` or ``"FAILED"``, and return it.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for any other status.
        """
        model_id = validate_model_id(model_id)
        parsed = LoggedModelStatus.parse(status)
        if not LoggedModelStatus.is_finalized(parsed):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid status {status!r} for finalize_logged_model: use READY or FAILED"
            )
        model = self._tracking_store.finalize_logged_model(model_id, parsed)
        self._emit("logged_model.finalized", model, status=str(parsed))
        return model

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        """Set tags on a logged model (existing keys are overwritten)."""
        model_id = validate_model_id(model_id)
        self._tracking_store.set_logged_model_tags(model_id, _model_tags(tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Delete a tag from a logged model (RESOURCE_DOES_NOT_EXIST if it has none)."""
        model_id = validate_model_id(model_id)
        validation.validate_key(key, "tag")
        self._tracking_store.delete_logged_model_tag(model_id, key)

    def delete_logged_model(self, model_id: str) -> None:
        """Delete a logged model: it disappears from get and search."""
        model_id = validate_model_id(model_id)
        self._tracking_store.delete_logged_model(model_id)
        self._emit("logged_model.deleted", model_id)

    def log_model_params(
        self,
        model_id: str | None = None,
        params: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
        model_params: dict[str, Any] | None = None,
    ) -> None:
        """Log params on a logged model (``m-...``).

        The document's ``log_model_params(run_id, model_params)`` also works, positionally
        or by keyword: given a run id, the params are logged on that run.
        """
        if run_id is not None:
            if model_id is not None:
                raise TrackyardError.invalid_parameter_value(
                    "log_model_params takes a model_id or a run_id, not both."
                )
            model_id = validation.validate_run_id(run_id)
        if model_params is not None:
            if params is not None:
                raise TrackyardError.invalid_parameter_value(
                    "log_model_params got params and model_params: the same argument; give it once."
                )
            params = model_params
        if model_id is None:
            raise TrackyardError.invalid_parameter_value("log_model_params needs a model_id.")
        params = params or {}
        if isinstance(model_id, str) and _RUN_ID_RE.fullmatch(model_id):
            run_params = [validation.validate_param(k, v) for k, v in params.items()]
            if run_params:
                self._tracking_store.log_batch(model_id, [], run_params, [])
            return
        model_id = validate_model_id(model_id)
        checked = _model_params(params)
        if checked:
            self._tracking_store.log_logged_model_params(model_id, checked)

    # -- artifacts -------------------------------------------------------------------------
    def _model_repo(self, model_id: str) -> ArtifactRepository:
        from trackyard.backends import get_artifact_repository

        model = self.get_logged_model(model_id)
        return get_artifact_repository(
            model.artifact_location, self._tracking_uri, self._registry_uri
        )

    def log_model_artifact(
        self, model_id: str, local_path: str, artifact_path: str | None = None
    ) -> None:
        """Upload a local file to the logged model's artifacts (under ``artifact_path``)."""
        artifact_path = validation.validate_artifact_path(artifact_path) or None
        local_path = os.fspath(local_path)
        if not os.path.isfile(local_path):
            code = errno.EISDIR if os.path.isdir(local_path) else errno.ENOENT
            raise local_path_error(code, local_path, "log_model_artifact() uploads a file")
        self._model_repo(model_id).log_artifact(local_path, artifact_path)

    def log_model_artifacts(
        self, model_id: str, local_dir: str, artifact_path: str | None = None
    ) -> None:
        """Upload a local directory's contents to the logged model's artifacts."""
        artifact_path = validation.validate_artifact_path(artifact_path) or None
        local_dir = os.fspath(local_dir)
        if not os.path.isdir(local_dir):
            code = errno.ENOTDIR if os.path.exists(local_dir) else errno.ENOENT
            raise local_path_error(code, local_dir, "log_model_artifacts() uploads a directory")
        self._model_repo(model_id).log_artifacts(local_dir, artifact_path)

    def list_logged_model_artifacts(self, model_id: str, path: str | None = None) -> list[FileInfo]:
        """List the direct children of ``path`` in the logged model's artifacts."""
        path = validation.validate_artifact_path(path) or None
        return self._model_repo(model_id).list_artifacts(path)


def _experiment_page(view_type: int, token: str | None = None) -> Any:
    from trackyard.search.request import ExperimentSearch

    return ExperimentSearch.parse(view_type, 50000, None, None, token)
