"""Database failures in plain words: what went wrong and what to do, credentials masked.

Used twice: the SQL stores raise these explanations instead of raw driver text (an unreachable
server, wrong credentials, a missing database, a SQLite file that cannot be created), and
``trackyard doctor`` gets them through :meth:`trackyard.stores.TrackingStore.explain_error`.
Only the standard library is imported here.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.uri import mask_credentials

__all__ = [
    "DatabaseSetupError",
    "check_sqlite_file",
    "explain",
    "sqlite_file",
    "sqlite_path_problem",
]

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}
_UNKNOWN_HOST = (
    "could not translate host name",
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "unknown mysql server host",
    "getaddrinfo failed",
)


class DatabaseSetupError(TrackyardError):
    """The database cannot be used as configured (its message says why and what to do)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _server(uri: str) -> str:
    """``host:port`` of a server URI (the default port filled in)."""
    try:
        parts = urllib.parse.urlsplit(uri)
        host = parts.hostname or "localhost"
        port = parts.port
    except ValueError:
        return "the database server"
    backend = parts.scheme.split("+", 1)[0].lower()
    port = port or _DEFAULT_PORTS.get(backend)
    return f"{host}:{port}" if port else host


def sqlite_file(uri: str) -> str | None:
    """The absolute path of a ``sqlite:///`` URI's file (None: in memory, or not SQLite)."""
    scheme, sep, rest = uri.partition(":///")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.abspath(path)


def sqlite_path_problem(path: str) -> str | None:
    """Why no SQLite database file can be created at ``path``, or None when nothing is wrong."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    existing = folder
    while not os.path.lexists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        return f"{existing!r} is a file, not a directory, so {path!r} cannot be created under it"
    real = os.path.realpath(existing)
    for top in ("/proc", "/sys"):
        if real == top or real.startswith(top + "/"):
            return f"{path!r} is inside {top}, a kernel file system where files cannot be created"
    if existing != folder:
        return (
            f"the folder {folder!r} does not exist: create it first (SQLite creates the "
            "database file, not its folders)"
        )
    return None


def explain(exc: BaseException, uri: str) -> tuple[str, str] | None:
    """Explain a failure to reach or open the database of ``uri``.

    Args:
        exc: the error, or an error whose cause chain holds the driver's error.
        uri: the store URI (it may hold a password: the explanation never repeats it).

    Returns:
        ``(error code, message)`` for the causes this module knows, else None.
    """
    for err in _chain(exc):
        if isinstance(err, DatabaseSetupError):
            return err.error_code, err.message
    masked = mask_credentials(uri)
    server = _server(uri)
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if "connection refused" in text:
        return ErrorCode.TEMPORARILY_UNAVAILABLE, (
            f"could not connect to {server}: the connection was refused, so nothing is "
            "listening there. Is the database server running, and are the host and port "
            f"right? (store URI {masked!r})"
        )
    if any(s in text for s in _UNKNOWN_HOST):
        return ErrorCode.TEMPORARILY_UNAVAILABLE, (
            f"the database host in {masked!r} could not be found: check the host name."
        )
    if "timeout expired" in text or "timed out" in text:
        return ErrorCode.TEMPORARILY_UNAVAILABLE, (
            f"connecting to {server} timed out: the host may be down, or a firewall may drop "
            f"the connection (store URI {masked!r})."
        )
    if "password authentication failed" in text or "access denied for user" in text:
        return ErrorCode.UNAUTHENTICATED, (
            f"the database at {server} refused the user name or password in {masked!r}."
        )
    if ("database" in text and "does not exist" in text) or "unknown database" in text:
        return ErrorCode.RESOURCE_DOES_NOT_EXIST, (
            f"the database named in {masked!r} does not exist on {server}: create it first "
            "(for example with createdb, or CREATE DATABASE)."
        )
    if "unable to open database file" in text:
        path = sqlite_file(uri)
        detail = sqlite_path_problem(path) if path else None
        where = f" {path!r}" if path else ""
        return ErrorCode.INVALID_PARAMETER_VALUE, (
            f"SQLite could not open the database file{where}: "
            + (detail or "its directory does not exist or is not writable")
            + "."
        )
    if "readonly database" in text or "read-only database" in text:
        return ErrorCode.PERMISSION_DENIED, (
            f"the SQLite database file (or its directory) of {masked!r} is read-only."
        )
    return None


def check_sqlite_file(uri: str) -> None:
    """Raise :class:`DatabaseSetupError` if a ``sqlite:///`` file cannot be created there."""
    path = sqlite_file(uri)
    if path is None or os.path.exists(path):
        return
    problem = sqlite_path_problem(path)
    if problem is not None:
        raise DatabaseSetupError(
            f"SQLite could not open the database file {path!r}: {problem}.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
