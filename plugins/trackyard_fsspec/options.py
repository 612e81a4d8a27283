"""Storage options for fsspec filesystems: from the environment users already set, and from JSON.

Sources, later ones winning (nested dicts such as ``client_kwargs`` are merged key by key):

1. Variables MLflow and the cloud SDKs already read (:func:`storage_options_from_env`).
2. ``TRACKYARD_ARTIFACT_STORAGE_OPTIONS``: a JSON object whose keys are a scheme (``"s3"``)
   or a URI prefix (``"s3://bucket"``, ``"s3://bucket/team-a"``) and whose values are fsspec
   keyword arguments. Every key that matches the artifact URI applies, the scheme first, then
   prefixes from the shortest to the longest.
3. The ``storage_options`` a caller passes to the repository.

Credentials are never logged or put into error messages: use :func:`masked_options` to show
options.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from trackyard.errors import TrackyardError

__all__ = [
    "ENV_STORAGE_OPTIONS",
    "masked_options",
    "merge_options",
    "options_for_uri",
    "storage_options_from_env",
]

ENV_STORAGE_OPTIONS = "TRACKYARD_ARTIFACT_STORAGE_OPTIONS"

_TRUE = ("1", "true", "yes", "on")
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|credential|session|sas|signature|private|account_key|key$)",
    re.I,
)
# Keys whose values are harmless even though they end in "key" or mention a token.
_PUBLIC_KEYS = frozenset({"token_uri", "client_kwargs", "config_kwargs"})


def storage_options_from_env(
    protocol: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the fsspec storage options the usual environment variables imply for ``protocol``.

    * ``s3``/``s3a``: ``MLFLOW_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_S3``, else
      ``AWS_ENDPOINT_URL``, as the endpoint; ``MLFLOW_S3_IGNORE_TLS=true`` turns TLS
      verification off; ``MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`` sets the addressing style;
      ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` (JSON, e.g. server-side encryption) is sent with every
      upload; ``AWS_PROFILE`` picks a profile. Keys (``AWS_ACCESS_KEY_ID``,
      ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) and regions are read by botocore itself.
    * ``gs``/``gcs``: ``STORAGE_EMULATOR_HOST`` as the endpoint, with anonymous credentials
      (as Google's client library does for an emulator); otherwise
      ``GOOGLE_APPLICATION_CREDENTIALS`` names the credentials file and
      ``GOOGLE_CLOUD_PROJECT`` the project.

    Args:
        protocol: the fsspec protocol, lower case.
        environ: the environment to read (default: ``os.environ``).

    Returns:
        Keyword arguments for the fsspec filesystem.
    """
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        endpoint = (
            env.get("MLFLOW_S3_ENDPOINT_URL")
            or env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL")
        )
        if endpoint:
            options["endpoint_url"] = endpoint
        if env.get("MLFLOW_S3_IGNORE_TLS", "").strip().lower() in _TRUE:
            options["client_kwargs"] = {"verify": False}
        style = env.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE")
        if style:
            options["config_kwargs"] = {"s3": {"addressing_style": style}}
        extra = env.get("MLFLOW_S3_UPLOAD_EXTRA_ARGS")
        if extra:
            options["s3_additional_kwargs"] = _json_object(extra, "MLFLOW_S3_UPLOAD_EXTRA_ARGS")
        profile = env.get("AWS_PROFILE")
        if profile:
            options["profile"] = profile
    elif protocol in ("gs", "gcs"):
        host = env.get("STORAGE_EMULATOR_HOST")
        if host:
            if not host.startswith(("http://", "https://")):
                host = f"http://{host}"
            options["endpoint_url"] = host
            options["token"] = "anon"
        else:
            credentials = env.get("GOOGLE_APPLICATION_CREDENTIALS")
            if credentials:
                options["token"] = credentials
        project = env.get("GOOGLE_CLOUD_PROJECT")
        if project:
            options["project"] = project
    return options


def _json_object(text: str, variable: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object; the error names ``variable`` but never echoes values."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrackyardError.invalid_parameter_value(
            f"{variable} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
        ) from None
    if not isinstance(value, dict):
        raise TrackyardError.invalid_parameter_value(
            f"{variable} must be a JSON object, got a {type(value).__name__}."
        )
    return value


def merge_options(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two option dicts: ``override`` wins, nested dicts are merged key by key."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_options(old, value)
        else:
            merged[key] = value
    return merged


def _json_options(uri: str, protocol: str, environ: Mapping[str, str]) -> dict[str, Any]:
    text = environ.get(ENV_STORAGE_OPTIONS, "").strip()
    if not text:
        return {}
    table = _json_object(text, ENV_STORAGE_OPTIONS)
    matches: list[tuple[int, Mapping[str, Any]]] = []
    lowered = uri.lower()
    for key, value in table.items():
        if not isinstance(value, Mapping):
            raise TrackyardError.invalid_parameter_value(
                f"{ENV_STORAGE_OPTIONS}[{key!r}] must be a JSON object of fsspec options."
            )
        if "://" not in key:
            if key.lower() == protocol:
                matches.append((0, value))
            continue
        prefix = key.rstrip("/").lower()
        if lowered == prefix or lowered.startswith(prefix + "/"):
            matches.append((len(prefix), value))
    options: dict[str, Any] = {}
    for _, value in sorted(matches, key=lambda item: item[0]):
        options = merge_options(options, value)
    return options


def options_for_uri(
    uri: str,
    protocol: str,
    explicit: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """All storage options for an artifact URI: environment, then JSON, then ``explicit``.

    Args:
        uri: the artifact URI (``s3://bucket/prefix``).
        protocol: its fsspec protocol, lower case.
        explicit: options the caller passed; they win.
        environ: the environment to read (default: ``os.environ``).
    """
    env = os.environ if environ is None else environ
    options = storage_options_from_env(protocol, env)
    options = merge_options(options, _json_options(uri, protocol, env))
    return merge_options(options, explicit or {})


def masked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` safe to log or show: secret-looking values become ``"***"``."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):
            out[key] = masked_options(value)
        elif key not in _PUBLIC_KEYS and _SECRET_KEY.search(str(key)) and value not in (None, ""):
            out[key] = "***"
        else:
            out[key] = value
    return out
