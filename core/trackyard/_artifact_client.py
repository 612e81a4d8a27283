"""Rich artifacts for :class:`~trackyard.MlflowClient`: figures, images, tables, deletion.

The methods keep MLflow's signatures and file layouts, so MLflow's UI shows what they log:

* ``log_image(..., key=, step=)`` stores ``images/<key>+step+<n>+timestamp+<ms>+<uuid>.png``
  plus a 256-pixel ``...+compressed.webp`` preview, and tags the run ``mlflow.loggedImages``;
* ``log_table`` writes pandas' ``orient="split"`` JSON (or Parquet), appends to an existing
  table, and records ``{"path": ..., "type": "table"}`` in the ``mlflow.loggedArtifacts`` tag.

matplotlib, plotly, Pillow, numpy and pandas are imported only inside the calls that need them
(so are ``tempfile`` and ``uuid``, which ``import trackyard`` should not pay for).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trackyard import validation
from trackyard.clock import now_ms
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities import Run
    from trackyard.stores import ArtifactRepository, TrackingStore

__all__ = ["ArtifactClientMixin", "InvalidArgumentType", "InvalidArgumentValue"]

LOGGED_IMAGES_TAG = "mlflow.loggedImages"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
COMPRESSED_IMAGE_SIZE = 256

_IMAGE_KEY_RE = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")
_TABLE_FORBIDDEN = ('"', "'", ",", ":", "[", "]", "{", "}")
_PLOTLY_IMAGE_EXTENSIONS = (".png", ".jpeg", ".jpg", ".webp", ".svg", ".pdf")
_RUN_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


class InvalidArgumentType(TrackyardError, TypeError):
    """An argument of the wrong type (INVALID_PARAMETER_VALUE; also a ``TypeError``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.INVALID_PARAMETER_VALUE)


class InvalidArgumentValue(TrackyardError, ValueError):
    """An argument with a bad value (INVALID_PARAMETER_VALUE; also a ``ValueError``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.INVALID_PARAMETER_VALUE)


class ArtifactClientMixin:
    """Figure, image and table helpers and ``delete_artifacts``, mixed into ``MlflowClient``.

    Relies on the client's ``_artifact_repo``, ``_tracking_store``, ``get_run`` and
    ``set_tag``.
    """

    if TYPE_CHECKING:

        @property
        def _tracking_store(self) -> TrackingStore: ...
        def _artifact_repo(self, run_id: str) -> ArtifactRepository: ...
        def get_run(self, run_id: str) -> Run: ...
        def set_tag(
            self, run_id: str, key: str, value: Any, synchronous: bool | None = None
        ) -> Any: ...

    # -- plumbing -----------------------------------------------------------------------------
    def _log_generated(
        self,
        repo: ArtifactRepository,
        artifact_file: str,
        write: Callable[[str], None],
    ) -> None:
        """Have ``write(local_path)`` make the file, then upload it as ``artifact_file``."""
        directory, name = posixpath.split(artifact_file)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="trackyard-") as tmp:
            local = os.path.join(tmp, name)
            write(local)
            repo.log_artifact(local, directory or None)

    # -- figures ------------------------------------------------------------------------------
    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Save a matplotlib or plotly figure as the artifact ``artifact_file``.

        matplotlib figures are saved with ``savefig`` (the extension picks the format);
        plotly figures as HTML (``.html``, plotly.js from its CDN) or, through kaleido, as
        an image (``.png``, ``.jpeg``, ``.webp``, ``.svg``, ``.pdf``).

        Raises:
            InvalidArgumentType: the figure is neither; INVALID_PARAMETER_VALUE for a bad path.
        """
        artifact_file = validation.validate_artifact_path(artifact_file, allow_empty=False)
        kwargs = dict(save_kwargs or {})
        if _is_instance(figure, "matplotlib", "matplotlib.figure", "Figure"):

            def write(path: str) -> None:
                figure.savefig(path, **kwargs)

        elif _is_instance(figure, "plotly", "plotly.graph_objects", "Figure"):
            extension = os.path.splitext(artifact_file)[1].lower()
            if extension == ".html":
                kwargs.setdefault("include_plotlyjs", "cdn")
                kwargs.setdefault("auto_open", False)

                def write(path: str) -> None:
                    figure.write_html(path, **kwargs)

            elif extension in _PLOTLY_IMAGE_EXTENSIONS:

                def write(path: str) -> None:
                    figure.write_image(path, **kwargs)

            else:
                raise InvalidArgumentType(
                    f"Unsupported file extension for a plotly figure: {extension!r} "
                    f"(use .html or one of {', '.join(_PLOTLY_IMAGE_EXTENSIONS)})."
                )
        else:
            raise InvalidArgumentType(
                f"Unsupported figure object type: {type(figure)!r}; expected a "
                "matplotlib.figure.Figure or a plotly.graph_objects.Figure."
            )
        self._log_generated(self._artifact_repo(run_id), artifact_file, write)

    # -- images -------------------------------------------------------------------------------
    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Log an image as a file, or as one point of the time series ``key``.

        Args:
            run_id: the run.
            image: a ``PIL.Image.Image``, a numpy array (H x W, or H x W x 1/3/4; integers in
                0..255, floats in 0..1 (rescaled with a warning otherwise) or booleans), or an
                object with ``to_pil()`` such as ``mlflow.Image``.
            artifact_file: where to save a static image (its extension picks the format).
            key: the name of an image series (letters, digits, ``_ - . /`` and spaces);
                exclusive with ``artifact_file``.
            step: the step of this image in the series (default 0).
            timestamp: milliseconds since the epoch (default now).
            synchronous: accepted for MLflow compatibility; trackyard always logs at once.

        Raises:
            InvalidArgumentType: both or neither of ``artifact_file`` and ``key``, or an
                unsupported image type.
            InvalidArgumentValue: a key with other characters, or bad pixel data.
        """
        if artifact_file is not None and any(v is not None for v in (key, step, timestamp)):
            raise InvalidArgumentType(
                "artifact_file cannot be combined with key, step or timestamp: give "
                "artifact_file alone for a static image, or key (with step/timestamp) for a "
                "series."
            )
        if artifact_file is None and key is None:
            raise InvalidArgumentType(
                "Give exactly one of artifact_file (a static image) or key (an image series)."
            )
        pil = to_pil_image(image)
        if artifact_file is not None:
            artifact_file = validation.validate_artifact_path(artifact_file, allow_empty=False)
            self._log_generated(self._artifact_repo(run_id), artifact_file, pil.save)
            return
        assert key is not None
        if not isinstance(key, str) or not _IMAGE_KEY_RE.match(key):
            raise InvalidArgumentValue(
                f"Invalid image key {key!r}: use letters, digits, underscores (_), dashes (-), "
                "periods (.), spaces and slashes (/)."
            )
        step = _int_arg(step or 0, "step")
        timestamp = validation.validate_timestamp(timestamp, "timestamp") if timestamp else now_ms()
        import uuid

        stem = f"images/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
        validation.validate_artifact_path(stem)
        preview = compress_image(pil)
        repo = self._artifact_repo(run_id)
        self._log_generated(repo, f"{stem}.png", pil.save)
        self._log_generated(repo, f"{stem}+compressed.webp", preview.save)
        self.set_tag(run_id, LOGGED_IMAGES_TAG, True)

    # -- tables -------------------------------------------------------------------------------
    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Log a pandas DataFrame or a dict of columns as a table (``.json`` or ``.parquet``).

        ``.json`` files use pandas' ``orient="split"`` layout, as MLflow's UI reads. Logging
        to an existing table appends the rows. Columns of images (PIL images or objects with
        ``save`` and ``resize``) are saved under ``table_images/`` and referenced.

        Raises:
            InvalidArgumentValue: an extension other than ``.json``/``.parquet`` or a
                forbidden character in ``artifact_file`` (one of ``"',:[]{}``).
            TrackyardError: INVALID_PARAMETER_VALUE when ``data`` is not a DataFrame or dict.
        """
        import pandas as pd

        artifact_file = _table_path(artifact_file)
        if not isinstance(data, (pd.DataFrame, dict)):
            raise TrackyardError.invalid_parameter_value(
                "data must be a pandas.DataFrame or a dictionary"
            )
        if isinstance(data, dict):
            try:
                frame = pd.DataFrame(data)
            except ValueError:  # only scalars: one row
                frame = pd.DataFrame([data])
        else:
            frame = data.copy()
        repo = self._artifact_repo(run_id)
        frame = self._store_table_images(repo, frame, artifact_file)
        existing = self._read_table_if_present(run_id, artifact_file)
        if existing is not None:
            frame = pd.concat([existing, frame], ignore_index=True)

        def write(path: str) -> None:
            try:
                if artifact_file.endswith(".json"):
                    frame.to_json(path, orient="split", index=False, date_format="iso")
                else:
                    frame.to_parquet(path, index=False)
            except (TypeError, ValueError, OverflowError) as exc:
                raise TrackyardError(
                    f"Could not save the table as {artifact_file!r}: {exc}",
                    ErrorCode.INVALID_PARAMETER_VALUE,
                ) from exc

        self._log_generated(repo, artifact_file, write)
        tags = self.get_run(run_id).data.tags
        try:
            logged = json.loads(tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
        except ValueError:
            logged = []
        entry = {"path": artifact_file, "type": "table"}
        if entry not in logged:
            logged.append(entry)
            self.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps(logged))

    def _store_table_images(self, repo: ArtifactRepository, frame: Any, artifact_file: str) -> Any:
        """Save image cells under ``table_images/`` and replace them by references."""
        table_name = os.path.splitext(artifact_file)[0]
        for column in frame.columns:
            if frame[column].dtype.kind != "O":
                continue
            flags = [_looks_like_image(value) for value in frame[column]]
            if not any(flags):
                continue
            if not all(flags):
                raise InvalidArgumentValue(
                    f"Column {column!r} mixes images and other values; a column must hold "
                    "only images or no images."
                )

            def save(image: Any) -> dict[str, str]:
                import uuid

                base = posixpath.join("table_images", table_name, str(uuid.uuid4()))
                self._log_generated(repo, f"{base}.png", image.save)
                self._log_generated(repo, f"{base}.webp", compress_image(image).save)
                return {
                    "type": "image",
                    "filepath": f"{base}.png",
                    "compressed_filepath": f"{base}.webp",
                }

            frame[column] = frame[column].map(save)
        return frame

    def _read_table_if_present(self, run_id: str, artifact_file: str) -> Any:
        """The table ``artifact_file`` of ``run_id`` as a DataFrame, or None if it has none."""
        directory = posixpath.dirname(artifact_file) or None
        repo = self._artifact_repo(run_id)
        if not any(
            info.path == artifact_file and not info.is_dir
            for info in repo.list_artifacts(directory)
        ):
            return None
        import tempfile

        with tempfile.TemporaryDirectory(prefix="trackyard-") as tmp:
            local = repo.download_artifacts(artifact_file, tmp)
            return _read_table(local)

    def load_table(
        self,
        experiment_id: str,
        artifact_file: str,
        run_ids: list[str] | None = None,
        extra_columns: list[str] | None = None,
    ) -> Any:
        """Read the table ``artifact_file`` of every run of an experiment that logged it.

        Args:
            experiment_id: the experiment to look in.
            artifact_file: the table's path, as given to :meth:`log_table`.
            run_ids: only these runs (others are skipped; a warning says when some of them
                have no such table).
            extra_columns: run columns to add to each row, as ``mlflow.search_runs`` names
                them: ``run_id``, ``experiment_id``, ``status``, ``artifact_uri``,
                ``start_time``, ``end_time``, ``metrics.<key>``, ``params.<key>``,
                ``tags.<key>``. A name the table already has gets a trailing ``_``.

        Returns:
            One pandas DataFrame with the rows of all those runs, newest run first.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST when no run has the table.
        """
        import pandas as pd

        artifact_file = _table_path(artifact_file)
        for column in extra_columns or ():
            _check_extra_column(column)
        experiment_id = validation.validate_experiment_id(experiment_id)
        if run_ids:
            runs = self._runs_by_id(experiment_id, run_ids)
        else:
            runs = self._runs_logging_table(experiment_id, artifact_file)
        runs = [run for run in runs if _logged_table(run, artifact_file)]
        if run_ids and len(runs) != len(set(run_ids)):
            warnings.warn(
                "Not all runs have the specified table artifact; some runs are skipped.",
                UserWarning,
                stacklevel=2,
            )
        if not runs:
            raise TrackyardError(
                f"No runs found with the table artifact {artifact_file!r}.",
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
            )
        frames = []
        for run in runs:
            table = self._read_table_if_present(run.info.run_id, artifact_file)
            if table is None:
                raise TrackyardError(
                    f"Artifact {artifact_file} not found for run {run.info.run_id}.",
                    ErrorCode.RESOURCE_DOES_NOT_EXIST,
                )
            for column in extra_columns or ():
                name = f"{column}_" if column in table.columns else column
                if name != column:
                    warnings.warn(
                        f"Column {column!r} is already in the table; the run's value is "
                        f"added as {name!r}.",
                        UserWarning,
                        stacklevel=2,
                    )
                table[name] = _run_column(run, column)
            frames.append(table)
        return pd.concat(frames, ignore_index=True)

    def _runs_by_id(self, experiment_id: str, run_ids: list[str]) -> list[Run]:
        """The active runs among ``run_ids`` in the experiment, newest first (as a search)."""
        runs: dict[str, Run] = {}
        for run_id in run_ids:
            try:
                run = self.get_run(validation.validate_run_id(run_id))
            except TrackyardError as exc:
                if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                    raise
                continue
            info = run.info
            if info.experiment_id == experiment_id and info.lifecycle_stage == "active":
                runs[info.run_id] = run
        return sorted(runs.values(), key=lambda r: (-(r.info.start_time or 0), r.info.run_id))

    def _runs_logging_table(self, experiment_id: str, artifact_file: str) -> list[Run]:
        """Active runs of the experiment whose ``mlflow.loggedArtifacts`` tag may name the
        table, newest first: a ``LIKE`` condition built as an AST node, every page.

        ``_`` and ``%`` in ``artifact_file`` act as wildcards here; callers keep only the
        runs whose tag names the table exactly (:func:`_logged_table`).
        """
        from trackyard.search.ast import Comparison, Entity, Op
        from trackyard.search.request import RunSearch

        pattern = f'%"path": "{artifact_file}", "type": "table"%'
        request: RunSearch | None = RunSearch(
            experiment_ids=(experiment_id,),
            filter=Comparison(Entity.TAG, LOGGED_ARTIFACTS_TAG, Op.LIKE, pattern),
            max_results=1000,
        )
        runs: list[Run] = []
        while request is not None:
            page = self._tracking_store.search_runs(request)
            runs.extend(page)
            request = request.next_page(page)
        return runs

    # -- deleting -----------------------------------------------------------------------------
    def delete_artifacts(self, run_id: str, path: str | None = None) -> None:
        """Delete the artifact file or directory ``path`` of a run (everything when None).

        Deleting what does not exist does nothing.

        Raises:
            TrackyardError: FEATURE_DISABLED when the run's artifact store cannot delete;
                INVALID_PARAMETER_VALUE for an unsafe path.
        """
        rel = validation.validate_artifact_path(path)
        self._artifact_repo(run_id).delete_artifacts(rel or None)


# -- helpers ----------------------------------------------------------------------------------
def _is_instance(obj: Any, package: str, module: str, name: str) -> bool:
    """``isinstance(obj, module.name)`` if ``package`` is imported already (else False)."""
    if package not in sys.modules:
        return False
    import importlib

    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, cls)


def _looks_like_image(value: Any) -> bool:
    return (
        callable(getattr(value, "save", None))
        and callable(getattr(value, "resize", None))
        and hasattr(value, "size")
    )


def to_pil_image(image: Any) -> Any:
    """Turn a PIL image, a numpy array or an object with ``to_pil()`` into a PIL image."""
    if "numpy" in sys.modules:
        import numpy as np

        if isinstance(image, np.ndarray):
            return _array_to_pil(image)
    if callable(getattr(image, "to_pil", None)):
        return image.to_pil()
    try:
        import PIL.Image
    except ImportError as exc:
        raise InvalidArgumentType(
            f"Unsupported image object type: {type(image)!r}. Logging images needs Pillow "
            "(pip install Pillow)."
        ) from exc
    if not isinstance(image, PIL.Image.Image):
        raise InvalidArgumentType(
            f"Unsupported image object type: {type(image)!r}; expected a numpy.ndarray, a "
            "PIL.Image.Image or an mlflow.Image."
        )
    return image


def _array_to_pil(array: Any) -> Any:
    import numpy as np

    try:
        from PIL import Image
    except ImportError as exc:
        raise InvalidArgumentType("Logging a numpy array as an image needs Pillow.") from exc
    kinds = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating"}
    if array.dtype.kind not in kinds:
        raise InvalidArgumentType(
            f"Invalid array data type {array.dtype}; expected one of {', '.join(kinds.values())}."
        )
    if array.ndim not in (2, 3):
        raise InvalidArgumentValue(f"An image must be a 2D or 3D array, got shape {array.shape}.")
    if array.ndim == 3:
        if array.shape[2] not in (1, 3, 4):
            raise InvalidArgumentValue(
                f"Invalid channel count {array.shape[2]}; expected 1, 3 or 4."
            )
        if array.shape[2] == 1:
            array = array[:, :, 0]
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidArgumentValue(
                f"Integer pixel values must lie in [0, 255]; found {array.min()} .. {array.max()}."
            )
        return Image.fromarray(array.astype(np.uint8))
    values = array.astype(np.float64)
    if array.dtype.kind == "f" and values.size and (values.min() < 0 or values.max() > 1):
        warnings.warn(
            f"Float pixel values lie outside [0.0, 1.0] ({values.min()} .. {values.max()}); "
            "rescaling them to [0.0, 1.0] with min/max scaling.",
            UserWarning,
            stacklevel=4,
        )
        span = values.max() - values.min()
        values = (values - values.min()) / (span if span else 1.0)
    return Image.fromarray((values * 255).astype(np.uint8))


def compress_image(image: Any, max_size: int = COMPRESSED_IMAGE_SIZE) -> Any:
    """Scale ``image`` so that its longer side is ``max_size`` pixels (as MLflow's previews)."""
    width, height = image.size
    if width > height:
        size = (max_size, max(1, int(height * max_size / width)))
    else:
        size = (max(1, int(width * max_size / height)), max_size)
    return image.resize(size)


def _int_arg(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentType(f"{what} must be an integer, got {value!r}.")
    return value


def _table_path(artifact_file: str) -> str:
    if not isinstance(artifact_file, str):
        raise InvalidArgumentType(f"artifact_file must be a string, got {type(artifact_file)!r}.")
    for char in _TABLE_FORBIDDEN:
        if char in artifact_file:
            raise InvalidArgumentValue(f"The artifact_file contains forbidden character: {char}")
    if not artifact_file.endswith((".json", ".parquet")):
        raise InvalidArgumentValue(
            f"Invalid artifact file path {artifact_file!r}: a table is saved as '.json' or "
            "'.parquet'."
        )
    return validation.validate_artifact_path(artifact_file, allow_empty=False)


def _read_table(local: str) -> Any:
    import pandas as pd

    if local.endswith(".json"):
        return pd.read_json(local, orient="split")
    return pd.read_parquet(local)


def _logged_table(run: Run, artifact_file: str) -> bool:
    try:
        entries = json.loads(run.data.tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    except ValueError:
        return False
    return isinstance(entries, list) and {"path": artifact_file, "type": "table"} in entries


def _check_extra_column(column: str) -> None:
    if not isinstance(column, str) or not (
        column in _RUN_COLUMNS
        or (column.startswith(("metrics.", "params.", "tags.")) and column.split(".", 1)[1])
    ):
        raise TrackyardError.invalid_parameter_value(
            f"Unknown extra column {column!r}: use one of {', '.join(_RUN_COLUMNS)}, or "
            "metrics.<key>, params.<key>, tags.<key>."
        )


def _run_column(run: Run, column: str) -> Any:
    """The value ``mlflow.search_runs`` would show in ``column`` for ``run``."""
    info = run.info
    if column in ("start_time", "end_time"):
        import pandas as pd

        value = getattr(info, column)
        return pd.to_datetime(value, unit="ms", utc=True) if value else None
    if column in _RUN_COLUMNS:
        return getattr(info, column)
    kind, _, key = column.partition(".")
    source: dict[str, Any] = getattr(run.data, kind)
    return source.get(key)
