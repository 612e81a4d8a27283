"""Store URIs: parsed once into an immutable value whose repr masks credentials.

Also the client-side URI forms ``runs:/<run_id>/<path>``.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import NamedTuple

from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["StoreURI", "mask_credentials", "parse_runs_uri"]

_SECRET_QUERY_KEYS = re.compile(r"(?i)(pass(word)?|secret|token|key|credential|sig|signature)")


def mask_credentials(uri: str) -> str:
    """Return ``uri`` with any password and secret-looking query values replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return uri
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}={'***' if _SECRET_QUERY_KEYS.search(k) else v}" for k, v in pairs)
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class StoreURI(NamedTuple):
    """A parsed store URI.

    Attributes:
        raw: the URI as given.
        scheme: the full lower-cased scheme, e.g. ``postgresql+psycopg``; ``file`` for bare paths.
        backend: the scheme without its driver, e.g. ``postgresql``; this picks the plugin.
        driver: the part after ``+``, or None.
        is_path: True when ``raw`` is a bare filesystem path (no scheme).
    """

    raw: str
    scheme: str
    backend: str
    driver: str | None
    is_path: bool

    @classmethod
    def parse(cls, uri: str) -> StoreURI:
        """Parse ``uri``. A Windows drive (``C:\\runs``) is a path, not a scheme."""
        if not isinstance(uri, str) or not uri.strip():
            raise TrackyardError(f"Invalid store URI: {uri!r}", ErrorCode.INVALID_PARAMETER_VALUE)
        uri = uri.strip()
        scheme = ""
        if ":" in uri:
            candidate = uri.split(":", 1)[0]
            if len(candidate) > 1 and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", candidate):
                scheme = candidate.lower()
        if not scheme:
            return cls(uri, "file", "file", None, True)
        if scheme.count("+") > 1:
            raise TrackyardError(
                f"Invalid store URI {mask_credentials(uri)!r}: a scheme may name at most one "
                "driver (dialect+driver).",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        backend, _, driver = scheme.partition("+")
        return cls(uri, scheme, backend, driver or None, False)

    @property
    def masked(self) -> str:
        """The URI with credentials replaced by ``***``."""
        return mask_credentials(self.raw)

    def __repr__(self) -> str:
        return f"StoreURI({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """Split ``runs:/<run_id>/<path>`` into ``(run_id, path)``; the path may be empty."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "runs" or parts.netloc:
        raise TrackyardError(
            f"Not a proper runs:/ URI: {uri!r}. Expected runs:/<run_id>/<artifact path>.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    path = parts.path.lstrip("/")
    run_id, _, rest = path.partition("/")
    if not run_id:
        raise TrackyardError(
            f"Not a proper runs:/ URI: {uri!r}. Expected runs:/<run_id>/<artifact path>.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return run_id, rest
