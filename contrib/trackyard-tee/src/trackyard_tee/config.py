"""The tee's configuration: the ``tee:`` URI forms and the config file.

Two forms name the same settings:

URI form (targets percent-encoded, the first one is the primary)::

    tee:///?targets=<uri1>,<uri2>[,...]&queue=/var/lib/trackyard/tee[&retry_interval=30]
    tee:///?target=<uri1>&target=<uri2>&queue=...

Config-file form (YAML or JSON; the path ends in ``.yaml``, ``.yml`` or ``.json``)::

    tee:///etc/trackyard/tee.yaml     # absolute path
    tee:conf/tee.yaml                 # relative to the working directory

with keys ``targets`` (a list), ``queue`` (relative to the file's directory) and optionally
``retry_interval``. ``${VAR}`` in a target is replaced by the environment variable ``VAR``,
so credentials can stay out of the file.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trackyard.errors import invalid_parameter as _invalid
from trackyard.uri import StoreURI, mask_credentials

__all__ = ["DEFAULT_RETRY_INTERVAL", "TeeConfig", "format_tee_uri", "parse_tee_uri"]

#: Seconds between attempts to reach an unavailable secondary during ordinary writes.
DEFAULT_RETRY_INTERVAL = 30.0

_KEYS = ("targets", "target", "queue", "retry_interval")
_FILE_KEYS = ("targets", "queue", "retry_interval")


@dataclass(frozen=True)
class TeeConfig:
    """What a tee store does.

    Attributes:
        targets: the target store URIs; ``targets[0]`` is the primary (all reads, first
            write), the others are secondaries.
        queue: the absolute path of the queue directory (journals of unavailable secondaries).
        retry_interval: seconds to wait, after a secondary failed, before ordinary writes try
            it again (``flush()`` always tries).
        source: where the settings came from (the masked URI, or the config file path).
    """

    targets: tuple[str, ...]
    queue: str
    retry_interval: float = DEFAULT_RETRY_INTERVAL
    source: str = ""

    @property
    def primary(self) -> str:
        """The primary target's URI."""
        return self.targets[0]

    @property
    def secondaries(self) -> tuple[str, ...]:
        """The secondary targets' URIs."""
        return self.targets[1:]


def _masked(uri: str) -> str:
    """``uri`` with the credentials of the targets inside its query masked.

    (:func:`trackyard.uri.mask_credentials` alone would not do: the targets are percent-encoded
    values of the query, not the URI's own user info.)
    """
    parts = urllib.parse.urlsplit(uri)
    items = []
    for item in parts.query.split("&") if parts.query else ():
        key, sep, raw = item.partition("=")
        if key == "targets":
            raw = ",".join(mask_credentials(urllib.parse.unquote(t)) for t in raw.split(","))
        elif key == "target":
            raw = mask_credentials(urllib.parse.unquote(raw))
        items.append(f"{key}{sep}{raw}")
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(items)
    slashes = "//" if uri[len(parts.scheme) + 1 :].startswith("//") else ""
    return f"{parts.scheme}:{slashes}{netloc}{parts.path}" + (f"?{query}" if query else "")


def parse_tee_uri(uri: str) -> TeeConfig:
    """Read the settings a ``tee:`` URI names (directly, or through a config file).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for a malformed URI or file, fewer than two
            targets, a ``tee:`` target, a target named twice, or no queue directory.
    """
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.lower() != "tee":
        raise _invalid(f"Not a tee URI: {_masked(uri)!r}")
    if parts.netloc:
        raise _invalid(
            f"Invalid tee URI {_masked(uri)!r}: it has no host part; use "
            "tee:///?targets=...&queue=... or tee:///path/to/tee.yaml"
        )
    path = urllib.parse.unquote(parts.path)
    if path not in ("", "/"):
        if parts.query:
            raise _invalid(f"Invalid tee URI {_masked(uri)!r}: the config-file form takes no query")
        return _from_file(path)
    return _from_query(uri, parts.query)


def _from_query(uri: str, query: str) -> TeeConfig:
    targets: list[str] = []
    settings: dict[str, str] = {}
    for item in query.split("&"):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        if not sep:
            raise _invalid(f"Invalid tee URI: {key!r} has no value (expected key=value)")
        if key not in _KEYS:
            raise _invalid(f"Invalid tee URI: unknown setting {key!r}; known: {', '.join(_KEYS)}")
        if key == "targets":
            targets.extend(urllib.parse.unquote(t) for t in raw.split(",") if t)
        elif key == "target":
            targets.append(urllib.parse.unquote(raw))
        else:
            if key in settings:
                raise _invalid(f"Invalid tee URI: {key!r} is given twice")
            settings[key] = urllib.parse.unquote(raw)
    source = _masked(uri)
    queue = settings.get("queue")
    if not queue:
        raise _invalid(
            f"The tee URI {source!r} names no queue directory: add &queue=/path/to/dir "
            "(writes for unavailable secondaries are kept there)"
        )
    return _build(targets, os.path.abspath(queue), settings.get("retry_interval"), source)


def _from_file(path: str) -> TeeConfig:
    if not path.lower().endswith((".yaml", ".yml", ".json")):
        raise _invalid(
            f"Invalid tee config path {path!r}: expected a .yaml, .yml or .json file "
            "(or use tee:///?targets=...&queue=...)"
        )
    path = os.path.abspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise _invalid(f"Cannot read the tee config file {path!r}: {exc}") from exc
    import yaml  # type: ignore[import-untyped]

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(f"The tee config file {path!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise _invalid(f"The tee config file {path!r} must hold a mapping of settings")
    unknown = sorted(str(k) for k in data if k not in _FILE_KEYS)
    if unknown:
        raise _invalid(
            f"The tee config file {path!r} has unknown settings {unknown}; "
            f"known: {', '.join(_FILE_KEYS)}"
        )
    targets = data.get("targets")
    if not isinstance(targets, Sequence) or isinstance(targets, str):
        raise _invalid(f"The tee config file {path!r} must list its 'targets'")
    if not all(isinstance(t, str) for t in targets):
        raise _invalid(f"Every target in {path!r} must be a URI string")
    queue = data.get("queue")
    if not isinstance(queue, str) or not queue:
        raise _invalid(f"The tee config file {path!r} names no 'queue' directory")
    queue = os.path.join(os.path.dirname(path), os.path.expanduser(queue))
    retry = data.get("retry_interval")
    return _build(
        [os.path.expandvars(t) for t in targets],
        os.path.abspath(queue),
        None if retry is None else str(retry),
        path,
    )


def _build(targets: list[str], queue: str, retry: str | None, source: str) -> TeeConfig:
    targets = [t.strip() for t in targets if t.strip()]
    if len(targets) < 2:
        raise _invalid(
            f"A tee needs at least two targets (a primary and a secondary); {source!r} "
            f"names {len(targets)}"
        )
    seen: set[str] = set()
    for target in targets:
        if StoreURI.parse(target).backend == "tee":
            raise _invalid(f"A tee target cannot be another tee: {mask_credentials(target)!r}")
        if target in seen:
            raise _invalid(f"The tee target {mask_credentials(target)!r} is named twice")
        seen.add(target)
    interval = DEFAULT_RETRY_INTERVAL
    if retry is not None:
        try:
            interval = float(retry)
        except ValueError:
            interval = math.nan
        if not math.isfinite(interval) or interval < 0:
            raise _invalid(f"Invalid retry_interval {retry!r} in {source!r}: expected seconds >= 0")
    return TeeConfig(tuple(targets), queue, interval, source)


def format_tee_uri(targets: Sequence[str], queue: str | os.PathLike[str], **settings: Any) -> str:
    """Build the URI form for ``targets`` (the first is the primary) and ``queue``.

    Args:
        targets: target store URIs.
        queue: the queue directory.
        **settings: other settings, e.g. ``retry_interval=0``.

    Returns:
        ``tee:///?targets=<enc1>,<enc2>&queue=<enc>[&key=value...]``.
    """
    encoded = ",".join(urllib.parse.quote(t, safe="") for t in targets)
    uri = f"tee:///?targets={encoded}&queue={urllib.parse.quote(os.fspath(queue), safe='/')}"
    for key, value in settings.items():
        uri += f"&{key}={urllib.parse.quote(str(value), safe='')}"
    return uri
