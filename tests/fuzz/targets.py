"""Fuzz targets: the parsers that take untrusted text, and what each must never do.

Each target takes one string. It may succeed or raise ``TrackyardError`` with
``INVALID_PARAMETER_VALUE``; anything else (another exception, another code, or a result that
breaks the target's property) is a bug and raises ``AssertionError`` or escapes.

- ``filter``: the filter and order_by parsers of every search kind; what parses prints
  (``trackyard.search.format_filter``) to text that parses and prints the same again.
- ``page_token``: the page-token decoder gives an offset >= 0 or refuses.
- ``uri``: store URIs and ``runs:/``, ``models:/``, ``prompts:/`` URIs; masking credentials
  never fails.
- ``artifact_path``: the artifact-path validator returns a canonical relative path within the
  size limits (and is idempotent), and the model-version source check never lets a ``..``
  segment through.

Run them with atheris (``python tests/fuzz/run.py <target>``, the tox env ``fuzz``) or replay
the corpus (``tests/fuzz/test_fuzz.py``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["TARGETS"]


def _refused_properly(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except TrackyardError as exc:
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE, (exc.error_code, str(exc))
        return None


def fuzz_filter(text: str) -> None:
    from trackyard.search import SearchKind, format_filter, parse_filter, parse_order_by

    for kind in SearchKind:
        expr = _refused_properly(lambda kind=kind: parse_filter(text, kind))
        if expr is not None:
            printed = format_filter(expr)  # type: ignore[arg-type]
            again = parse_filter(printed, kind)
            assert again is not None and format_filter(again) == printed, (text, printed)
        _refused_properly(lambda kind=kind: parse_order_by(text.split(","), kind))


def fuzz_page_token(text: str) -> None:
    from trackyard.search import decode_page_token

    offset = _refused_properly(lambda: decode_page_token(text))
    assert offset is None or (isinstance(offset, int) and offset >= 0), offset


def fuzz_uri(text: str) -> None:
    from trackyard.uri import (
        StoreURI,
        mask_credentials,
        parse_models_uri,
        parse_prompts_uri,
        parse_runs_uri,
    )

    assert isinstance(mask_credentials(text), str)
    parsed = _refused_properly(lambda: StoreURI.parse(text))
    if parsed is not None:
        repr(parsed)
    for parse in (parse_runs_uri, parse_models_uri, parse_prompts_uri):
        _refused_properly(lambda parse=parse: parse(text))


_SEGMENT_SPLIT = re.compile(r"[/\\?#&=;]")


def fuzz_artifact_path(text: str) -> None:
    from trackyard import validation as v

    canonical = _refused_properly(lambda: v.validate_artifact_path(text))
    if canonical is not None:
        assert isinstance(canonical, str)
        parts = canonical.split("/") if canonical else []
        assert ".." not in parts and "" not in parts and "." not in parts, canonical
        assert not canonical.startswith("/") and "\\" not in canonical and "\x00" not in canonical
        assert len(canonical) <= v.MAX_ARTIFACT_PATH_LENGTH
        assert len(parts) <= v.MAX_ARTIFACT_PATH_DEPTH
        assert v.validate_artifact_path(canonical) == canonical
    source = _refused_properly(lambda: v.validate_model_version_source(text))
    if source is not None:
        decoded = text
        for _ in range(4):
            decoded = urllib.parse.unquote(decoded)
            assert ".." not in [s.strip() for s in _SEGMENT_SPLIT.split(decoded)], text


TARGETS: dict[str, Callable[[str], None]] = {
    "filter": fuzz_filter,
    "page_token": fuzz_page_token,
    "uri": fuzz_uri,
    "artifact_path": fuzz_artifact_path,
}
