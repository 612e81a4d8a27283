"""Errors: one root, :class:`TrackyardError`, carrying MLflow's error codes.

``MlflowException`` is an alias of :class:`TrackyardError`, so code written against
MLflow keeps working after swapping its imports.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ERROR_CODE_TO_HTTP_STATUS",
    "BackendConflictError",
    "ErrorCode",
    "MlflowException",
    "PluginLoadError",
    "TrackyardError",
    "UnknownSchemeError",
    "alias_not_found",
    "already_exists",
    "experiment_exists",
    "experiment_not_found",
    "invalid_parameter",
    "logged_model_not_found",
    "model_version_not_found",
    "not_active",
    "prompt_not_found",
    "registered_model_exists",
    "registered_model_not_found",
    "run_not_found",
    "webhook_not_found",
]


class ErrorCode:
    """MLflow's error code names (the ``error_code`` field of REST error bodies)."""

    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_STATE = "INVALID_STATE"
    DATA_LOSS = "DATA_LOSS"
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
    NOT_FOUND = "NOT_FOUND"
    ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    CUSTOMER_UNAUTHORIZED = "CUSTOMER_UNAUTHORIZED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    ABORTED = "ABORTED"
    RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    CANCELLED = "CANCELLED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    FEATURE_DISABLED = "FEATURE_DISABLED"


ERROR_CODE_TO_HTTP_STATUS: dict[str, int] = {
    ErrorCode.INVALID_PARAMETER_VALUE: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.CUSTOMER_UNAUTHORIZED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    ErrorCode.ABORTED: 409,
    ErrorCode.RESOURCE_CONFLICT: 409,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.REQUEST_LIMIT_EXCEEDED: 429,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.CANCELLED: 499,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.INVALID_STATE: 500,
    ErrorCode.DATA_LOSS: 500,
    ErrorCode.FEATURE_DISABLED: 501,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
}


class TrackyardError(Exception):
    """The root of every error trackyard raises on purpose.

    Args:
        message: what went wrong, in words a user can act on.
        error_code: one of MLflow's error code names (see :class:`ErrorCode`).
    """

    def __init__(self, message: object, error_code: str = ErrorCode.INTERNAL_ERROR, **kwargs: Any):
        if isinstance(error_code, int):  # MLflow's proto enums; keep callers working
            error_code = ErrorCode.INTERNAL_ERROR
        self.message = str(message)
        self.error_code = error_code
        self.json_kwargs = kwargs
        super().__init__(self.message)

    def get_http_status_code(self) -> int:
        """Return the HTTP status MLflow uses for this error code."""
        return ERROR_CODE_TO_HTTP_STATUS.get(self.error_code, 500)

    def serialize_as_json(self) -> str:
        """Return the error as MLflow's REST error body."""
        import json

        return json.dumps(
            {"error_code": self.error_code, "message": self.message, **self.json_kwargs}
        )

    @classmethod
    def invalid_parameter_value(cls, message: str, **kwargs: Any) -> TrackyardError:
        """Build an ``INVALID_PARAMETER_VALUE`` error."""
        return cls(message, error_code=ErrorCode.INVALID_PARAMETER_VALUE, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, error_code={self.error_code!r})"


MlflowException = TrackyardError


class UnknownSchemeError(TrackyardError, KeyError):
    """No installed plugin handles a URI's scheme.

    Attributes:
        scheme: the scheme that was asked for.
        kind: ``"tracking"``, ``"registry"`` or ``"artifact"``.
        available: the schemes that are installed for that kind.
        suggestion: a close match among ``available``, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        scheme: str,
        kind: str,
        available: Sequence[str] = (),
        suggestion: str | None = None,
    ):
        super().__init__(message, ErrorCode.INVALID_PARAMETER_VALUE)
        self.scheme = scheme
        self.kind = kind
        self.available = tuple(available)
        self.suggestion = suggestion

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class BackendConflictError(TrackyardError):
    """Two plugins claim one scheme and neither says it replaces the other."""

    def __init__(self, message: str, *, scheme: str, kind: str, plugins: Sequence[str]):
        super().__init__(message, ErrorCode.INVALID_STATE)
        self.scheme = scheme
        self.kind = kind
        self.plugins = tuple(plugins)


class PluginLoadError(TrackyardError, ImportError):
    """A plugin, or the backend class it names, could not be loaded."""

    def __init__(self, message: str, *, plugin: str, distribution: str | None = None):
        super().__init__(message, ErrorCode.INTERNAL_ERROR)
        self.plugin = plugin
        self.distribution = distribution

    def __str__(self) -> str:
        return self.message


# -- local files and directories given by the caller ----------------------------------------


class LocalPathError(TrackyardError, OSError):
    """A local file or directory given to trackyard is missing or not what it must be.

    It is both a :class:`TrackyardError` (``INVALID_PARAMETER_VALUE``) and an :class:`OSError`
    with ``errno``, ``strerror`` and ``filename`` set, so code written for MLflow, which lets
    the operating system's error through, still catches it: each subclass also derives from
    the matching built-in (``FileNotFoundError``, ``NotADirectoryError``, ...). Build one
    with :func:`local_path_error`.

    Args:
        errno_code: the ``errno`` value (``errno.ENOENT``, ...).
        filename: the path as the caller gave it.
        detail: an optional note, appended in parentheses to the system's message.
    """

    def __init__(self, errno_code: int, filename: str, detail: str | None = None):
        strerror = os.strerror(errno_code)
        OSError.__init__(self, errno_code, strerror, filename)
        message = f"[Errno {errno_code}] {strerror}: {filename!r}"
        TrackyardError.__init__(
            self, f"{message} ({detail})" if detail else message, ErrorCode.INVALID_PARAMETER_VALUE
        )
        OSError.__init__(self, errno_code, strerror, filename)  # TrackyardError reset the args
        self.detail = detail

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.errno, self.filename, self.detail))


class LocalFileNotFoundError(LocalPathError, FileNotFoundError):
    """A local file or directory does not exist (``errno.ENOENT``)."""


class LocalNotADirectoryError(LocalPathError, NotADirectoryError):
    """A local path that must be a directory is not one (``errno.ENOTDIR``)."""


class LocalIsADirectoryError(LocalPathError, IsADirectoryError):
    """A local path that must be a file is a directory (``errno.EISDIR``)."""


class LocalFileExistsError(LocalPathError, FileExistsError):
    """A local path is taken by something of the wrong kind (``errno.EEXIST``)."""


_LOCAL_PATH_ERRORS: dict[int, type[LocalPathError]] = {
    _errno.ENOENT: LocalFileNotFoundError,
    _errno.ENOTDIR: LocalNotADirectoryError,
    _errno.EISDIR: LocalIsADirectoryError,
    _errno.EEXIST: LocalFileExistsError,
}


def local_path_error(
    errno_code: int, filename: str | os.PathLike[str], detail: str | None = None
) -> LocalPathError:
    """The :class:`LocalPathError` for ``errno_code`` (``errno.ENOENT`` gives a
    :class:`LocalFileNotFoundError`, which ``except FileNotFoundError`` catches)."""
    cls = _LOCAL_PATH_ERRORS.get(errno_code, LocalPathError)
    return cls(errno_code, os.fspath(filename), detail)


__all__ += [
    "LocalFileExistsError",
    "LocalFileNotFoundError",
    "LocalIsADirectoryError",
    "LocalNotADirectoryError",
    "LocalPathError",
    "local_path_error",
]


# -- the errors every store raises, with one wording (the conformance kit compares codes) -----


def invalid_parameter(message: str) -> TrackyardError:
    """An ``INVALID_PARAMETER_VALUE`` error."""
    return TrackyardError(message, ErrorCode.INVALID_PARAMETER_VALUE)


def run_not_found(run_id: str) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown run id."""
    return TrackyardError(f"Run with id={run_id} not found", ErrorCode.RESOURCE_DOES_NOT_EXIST)


def experiment_not_found(experiment_id: object) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown experiment id."""
    return TrackyardError(
        f"No Experiment with id={experiment_id} exists", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def experiment_exists(name: str) -> TrackyardError:
    """The ``RESOURCE_ALREADY_EXISTS`` error for a taken experiment name."""
    return TrackyardError(
        f"Experiment(name={name}) already exists.", ErrorCode.RESOURCE_ALREADY_EXISTS
    )


def already_exists(what: str) -> TrackyardError:
    """The ``RESOURCE_ALREADY_EXISTS`` error for an entity written twice: ``what`` names it
    (``"Run 'abc'"``); stores' ``import_*`` methods raise it."""
    return TrackyardError(f"{what} already exists.", ErrorCode.RESOURCE_ALREADY_EXISTS)


def not_active(kind: str, ident: str, stage: str) -> TrackyardError:
    """The error for writing to a deleted experiment or run (MLflow's wording)."""
    return invalid_parameter(
        f"The {kind} {ident} must be in the 'active' state. Current state is {stage}."
    )


# -- the model registry's errors (MLflow's wording; stores and the client share them) ---------


def registered_model_not_found(name: str) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown registered model."""
    return TrackyardError(
        f"Registered Model with name={name} not found", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def logged_model_not_found(model_id: str) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown (or deleted) logged model."""
    return TrackyardError(
        f"Logged model with ID '{model_id}' not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def webhook_not_found(webhook_id: str) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown (or deleted) webhook."""
    return TrackyardError(
        f"Webhook with ID {webhook_id} not found.", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def registered_model_exists(name: str) -> TrackyardError:
    """The ``RESOURCE_ALREADY_EXISTS`` error for a taken registered model name."""
    return TrackyardError(
        f"Registered Model (name={name}) already exists.", ErrorCode.RESOURCE_ALREADY_EXISTS
    )


def model_version_not_found(name: str, version: object) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown (or deleted) model version."""
    return TrackyardError(
        f"Model Version (name={name}, version={version}) not found",
        ErrorCode.RESOURCE_DOES_NOT_EXIST,
    )


def alias_not_found(name: str, alias: str) -> TrackyardError:
    """The error for an alias that no version of ``name`` carries (as MLflow: a bad parameter)."""
    return invalid_parameter(f"Registered model alias {alias} not found.")


def prompt_not_found(name: str, version: object = None) -> TrackyardError:
    """The ``RESOURCE_DOES_NOT_EXIST`` error for an unknown prompt, or prompt version."""
    if version is None:
        return TrackyardError(
            f"Prompt with name={name} not found", ErrorCode.RESOURCE_DOES_NOT_EXIST
        )
    return TrackyardError(
        f"Prompt (name={name}, version={version}) not found", ErrorCode.RESOURCE_DOES_NOT_EXIST
    )
