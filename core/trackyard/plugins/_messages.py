"""What the plugin manager says when something is missing, misspelled or claimed twice.

Messages name what was asked (credentials masked), what is installed, the closest match, and
what to install. Every install hint names an extra that trackyard's ``pyproject.toml``
declares (a test checks it): schemes whose plugins do not exist yet get no hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from trackyard.errors import BackendConflictError, UnknownSchemeError
from trackyard.uri import StoreURI

__all__ = [
    "INSTALL_HINTS",
    "KIND_NOUN",
    "conflict_error",
    "install_hint_for",
    "misspelling_hint",
    "unknown_scheme_error",
]

KIND_NOUN = {
    "tracking": "tracking store",
    "registry": "model registry store",
    "artifact": "artifact repository",
}

#: Schemes trackyard knows of but may not have installed: (what is missing, what to install).
INSTALL_HINTS: dict[str, tuple[str, str]] = {
    "postgresql": ("the PostgreSQL driver", 'pip install "trackyard[postgres]"'),
    "mysql": ("the MySQL driver", 'pip install "trackyard[mysql]"'),
    "s3": ("the S3 plugin", 'pip install "trackyard[s3]"'),
    "gs": ("the GCS plugin", 'pip install "trackyard[gcs]"'),
    "gcs": ("the GCS plugin", 'pip install "trackyard[gcs]"'),
}


def install_hint_for(scheme: str) -> str | None:
    """The install command for a scheme trackyard knows of, or None."""
    known = INSTALL_HINTS.get(scheme)
    return known[1] if known else None


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate nearest to ``word`` when it is close enough to be a typo, else None."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_scheme_error(
    kind: str, uri: StoreURI, available: Sequence[str], broken: Sequence[str]
) -> UnknownSchemeError:
    """The error for a scheme no plugin serves.

    Args:
        kind: ``"tracking"``, ``"registry"`` or ``"artifact"``.
        uri: what was asked for (shown masked).
        available: the schemes installed for ``kind``.
        broken: one line per plugin that failed to load (label and problem).
    """
    suggestion = closest(uri.backend, available)
    msg = (
        f"no {KIND_NOUN[kind]} for scheme {uri.backend!r} in {uri.masked!r}; "
        f"installed: {', '.join(available) or '(none)'}"
    )
    if suggestion:
        msg += f"; did you mean {suggestion!r}?"
    known = INSTALL_HINTS.get(uri.backend)
    if known:
        msg += f". {uri.backend!r} needs {known[0]}: {known[1]}"
    if broken:
        msg += ". Plugins that failed to load: " + "; ".join(broken)
    else:
        msg += " (the plugin for it may not be installed)"
    return UnknownSchemeError(
        msg, scheme=uri.backend, kind=kind, available=available, suggestion=suggestion
    )


def conflict_error(
    kind: str, uri: StoreURI, labels: Sequence[str], plugins: Sequence[str]
) -> BackendConflictError:
    """The error for a scheme that several plugins claim and none ``replaces``."""
    return BackendConflictError(
        f"{len(labels)} plugins claim the {KIND_NOUN[kind]} scheme {uri.backend!r}: "
        f"{' and '.join(labels)}. Uninstall or disable one "
        "(TRACKYARD_DISABLE_PLUGINS=<name>), or have one declare BackendSpec(replaces=True).",
        scheme=uri.backend,
        kind=kind,
        plugins=list(plugins),
    )


def misspelling_hint(message: str, hook_names: Sequence[str]) -> str:
    """`` (did you mean 'trackyard_x'?)`` for the first unknown hook name in ``message``."""
    for word in message.replace("'", " ").replace('"', " ").split():
        if word.startswith("trackyard_") and word not in hook_names:
            close = difflib.get_close_matches(word, list(hook_names), n=1)
            if close:
                return f" (did you mean {close[0]!r}?)"
    return ""
