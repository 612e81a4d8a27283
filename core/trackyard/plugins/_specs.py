"""Spec collection: backend hook results → per-kind scheme tables, with conflicts.

Each plugin's result of a backend hook is checked on its own (:func:`specs_from_result`), so a
plugin that returns the wrong thing loses its own schemes and nobody else's. The tables keep,
for every scheme, each plugin's claim; resolving a scheme picks one claim or reports the
conflict (:func:`contenders`).
"""

from __future__ import annotations

from dataclasses import dataclass

from trackyard.plugins.hookspecs import BackendSpec

__all__ = ["KINDS", "KIND_HOOK", "Claim", "SchemeTables", "contenders", "specs_from_result"]

KINDS: tuple[str, ...] = ("tracking", "registry", "artifact")
KIND_HOOK = {
    "tracking": "trackyard_tracking_stores",
    "registry": "trackyard_registry_stores",
    "artifact": "trackyard_artifact_repositories",
}


@dataclass(frozen=True)
class Claim:
    """One plugin's claim on a scheme: its spec and the plugin's name."""

    spec: BackendSpec
    plugin: str


def specs_from_result(result: object, hook: str) -> list[BackendSpec]:
    """Check what one plugin's backend hook returned.

    Returns:
        The BackendSpecs (none for ``None``).

    Raises:
        ValueError: the result is not an iterable of BackendSpec; the message says what it
            was, for the plugin's author.
    """
    if result is None:
        return []
    if isinstance(result, BackendSpec):
        raise ValueError(f"returned one BackendSpec from {hook}(); return a list of them")
    items: list[object]
    try:
        items = list(result)  # type: ignore[call-overload]
    except TypeError:
        items = [result]
    specs = [s for s in items if isinstance(s, BackendSpec)]
    if len(specs) != len(items):
        bad = next(s for s in items if not isinstance(s, BackendSpec))
        raise ValueError(
            f"returned {type(bad).__name__} from {hook}(); expected an iterable of "
            "trackyard.plugins.BackendSpec"
        )
    return specs


def contenders(claims: list[Claim]) -> list[Claim]:
    """The claims on one scheme that conflict; [] when one claim, or one ``replaces``, wins."""
    if len(claims) <= 1:
        return []
    replacing = [c for c in claims if c.spec.replaces]
    if len(replacing) == 1:
        return []
    return replacing or list(claims)


class SchemeTables:
    """Scheme → claims, per kind, plus the fallback claims asked about unclaimed schemes."""

    def __init__(self) -> None:
        self.claims: dict[str, dict[str, list[Claim]]] = {k: {} for k in KINDS}
        self.fallbacks: dict[str, list[Claim]] = {k: [] for k in KINDS}
        self._by_plugin: dict[str, dict[str, list[str]]] = {}

    def add(self, kind: str, spec: BackendSpec, plugin: str) -> None:
        """Record ``plugin``'s claim; the same target twice for one scheme is kept once."""
        claim = Claim(spec, plugin)
        if spec.fallback:
            self.fallbacks[kind].append(claim)
        for scheme in spec.schemes:
            claims = self.claims[kind].setdefault(scheme, [])
            if not any(c.spec.target == spec.target for c in claims):
                claims.append(claim)
            mine = self._by_plugin.setdefault(plugin, {}).setdefault(kind, [])
            if scheme not in mine:
                mine.append(scheme)

    def get(self, kind: str, scheme: str) -> list[Claim]:
        """The claims on ``scheme`` ([] when nobody claims it)."""
        return self.claims[kind].get(scheme, [])

    def schemes(self, kind: str) -> list[str]:
        """The claimed schemes of ``kind``, sorted."""
        return sorted(self.claims[kind])

    def schemes_of(self, plugin: str) -> dict[str, list[str]]:
        """kind → the schemes ``plugin`` claims, in the order it declared them."""
        return {k: list(v) for k, v in self._by_plugin.get(plugin, {}).items()}

    def conflicts(self, kind: str) -> dict[str, list[Claim]]:
        """scheme → the conflicting claims, for the schemes of ``kind`` in conflict."""
        found: dict[str, list[Claim]] = {}
        for scheme, claims in sorted(self.claims[kind].items()):
            rivals = contenders(claims)
            if rivals:
                found[scheme] = rivals
        return found
