"""Every input limit and name rule, in one place.

The numbers and rules are MLflow's (see ``shared/reference/mlflow-facts.md`` section 3). The
client runs these checks before any store sees the input; stores may rely on them.
"""

from __future__ import annotations

import logging
import numbers
import os
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Sequence

from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError

__all__ = [
    "MAX_ENTITIES_PER_BATCH",
    "MAX_ENTITY_KEY_LENGTH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_EXPERIMENT_TAG_KEY_LENGTH",
    "MAX_EXPERIMENT_TAG_VAL_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VAL_LENGTH",
    "MAX_RUN_NAME_LENGTH",
    "MAX_TAG_VAL_LENGTH",
    "metric_value",
    "validate_artifact_path",
    "validate_batch",
    "validate_experiment_artifact_location",
    "validate_experiment_id",
    "validate_experiment_name",
    "validate_experiment_tag",
    "validate_history_paging",
    "validate_key",
    "validate_metric",
    "validate_model_version_source",
    "validate_param",
    "validate_run_id",
    "validate_run_name",
    "validate_run_name_agrees",
    "validate_tag",
    "validate_timestamp",
]

_logger = logging.getLogger("trackyard.validation")

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_LOG_REQUEST_SIZE = 1_000_000
MAX_RUN_NAME_LENGTH = 250  # MLflow has no check; its column is VARCHAR(250)
DEFAULT_ARTIFACT_LOCATION_MAX_LENGTH = 2048
#: Artifact path limits, checked before any I/O: most filesystems hold names of at most 255
#: bytes, and no store needs deeper trees or longer paths than these.
MAX_ARTIFACT_PATH_SEGMENT_BYTES = 255
MAX_ARTIFACT_PATH_DEPTH = 64
MAX_ARTIFACT_PATH_LENGTH = 1024

_KEY_RE = re.compile(r"^[/\w.\- :]*$" if os.name != "nt" else r"^[/\w.\- ]*$")
_RUN_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_RE = re.compile(r"^\s*[-+]?[0-9]+\s*\Z")
_WINDOWS_DRIVE_RE = re.compile(r"^[a-zA-Z]:")
# C0 and C1 control characters and DEL: never part of a name or a location.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What separates segments of a source, in any of its decoded forms.
_SOURCE_SEPARATORS_RE = re.compile(r"[/\\?#&=;]")

# Keys that passed validate_key; keys repeat a lot (100,000 points over a handful of names).
_valid_keys: dict[str, None] = {}
_VALID_KEYS_CAP = 65536


def _invalid(message: str) -> TrackyardError:
    return TrackyardError(message, ErrorCode.INVALID_PARAMETER_VALUE)


def _env_flag(names: Sequence[str], default: bool) -> bool:
    for name in names:
        raw = os.environ.get(name)
        if raw is not None:
            return raw.strip().lower() in ("1", "true", "yes", "on")
    return default


def _refuse_control(text: str, what: str) -> None:
    """Refuse NUL and other control characters in a name or location."""
    found = _CONTROL_RE.search(text)
    if found is not None:
        raise _invalid(
            f"Invalid {what} {text[:80]!r}: control characters such as "
            f"{found.group()!r} are not allowed (at position {found.start()})."
        )


def _refuse_unsplittable(text: str, what: str) -> None:
    """Refuse a URI that ``urllib.parse`` cannot split (e.g. ``s3://a]b``)."""
    try:
        urllib.parse.urlsplit(text)
    except ValueError as exc:
        raise _invalid(f"Invalid {what} {text[:200]!r}: {exc}.") from None


def _refuse_nul(value: str, what: str, key: str) -> None:
    """Refuse a NUL byte in a value: databases such as PostgreSQL cannot store it."""
    if "\x00" in value:
        raise _invalid(f"Invalid {what} value for key {key!r}: NUL bytes are not allowed.")


def truncate_long_values() -> bool:
    """Whether over-long param/tag values are cut (MLflow's default) rather than refused."""
    return _env_flag(("TRACKYARD_TRUNCATE_LONG_VALUES", "MLFLOW_TRUNCATE_LONG_VALUES"), True)


def _path_not_unique(name: str) -> str | None:
    """Return what ``name`` would resolve to as a path, if that is not ``name`` itself."""
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith("..") or norm.startswith("/"):
        return norm
    return None


def validate_key(key: object, what: str = "metric") -> str:
    """Check a metric, param or tag key and return it.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` when the key is not a string, is longer
            than 250 characters, has characters outside ``[/\\w.\\- :]``, or is not a
            canonical relative path (``a//b``, ``./a``, ``/a``, ``../a``, ``a/``, empty).
    """
    if key in _valid_keys:
        return key
    if not isinstance(key, str):
        raise _invalid(f"Invalid {what} name: {key!r}. Names must be strings.")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise _invalid(
            f"Invalid {what} name: {key[:40]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_ENTITY_KEY_LENGTH}."
        )
    if not _KEY_RE.match(key):
        raise _invalid(
            f"Invalid {what} name: {key!r}. Names may only contain letters, digits, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)."
        )
    resolved = _path_not_unique(key)
    if resolved is not None:
        raise _invalid(
            f"Invalid {what} name: {key!r}. Names are used as file paths by some stores and "
            f"must be canonical relative paths; this name would resolve to {resolved!r}."
        )
    if len(_valid_keys) >= _VALID_KEYS_CAP:
        _valid_keys.clear()
    _valid_keys[key] = None
    return key


def _check_value_length(value: str, limit: int, what: str, key: str, truncate: bool) -> str:
    if len(value) <= limit:
        return value
    if truncate and truncate_long_values():
        _logger.warning(
            "%s value for key %r is %d characters long; truncated to %d.",
            what.capitalize(),
            key,
            len(value),
            limit,
        )
        return value[:limit]
    raise _invalid(
        f"{what.capitalize()} value for key {key!r} is {len(value)} characters long; "
        f"the limit is {limit}."
    )


def validate_param(key: object, value: object) -> Param:
    """Check a param and return it with its value as a (possibly truncated) string."""
    k = validate_key(key, "param")
    v = value if isinstance(value, str) else str(value)
    _refuse_nul(v, "param", k)
    return Param(k, _check_value_length(v, MAX_PARAM_VAL_LENGTH, "param", k, truncate=True))


def validate_tag(key: object, value: object) -> RunTag:
    """Check a run tag and return it with its value as a (possibly truncated) string."""
    k = validate_key(key, "tag")
    v = value if isinstance(value, str) else str(value)
    _refuse_nul(v, "tag", k)
    return RunTag(k, _check_value_length(v, MAX_TAG_VAL_LENGTH, "tag", k, truncate=True))


def validate_experiment_tag(key: object, value: object) -> tuple[str, str]:
    """Check an experiment tag; an over-long value is an error, not truncated."""
    k = validate_key(key, "experiment tag")
    if len(k) > MAX_EXPERIMENT_TAG_KEY_LENGTH:  # pragma: no cover - equal to the key limit
        raise _invalid(f"Experiment tag key {k!r} is too long")
    v = value if isinstance(value, str) else str(value)
    _refuse_nul(v, "experiment tag", k)
    _check_value_length(v, MAX_EXPERIMENT_TAG_VAL_LENGTH, "experiment tag", k, truncate=False)
    return k, v


def _bad_metric_value(key: str, value: object, timestamp: object) -> TrackyardError:
    return _invalid(
        f"Got invalid value {value!r} for metric {key!r} (timestamp={timestamp}). "
        "Please specify value as a valid double (64-bit floating point)."
    )


def metric_value(key: str, value: object, timestamp: object = None) -> float:
    """Convert a metric value to a float as MLflow's client does, or refuse it.

    Accepted: anything ``float()`` takes, so numbers (bools too), numeric strings and bytes
    (``"0.5"``, ``" 1e3 "``, ``"nan"``, ``"-inf"``, ``b"2"``), and one-element arrays or
    tensors (through their ``item()``). NaN and infinities are kept.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for None, a string that is not a number,
            or an object that is not a single number (MLflow lets a ``TypeError`` through).
    """
    if type(value) is float:
        return value
    if value is None or isinstance(value, complex):
        raise _bad_metric_value(key, value, timestamp)
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (numbers.Number, str, bytes, bytearray)):
        try:  # numpy arrays and framework tensors holding one number
            value = item()
        except (TypeError, ValueError, RuntimeError):
            raise _bad_metric_value(key, value, timestamp) from None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise _bad_metric_value(key, value, timestamp) from None


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _epoch_int(value: object) -> int | None:
    """``value`` as an int if it is a finite, non-boolean real number, else None."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return int(value)  # type: ignore[call-overload, no-any-return, unused-ignore]
    except (ValueError, OverflowError):  # NaN, infinities
        return None


def validate_metric(
    key: object,
    value: object,
    timestamp: object,
    step: object,
    **extra: str | None,
) -> Metric:
    """Check one metric point and return it as a :class:`Metric` with plain types.

    The value is converted with :func:`metric_value` (numeric strings are accepted, as in
    MLflow); the timestamp (epoch milliseconds, not negative) and the step must be real
    numbers, not strings or booleans, and are truncated to ints.
    """
    k = validate_key(key, "metric")
    v = metric_value(k, value, timestamp)
    t = _epoch_int(timestamp)
    if t is None:
        raise _invalid(
            f"Got invalid timestamp {timestamp!r} for metric {k!r}: "
            "timestamps are epoch milliseconds (an int)."
        )
    if t < 0:
        raise _invalid(
            f"Got invalid timestamp {timestamp!r} for metric {k!r}: "
            "timestamps are epoch milliseconds and cannot be negative."
        )
    if t > INT64_MAX:
        raise _invalid(
            f"Got invalid timestamp {timestamp!r} for metric {k!r}: "
            "timestamps must fit in a signed 64-bit integer."
        )
    s = _epoch_int(step)
    if s is None:
        raise _invalid(f"Got invalid step {step!r} for metric {k!r}; steps are integers.")
    if not INT64_MIN <= s <= INT64_MAX:
        raise _invalid(
            f"Got invalid step {step!r} for metric {k!r}; steps must fit in a signed "
            "64-bit integer."
        )
    return Metric(k, v, t, s, **extra)


def _normalize_metrics(metrics: Iterable[Metric]) -> list[Metric]:
    out: list[Metric] = []
    append = out.append
    valid = _valid_keys
    for m in metrics:
        if not isinstance(m, Metric):
            raise _invalid(f"Expected a Metric, got {type(m).__name__}: {m!r}")
        # Fast path: already plain types and a known key.
        if (
            m.key in valid
            and type(m.value) is float
            and type(m.timestamp) is int
            and 0 <= m.timestamp <= INT64_MAX
            and type(m.step) is int
            and INT64_MIN <= m.step <= INT64_MAX
        ):
            append(m)
            continue
        append(
            validate_metric(
                m.key,
                m.value,
                m.timestamp,
                m.step,
                model_id=m.model_id,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
                run_id=m.run_id,
            )
        )
    return out


def validate_batch(
    metrics: Iterable[Metric] = (),
    params: Iterable[Param] = (),
    tags: Iterable[RunTag] = (),
) -> tuple[list[Metric], list[Param], list[RunTag]]:
    """Check a whole ``log_batch`` and return normalized copies.

    Any number of items is accepted (the store writes them in one transaction). Duplicate
    param keys in one batch are an error; for tags the last value of a key wins.
    """
    checked_metrics = _normalize_metrics(metrics)
    checked_params: list[Param] = []
    seen: dict[str, str] = {}
    for p in params:
        if not isinstance(p, Param):
            raise _invalid(f"Expected a Param, got {type(p).__name__}: {p!r}")
        cp = validate_param(p.key, p.value)
        if cp.key in seen:
            raise _invalid(
                f"Duplicate parameter keys have been submitted: {cp.key!r}. "
                "Please ensure the request contains only one param value per param key."
            )
        seen[cp.key] = cp.value
        checked_params.append(cp)
    last_tags: dict[str, RunTag] = {}
    for t in tags:
        if not isinstance(t, RunTag):
            raise _invalid(f"Expected a RunTag, got {type(t).__name__}: {t!r}")
        ct = validate_tag(t.key, t.value)
        last_tags.pop(ct.key, None)
        last_tags[ct.key] = ct
    return checked_metrics, checked_params, list(last_tags.values())


def validate_timestamp(value: object, what: str = "timestamp") -> int:
    """Check an epoch-milliseconds time: a finite, non-negative number, returned as an int."""
    t = _epoch_int(value)
    if t is None:
        raise _invalid(f"Invalid {what}: {value!r}. Expected epoch milliseconds.")
    if t < 0:
        raise _invalid(f"Invalid {what}: {value!r}. Times cannot be negative.")
    if t > INT64_MAX:
        raise _invalid(f"Invalid {what}: {value!r}. Times must fit in a signed 64-bit integer.")
    return t


def validate_history_paging(max_results: object, page_token: str | None) -> int:
    """Check ``get_metric_history``'s paging arguments and return the page's offset.

    ``max_results`` is None (every point) or a positive integer; ``page_token`` is None or a
    token an earlier page returned.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for either argument.
    """
    from trackyard.search.paging import decode_page_token

    offset = decode_page_token(page_token)
    if max_results is not None and (
        isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
    ):
        raise _invalid(f"Invalid value {max_results!r} for parameter 'max_results'")
    return offset


def validate_run_id(run_id: object) -> str:
    """Check a run id: ``^[a-zA-Z0-9][\\w\\-]{0,255}$``."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise _invalid(f"Invalid run ID: {run_id!r}")
    return run_id


def validate_experiment_id(experiment_id: object) -> str:
    """Check an experiment id and return it in canonical form (``"7"``).

    Experiment ids are integers in every store, as in MLflow (SQL stores number them, the
    file store draws 18 random digits): an int or a string of digits is accepted, with
    surrounding spaces, a sign or leading zeros tolerated as MLflow's SQL store tolerates
    them (``" 07"`` is ``"7"``). Anything else, such as an experiment *name* given where an
    id belongs, is refused, whichever store is in use.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` "Invalid experiment ID".
    """
    if (
        type(experiment_id) is str
        and experiment_id.isascii()
        and experiment_id.isdigit()
        and len(experiment_id) < 19  # within int64
        and (experiment_id[0] != "0" or experiment_id == "0")
    ):
        return experiment_id  # already canonical
    number: int | None = None
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        number = experiment_id
    elif isinstance(experiment_id, str) and _EXPERIMENT_ID_RE.match(experiment_id):
        number = int(experiment_id)
    if number is None or not -(2**63) <= number < 2**63:
        hint = ""
        if isinstance(experiment_id, str) and experiment_id.strip():
            hint = " To find an experiment by its name, use get_experiment_by_name()."
        raise _invalid(
            f"Invalid experiment ID {experiment_id!r}. Experiment ID must be a valid integer."
            + hint
        )
    return str(number)


def validate_experiment_name(name: object) -> str:
    """Check an experiment name: a non-blank string of at most 500 characters, without NUL
    or other control characters."""
    if not isinstance(name, str):
        raise _invalid(f"Invalid experiment name: {name!r}. Expected a string.")
    if not name.strip():
        raise _invalid("Invalid experiment name: the name cannot be empty or only whitespace.")
    _refuse_control(name, "experiment name")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise _invalid(
            f"Experiment name is {len(name)} characters long; "
            f"the limit is {MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return name


def validate_experiment_artifact_location(location: str | None) -> str | None:
    """Check an experiment's artifact location (not ``runs:``, bounded length, no NUL or
    other control characters)."""
    if location is None or location == "":
        return None
    if not isinstance(location, str):
        raise _invalid(f"Invalid artifact location: {location!r}")
    _refuse_control(location, "artifact location")
    _refuse_unsplittable(location, "artifact location")
    if location.startswith("runs:"):
        raise _invalid(
            f"Artifact location cannot be a runs:/ URI, got {location!r}. "
            "Give a local path or a storage URI such as s3://bucket/path."
        )
    limit = int(
        os.environ.get("MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH", DEFAULT_ARTIFACT_LOCATION_MAX_LENGTH)
    )
    if len(location) > limit:
        raise _invalid(
            f"Artifact location is {len(location)} characters long; the limit is {limit}."
        )
    return location


def validate_run_name(run_name: object, tags: dict[str, str] | None = None) -> str | None:
    """Check a run name and that it agrees with an ``mlflow.runName`` tag, if both are given."""
    if run_name is None:
        return None
    if not isinstance(run_name, str):
        raise _invalid(f"Invalid run name: {run_name!r}. Expected a string.")
    _refuse_nul(run_name, "run name", "run_name")
    if len(run_name) > MAX_RUN_NAME_LENGTH:
        raise _invalid(f"Run name is {len(run_name)} characters long; the limit is 250.")
    validate_run_name_agrees(run_name, tags)
    return run_name


def validate_run_name_agrees(run_name: str | None, tags: dict[str, str] | None) -> None:
    """Refuse a run name that differs from the ``mlflow.runName`` tag given with it."""
    tag_name = (tags or {}).get("mlflow.runName")
    if run_name and tag_name is not None and tag_name != run_name:
        raise _invalid(
            f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
            f"different values (run_name={run_name!r}, mlflow.runName={tag_name!r})."
        )


def validate_artifact_path(path: str | None, *, allow_empty: bool = True) -> str:
    """Check a user-given artifact path and return its canonical relative form.

    The path is URL-decoded (repeatedly) before checking; a ``..`` segment, an absolute POSIX
    or Windows path, a backslash, a NUL byte or a ``#`` is refused, as are empty paths when
    ``allow_empty`` is false. Harmless ``.`` segments, doubled and trailing slashes are folded.
    """
    if path is None:
        path = ""
    if not isinstance(path, str):
        raise _invalid(f"Invalid artifact path: {path!r}. Expected a string.")
    forms = [path]
    decoded = path
    for _ in range(3):
        nxt = urllib.parse.unquote(decoded)
        if nxt == decoded:
            break
        forms.append(nxt)
        decoded = nxt
    for form in forms:
        if "\x00" in form or "\\" in form or "#" in form:
            raise _invalid(
                f"Invalid artifact path: {path!r}. Backslashes, '#' and NUL bytes are not allowed."
            )
        folded = "/".join(seg for seg in form.split("/") if seg not in ("", "."))
        if (
            form.startswith("/")
            or _WINDOWS_DRIVE_RE.match(folded)
            or folded.startswith("~")
            or _WINDOWS_DRIVE_RE.match(form)
            or form.startswith("~")
        ):
            raise _invalid(f"Invalid artifact path: {path!r}. Absolute paths are not allowed.")
        if any(seg == ".." for seg in form.split("/")):
            raise _invalid(f"Invalid artifact path: {path!r}. '..' segments are not allowed.")
    parts = [seg for seg in path.split("/") if seg not in ("", ".")]
    canonical = "/".join(parts)
    if not canonical and not allow_empty:
        raise _invalid("Invalid artifact path: the path cannot be empty.")
    _check_artifact_path_size(path, canonical, parts)
    return canonical


def _check_artifact_path_size(path: str, canonical: str, parts: list[str]) -> None:
    """Refuse paths no filesystem holds (or that no store needs) before any I/O."""
    shown = path if len(path) <= 80 else path[:77] + "..."
    if len(canonical) > MAX_ARTIFACT_PATH_LENGTH:
        raise _invalid(
            f"Invalid artifact path: {shown!r} is {len(canonical)} characters long; "
            f"the limit is {MAX_ARTIFACT_PATH_LENGTH}."
        )
    if len(parts) > MAX_ARTIFACT_PATH_DEPTH:
        raise _invalid(
            f"Invalid artifact path: {shown!r} has {len(parts)} segments; "
            f"the limit is {MAX_ARTIFACT_PATH_DEPTH}."
        )
    for seg in parts:
        if len(seg) * 4 > MAX_ARTIFACT_PATH_SEGMENT_BYTES and (
            len(seg.encode("utf-8", "surrogatepass")) > MAX_ARTIFACT_PATH_SEGMENT_BYTES
        ):
            raise _invalid(
                f"Invalid artifact path: {shown!r} has a segment longer than "
                f"{MAX_ARTIFACT_PATH_SEGMENT_BYTES} bytes, more than a file name can hold."
            )


_SOURCE_DECODE_ROUNDS = 4


def validate_model_version_source(source: object) -> str:
    """Check a model version's ``source`` and return it.

    A source is a path or URI (``runs:/``, ``models:/``, ``file://``, ``s3://``,
    ``mlflow-artifacts:`` ...). Refused: a source that is not a string, holds NUL or other
    control characters, or has a ``..`` segment in any form: plain, percent-encoded once or
    more, written with backslashes, or in the query or fragment (after ``?`` or ``#``).

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` naming the rule that failed.
    """
    if not isinstance(source, str):
        raise _invalid(f"A model version source must be a string, got {source!r}")
    _refuse_control(source, "model version source")
    _refuse_unsplittable(source, "model version source")
    forms = [source]
    decoded = source
    for _ in range(_SOURCE_DECODE_ROUNDS):
        nxt = urllib.parse.unquote(decoded, errors="surrogateescape")
        if nxt == decoded:
            break
        forms.append(nxt)
        decoded = nxt
    else:
        raise _invalid(
            f"Invalid model version source {source[:200]!r}: it is percent-encoded more than "
            f"{_SOURCE_DECODE_ROUNDS} times over."
        )
    for form in forms:
        if "\x00" in form:
            raise _invalid(f"Invalid model version source {source[:200]!r}: NUL bytes.")
        if any(seg.strip() == ".." for seg in _SOURCE_SEPARATORS_RE.split(form)):
            raise _invalid(
                f"Invalid model version source {source[:200]!r}: '..' segments are not "
                "allowed in a source, in any encoding."
            )
    return source


# ---------------------------------------------------------------------------------------------
# Model registry and prompts

MAX_MODEL_REGISTRY_TAG_KEY_LENGTH = 250
MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_REGISTERED_MODEL_ALIAS_LENGTH = 255

_ALIAS_RE = re.compile(r"^[\w\-]*$")
_RESERVED_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_MODEL_VERSION_RE = re.compile(r"^[+-]?\d+$")
_PROMPT_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")

__all__ += [
    "MAX_MODEL_REGISTRY_TAG_KEY_LENGTH",
    "MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH",
    "MAX_REGISTERED_MODEL_ALIAS_LENGTH",
    "is_prompt_name",
    "validate_model_alias",
    "validate_model_name",
    "validate_model_version",
    "validate_prompt_name",
    "validate_registry_tag",
    "validate_stage",
]


def validate_model_name(name: object, what: str = "model") -> str:
    """Check a registered model name and return it.

    Rules (MLflow's): a non-empty string without ``/`` or ``:`` that is a canonical
    relative path (``..`` and ``.`` are refused). There is no character or length limit
    here; SQL stores refuse names wider than their column.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` naming the rule that failed.
    """
    if not isinstance(name, str):
        raise _invalid(f"Invalid {what} name: {name!r}. Names must be strings.")
    if name == "":
        raise _invalid(f"Missing value for required parameter 'name': the {what} name is empty.")
    if not name.strip():
        raise _invalid(f"Invalid {what} name {name!r}: the name cannot be only whitespace.")
    _refuse_control(name, f"{what} name")
    if "/" in name or ":" in name:
        raise _invalid(f"Invalid {what} name {name!r}. Names cannot contain '/' or ':'.")
    resolved = _path_not_unique(name)
    if resolved is not None:
        raise _invalid(
            f"Invalid {what} name {name!r}: names may be used as file names and must not "
            f"resolve to another name; this one would resolve to {resolved!r}."
        )
    return name


def is_prompt_name(name: object) -> bool:
    """Whether ``name`` is a valid prompt name (a non-empty string of ``[a-zA-Z0-9_.-]``)."""
    return isinstance(name, str) and _PROMPT_NAME_RE.fullmatch(name) is not None


def validate_prompt_name(name: object) -> str:
    """Check a prompt name: a model name made only of ``[a-zA-Z0-9_.-]``."""
    if isinstance(name, str) and name and not _PROMPT_NAME_RE.match(name):
        raise _invalid(
            f"Invalid prompt name {name!r}. Prompt names may only contain letters, digits, "
            "hyphens (-), underscores (_) and dots (.)."
        )
    return validate_model_name(name, "prompt")


def validate_model_version(version: object) -> str:
    """Check a model version number and return it as a canonical string (``"3"``).

    Ints and strings holding an integer are accepted; ``"1.0"``, ``"abc"``, floats and
    booleans are not.
    """
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise _invalid(f"Parameter 'version' must be an integer, got {version!r}.")
    if isinstance(version, str):
        if not _MODEL_VERSION_RE.match(version):
            raise _invalid(f"Parameter 'version' must be an integer, got {version!r}.")
        version = int(version)
    return str(version)


def validate_model_alias(alias: object) -> str:
    """Check an alias to be set: ``^[\\w\\-]*$``, 1 to 255 characters, not reserved.

    ``latest`` (any case) and ``v<digits>`` / ``V<digits>`` are reserved: the first always
    means the newest version, the others look like version numbers.
    """
    if not isinstance(alias, str):
        raise _invalid(f"Invalid alias {alias!r}. Aliases must be strings.")
    if alias == "":
        raise _invalid("Registered model alias name cannot be empty.")
    if len(alias) > MAX_REGISTERED_MODEL_ALIAS_LENGTH:
        raise _invalid(
            f"Alias {alias[:40]!r}... is {len(alias)} characters long; the limit is "
            f"{MAX_REGISTERED_MODEL_ALIAS_LENGTH}."
        )
    if not _ALIAS_RE.match(alias):
        raise _invalid(
            f"Invalid alias name {alias!r}. Aliases may only contain letters, digits, "
            "underscores (_) and dashes (-)."
        )
    if alias.lower() == "latest":
        raise _invalid(f"'latest' alias name (case insensitive) is reserved, got {alias!r}.")
    if _RESERVED_VERSION_ALIAS_RE.match(alias):
        raise _invalid(f"Version alias name {alias!r} is reserved.")
    return alias


def validate_registry_tag(key: object, value: object) -> tuple[str, str]:
    """Check a registered model or model version tag; the value becomes a string.

    Keys follow the run-tag key rules (at most 250 characters); values may be up to
    100,000 characters and are never truncated.
    """
    k = validate_key(key, "tag")
    if len(k) > MAX_MODEL_REGISTRY_TAG_KEY_LENGTH:  # pragma: no cover - equal to the key limit
        raise _invalid(f"Tag key {k[:40]!r}... is too long")
    v = value if isinstance(value, str) else str(value)
    _refuse_nul(v, "tag", k)
    _check_value_length(v, MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, "tag", k, truncate=False)
    return k, v


def validate_stage(stage: object) -> str:
    """Return the canonical spelling of a model version stage (any case accepted)."""
    from trackyard.entities.model_registry import Stage

    if isinstance(stage, str):
        for canonical in Stage.ALL:
            if stage.strip().lower() == canonical.lower():
                return canonical
    raise _invalid(
        f"Invalid Model Version stage: {stage!r}. Value must be one of {', '.join(Stage.ALL)}."
    )


# -- traces ---------------------------------------------------------------------------------------
MAX_TRACE_TAG_KEY_LENGTH = 250
MAX_TRACE_TAG_VAL_LENGTH = 8000
_TRACE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,49}$")
_SPAN_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def validate_trace_id(trace_id: object, what: str = "trace") -> str:
    """Check a trace id (``tr-`` + 32 hex, or an older MLflow request id) and return it."""
    if not isinstance(trace_id, str) or not _TRACE_ID_RE.match(trace_id):
        raise _invalid(f"Invalid {what} id: {trace_id!r}. Trace ids look like 'tr-' + 32 hex.")
    return trace_id


def validate_span_id(span_id: object, what: str = "span") -> str:
    """Check a span id (16 lower-case hex digits) and return it."""
    if not isinstance(span_id, str) or not _SPAN_ID_RE.match(span_id):
        raise _invalid(f"Invalid {what} id: {span_id!r}. Span ids are 16 hex digits.")
    return span_id


def validate_trace_tag(key: object, value: object) -> tuple[str, str]:
    """Check a trace tag: MLflow's key rules (250 characters); the value is cut to 8,000."""
    k = validate_key(key, "trace tag")
    v = value if isinstance(value, str) else str(value)
    return k, _check_value_length(v, MAX_TRACE_TAG_VAL_LENGTH, "trace tag", k, truncate=True)
