"""Store URIs: parsed once into an immutable value whose repr masks credentials.

Also the client-side URI forms ``runs:/<run_id>/<path>``, ``models:/...`` (see
:func:`parse_models_uri`) and ``prompts:/...`` (see :func:`parse_prompts_uri`).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, NamedTuple

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities.model_registry import ModelVersion
    from trackyard.stores import RegistryStore

__all__ = [
    "ModelsURI",
    "PromptsURI",
    "StoreURI",
    "mask_credentials",
    "parse_models_uri",
    "parse_prompts_uri",
    "parse_runs_uri",
    "resolve_models_uri",
    "split_uri",
    "version_storage_location",
]

_SECRET_QUERY_KEYS = re.compile(r"(?i)(pass(word)?|secret|token|key|credential|sig|signature)")


def split_uri(uri: str, *, allow_fragments: bool = True) -> urllib.parse.SplitResult:
    """``urllib.parse.urlsplit``, refusing what it cannot split (e.g. ``s3://a]b``).

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` instead of the ``ValueError`` urlsplit
            raises for a malformed network location.
    """
    try:
        return urllib.parse.urlsplit(uri, allow_fragments=allow_fragments)
    except ValueError as exc:
        raise TrackyardError(
            f"Invalid URI {mask_credentials(uri)!r}: {exc}.", ErrorCode.INVALID_PARAMETER_VALUE
        ) from None


_USERINFO_PASSWORD = re.compile(r"(//[^/:@]*:)[^@/]*@")


def mask_credentials(uri: str) -> str:
    """Return ``uri`` with any password and secret-looking query values replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:  # not splittable: still hide a user:password@ part
        return _USERINFO_PASSWORD.sub(r"\1***@", uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
    query = "&".join(_mask_query_item(item) for item in parts.query.split("&"))
    if netloc == parts.netloc and query == parts.query:
        return uri
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_query_item(item: str) -> str:
    """Mask one ``key=value`` query item: secret-looking keys, and URIs nested in values."""
    key, sep, value = item.partition("=")
    if not sep:
        return item
    if _SECRET_QUERY_KEYS.search(urllib.parse.unquote(key)):
        return f"{key}=***"
    decoded = urllib.parse.unquote(value)
    if "://" in decoded:  # e.g. a composite store naming its targets' URIs
        nested = ",".join(mask_credentials(part) for part in decoded.split(","))
        if nested != decoded:
            return f"{key}={urllib.parse.quote(nested, safe=':/@*,')}"
    return item


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
    parts = split_uri(uri)
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


class ModelsURI(NamedTuple):
    """A parsed ``models:/`` URI; exactly one way of naming a version is set.

    Attributes:
        raw: the URI as given.
        name: the registered model name (None for a logged model id).
        version: a version number as a string (``models:/<name>/<digits>``).
        stage: a stage name as written (``models:/<name>/<stage>``, deprecated).
        alias: an alias (``models:/<name>@<alias>``).
        latest: True for ``models:/<name>/latest`` (any case).
        model_id: a logged model id (``models:/<id>``, a single segment).
    """

    raw: str
    name: str | None
    version: str | None = None
    stage: str | None = None
    alias: str | None = None
    latest: bool = False
    model_id: str | None = None


def _improper_models_uri(uri: object) -> TrackyardError:
    return TrackyardError(
        f"Not a proper models:/ URI: {uri!r}. Models URIs must look like "
        "models:/<name>/<version>, models:/<name>/latest, models:/<name>/<stage> or "
        "models:/<name>@<alias>.",
        ErrorCode.INVALID_PARAMETER_VALUE,
    )


def parse_models_uri(uri: str) -> ModelsURI:
    """Parse a ``models:/`` URI (MLflow's forms).

    - ``models:/<name>/<digits>``: that version;
    - ``models:/<name>/latest`` (any case): the newest version;
    - ``models:/<name>/<other>``: the newest version in stage ``<other>`` (deprecated);
    - ``models:/<name>@<alias>``: split on the *last* ``@``;
    - ``models:/<id>`` (one segment, no ``@``): a logged model id.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` "Not a proper models:/ URI" for another
            scheme, a host part (``models://``), more than two segments, or an empty name,
            suffix or alias.
    """
    if not isinstance(uri, str):
        raise _improper_models_uri(uri)
    parts = split_uri(uri, allow_fragments=False)
    path = parts.path
    if parts.scheme != "models" or parts.netloc or not path.startswith("/") or len(path) < 2:
        raise _improper_models_uri(uri)
    segments = path[1:].split("/")
    if len(segments) == 1:
        body = segments[0]
        if "@" in body:
            name, _, alias = body.rpartition("@")
            if not name or not alias:
                raise _improper_models_uri(uri)
            return ModelsURI(uri, name, alias=alias)
        return ModelsURI(uri, None, model_id=body)
    if len(segments) != 2 or not segments[0] or not segments[1] or "@" in segments[1]:
        raise _improper_models_uri(uri)
    name, suffix = segments
    if suffix.isascii() and suffix.isdigit():
        return ModelsURI(uri, name, version=str(int(suffix)))
    if suffix.lower() == "latest":
        return ModelsURI(uri, name, latest=True)
    return ModelsURI(uri, name, stage=suffix)


class PromptsURI(NamedTuple):
    """A parsed ``prompts:/<name>/<version>`` or ``prompts:/<name>@<alias>`` URI."""

    raw: str
    name: str
    version: str | None = None
    alias: str | None = None


def parse_prompts_uri(uri: str) -> PromptsURI:
    """Parse a ``prompts:/`` URI: ``prompts:/<name>/<version>`` or ``prompts:/<name>@<alias>``.

    The alias ``latest`` means the newest version.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for any other form.
    """

    def improper() -> TrackyardError:
        return TrackyardError(
            f"Not a proper prompts:/ URI: {uri!r}. Prompt URIs must look like "
            "prompts:/<name>/<version> or prompts:/<name>@<alias>.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )

    if not isinstance(uri, str):
        raise improper()
    parts = split_uri(uri, allow_fragments=False)
    path = parts.path
    if parts.scheme != "prompts" or parts.netloc or not path.startswith("/") or len(path) < 2:
        raise improper()
    segments = path[1:].split("/")
    if len(segments) == 1 and "@" in segments[0]:
        name, _, alias = segments[0].rpartition("@")
        if not name or not alias:
            raise improper()
        return PromptsURI(uri, name, alias=alias)
    if len(segments) == 2 and segments[0] and segments[1].isascii() and segments[1].isdigit():
        return PromptsURI(uri, segments[0], version=str(int(segments[1])))
    raise improper()


def resolve_models_uri(store: RegistryStore, uri: str | ModelsURI) -> ModelVersion:
    """Return the model version a ``models:/`` URI names, looked up in ``store``.

    Args:
        store: the registry store to look in.
        uri: the URI, or its parsed form.

    Returns:
        The version: by number, by alias, the newest (``latest``), or the newest in a stage.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for a malformed URI or unknown stage;
            ``RESOURCE_DOES_NOT_EXIST`` when it names nothing; ``FEATURE_DISABLED`` for a
            logged model id (``models:/<id>``): logged models live in the tracking store,
            and the client resolves those URIs there.
    """
    from trackyard.validation import validate_stage

    parsed = uri if isinstance(uri, ModelsURI) else parse_models_uri(uri)
    if parsed.model_id is not None or parsed.name is None:
        raise TrackyardError(
            f"{parsed.raw!r} names a logged model (models:/<model_id>), which a registry "
            "store cannot resolve: MlflowClient resolves it through the tracking store "
            "(get_logged_model). Here use models:/<name>/<version>, models:/<name>/latest "
            "or models:/<name>@<alias>.",
            ErrorCode.FEATURE_DISABLED,
        )
    name = parsed.name
    if parsed.version is not None:
        return store.get_model_version(name, parsed.version)
    if parsed.alias is not None:
        if parsed.alias.lower() == "latest":
            return _newest(store, name, None, parsed.raw)
        return store.get_model_version_by_alias(name, parsed.alias)
    if parsed.latest:
        return _newest(store, name, None, parsed.raw)
    stage = validate_stage(parsed.stage)
    return _newest(store, name, [stage], parsed.raw)


def _newest(store: RegistryStore, name: str, stages: list[str] | None, raw: str) -> ModelVersion:
    versions = store.get_latest_versions(name, stages)
    if not versions:
        where = f" in stage {stages[0]!r}" if stages else ""
        raise TrackyardError(
            f"Registered model {name!r} has no versions{where}, so {raw!r} names nothing.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )
    return max(versions, key=lambda v: int(v.version))


def version_storage_location(store: RegistryStore, source: str) -> str:
    """Where a new model version's files are: ``source``, or for a ``models:/`` source the
    download URI of the version it names (resolved now, as MLflow does at creation)."""
    if not source.startswith("models:"):
        return source
    if parse_models_uri(source).model_id is not None:
        return source  # a logged model: the client resolves it through the tracking store
    src = resolve_models_uri(store, source)
    return store.get_model_version_download_uri(src.name, src.version)
