"""Shared helpers of the registry conformance kit (:mod:`trackyard.testing.registry`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from trackyard.entities.model_registry import IS_PROMPT_TAG_KEY, ModelVersion
from trackyard.errors import TrackyardError
from trackyard.plugins.hookspecs import Event, hookimpl

__all__ = [
    "IS_PROMPT",
    "_Listener",
    "_all_pages",
    "_expect",
    "_literal",
    "_quiet",
    "_read",
    "_snapshot",
    "_version_key",
]

IS_PROMPT = f"tags.`{IS_PROMPT_TAG_KEY}`"


def _expect(code: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    got = excinfo.value.error_code
    assert got == code, f"expected {code}, got {got}: {excinfo.value}"
    return excinfo.value


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a deprecated (stage) API without its FutureWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return fn(*args, **kwargs)


def _all_pages(call: Callable[..., Any], **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = call(page_token=token, **kwargs)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _literal(value: str) -> str:
    """A filter string literal (a doubled quote escapes itself)."""
    return "'" + value.replace("'", "''") + "'"


def _version_key(v: ModelVersion) -> tuple[str, int]:
    return (v.name, int(v.version))


def _snapshot(client: Any) -> dict[str, Any]:
    """Everything the registry holds, as plain data (to check that nothing was written)."""
    models = _all_pages(client.search_registered_models, max_results=1000)
    prompts = _all_pages(
        client.search_registered_models,
        filter_string=f"{IS_PROMPT} = 'true'",
        max_results=1000,
    )
    versions = _all_pages(client.search_model_versions, max_results=200000)
    prompt_versions = _all_pages(
        client.search_model_versions, filter_string=f"{IS_PROMPT} = 'true'", max_results=200000
    )
    return {
        "models": sorted(
            (m.name, m.description, sorted(m.tags.items()), sorted(m.aliases.items()))
            for m in [*models, *prompts]
        ),
        "versions": sorted(
            (v.name, int(v.version), v.description, v.source, sorted(v.tags.items()))
            for v in [*versions, *prompt_versions]
        ),
    }


class _Listener:
    """A throwaway plugin that records ``trackyard_on_event`` calls."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def trackyard_on_event(self, event: Event) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events]
