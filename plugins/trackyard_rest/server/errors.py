"""Errors on the wire: ``{"error_code", "message"}`` with MLflow's HTTP statuses.

A :class:`~trackyard.TrackyardError` keeps its code and message. A request that does not
parse (bad JSON, a wrong type, a missing required field) is INVALID_PARAMETER_VALUE with
MLflow's wording. Anything else is logged with its traceback on the server and answered
with a generic INTERNAL_ERROR: no stack trace or SQL ever reaches the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_rest.server.wire import json_response

__all__ = ["error_response", "install_error_handlers", "missing", "request_error", "required"]

_logger = logging.getLogger("trackyard.server")


def error_response(code: str, message: str, status: int | None = None) -> Response:
    """MLflow's error body with the status its code maps to."""
    if status is None:
        status = TrackyardError(message, code).get_http_status_code()
    return json_response({"error_code": code, "message": message}, status)


def missing(name: str) -> TrackyardError:
    """MLflow's error for a required request field that is absent."""
    return TrackyardError.invalid_parameter_value(
        f"Missing value for required parameter '{name}'. See the API docs for more "
        "information about request parameters."
    )


def required(value: str | None, name: str) -> str:
    """``value``, or MLflow's missing-parameter error when it is None."""
    if value is None:
        raise missing(name)
    return value


def request_error(errors: list[Any]) -> TrackyardError:
    """The INVALID_PARAMETER_VALUE for pydantic's first complaint about a request."""
    if not errors:
        return TrackyardError.invalid_parameter_value("Malformed request.")
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query")]
    name = ".".join(loc) or "body"
    if err.get("type") == "missing":
        return missing(name)
    if err.get("type") in ("json_invalid", "model_attributes_type", "dict_type") and not loc:
        return TrackyardError.invalid_parameter_value(
            "Malformed request body: expected a JSON object."
        )
    value = err.get("input")
    shown = repr(value)[:200]
    return TrackyardError.invalid_parameter_value(
        f"Invalid value {shown} for parameter '{name}' supplied: {err.get('msg', '')}. "
        "See the API docs for more information about request parameters."
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as MLflow does (see the module docstring)."""

    async def on_trackyard(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TrackyardError)
        status = exc.get_http_status_code()
        if status >= 500:
            _logger.error(
                "%s %s failed: %s: %s",
                request.method,
                request.url.path,
                exc.error_code,
                exc.message,
                exc_info=exc,
            )
        return error_response(exc.error_code, exc.message, status)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        err = request_error(list(exc.errors()))
        return error_response(err.error_code, err.message)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(
                ErrorCode.ENDPOINT_NOT_FOUND,
                f"No endpoint {request.method} {request.url.path} on this server.",
                404,
            )
        if exc.status_code == 405:
            return error_response(
                ErrorCode.BAD_REQUEST,
                f"Method {request.method} is not allowed for {request.url.path}.",
                405,
            )
        return error_response(ErrorCode.BAD_REQUEST, str(exc.detail), exc.status_code)

    async def on_other(request: Request, exc: Exception) -> Response:
        _logger.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(
            ErrorCode.INTERNAL_ERROR,
            "Internal server error; the server log has the details.",
            500,
        )

    app.add_exception_handler(TrackyardError, on_trackyard)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_other)
