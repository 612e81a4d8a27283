"""Plugin discovery, the scheme tables, conflicts and errors, and the typed hook facade.

Discovery is lazy: nothing is loaded until a URI is first resolved (or a hook is first
called). Built-in backends are entry points of the ``trackyard`` group like anyone else's.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pluggy

from trackyard import config
from trackyard.errors import (
    BackendConflictError,
    PluginLoadError,
    UnknownSchemeError,
)
from trackyard.plugins import hookspecs
from trackyard.plugins.hookspecs import BackendSpec, Event
from trackyard.uri import StoreURI

if TYPE_CHECKING:
    import click

__all__ = [
    "KINDS",
    "PluginInfo",
    "PluginManager",
    "PluginWarning",
    "get_plugin_manager",
]

_logger = logging.getLogger("trackyard.plugins")

ENTRY_POINT_GROUP = "trackyard"
OWN_DISTRIBUTION = "trackyard"

KINDS: tuple[str, ...] = ("tracking", "registry", "artifact")
_KIND_HOOK = {
    "tracking": "trackyard_tracking_stores",
    "registry": "trackyard_registry_stores",
    "artifact": "trackyard_artifact_repositories",
}
_KIND_NOUN = {
    "tracking": "tracking store",
    "registry": "model registry store",
    "artifact": "artifact repository",
}

# Schemes trackyard knows of but may not have installed: what to install for them.
_KNOWN_SCHEMES: dict[str, tuple[str, str]] = {
    "postgresql": ("the PostgreSQL driver", 'pip install "trackyard[postgres]"'),
    "mysql": ("the MySQL driver", 'pip install "trackyard[mysql]"'),
    "duckdb": ("the DuckDB plugin", 'pip install "trackyard[duckdb]"'),
    "http": ("the REST plugin", 'pip install "trackyard[server]"'),
    "https": ("the REST plugin", 'pip install "trackyard[server]"'),
    "s3": ("the S3 plugin", 'pip install "trackyard[s3]"'),
    "gs": ("the GCS plugin", 'pip install "trackyard[gcs]"'),
    "gcs": ("the GCS plugin", 'pip install "trackyard[gcs]"'),
    "mlflow-artifacts": ("the REST plugin", 'pip install "trackyard[server]"'),
}


class PluginWarning(UserWarning):
    """A plugin could not be loaded or misbehaved; other plugins keep working."""


@dataclass
class PluginInfo:
    """What ``trackyard plugins`` shows about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    schemes: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        """``name`` plus its distribution and version, for messages."""
        if self.distribution:
            version = f" {self.version}" if self.version else ""
            return f"plugin {self.name!r} (distribution {self.distribution}{version})"
        return f"plugin {self.name!r}"


@dataclass(frozen=True)
class _Claim:
    spec: BackendSpec
    plugin: str


class PluginManager:
    """Loads plugins and answers "which class handles this URI?".

    Args:
        load_entry_points: discover plugins of the ``trackyard`` entry-point group on first
            use (False gives an empty manager, for tests and embedding).
    """

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._load_entry_points = load_entry_points
        self._lock = threading.RLock()
        self._loaded = False
        self._plugins: dict[str, PluginInfo] = {}
        self._tables: dict[str, dict[str, list[_Claim]]] | None = None
        self._fallbacks: dict[str, list[_Claim]] = {}
        self._classes: dict[tuple[str, str], type] = {}
        self._runtime_specs: list[tuple[str, BackendSpec, str]] = []

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> None:
        """Discover and register plugins once (thread-safe; later calls do nothing)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._load_entry_points:
                self._load_from_entry_points()
            self._check_pending()
            self._loaded = True

    def _load_from_entry_points(self) -> None:
        from importlib.metadata import entry_points

        allow = config.plugin_allowlist()
        block = config.plugin_blocklist()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            names = {ep.name, dist} - {None}
            if allow is not None and not names & allow:
                continue
            if names & block:
                continue
            if ep.name in self._plugins:
                continue
            info = PluginInfo(
                name=ep.name,
                distribution=dist,
                version=version,
                module=ep.value,
                builtin=dist is not None and _normalize(dist) == OWN_DISTRIBUTION,
            )
            self._plugins[ep.name] = info
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self._mark_broken(info, f"failed to import {ep.value!r}: {exc!r}")
                continue
            self._register_object(plugin, info)

    def _register_object(self, plugin: object, info: PluginInfo) -> None:
        if isinstance(plugin, type) and any(
            callable(getattr(plugin, h, None)) for h in _hook_names()
        ):
            # Hook functions on a class are methods; pluggy would see unbound functions.
            self._mark_broken(
                info,
                "is a class; register an instance or a module "
                f"(did you forget the () in {info.module}?)",
            )
            return
        try:
            if self._pm.is_registered(plugin):
                return
            self._pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy validates hookimpl signatures here
            self._mark_broken(info, f"was rejected by the hook validator: {exc}")
            return
        info.hooks = sorted(
            {
                impl.function.__name__
                for c in self._pm.get_hookcallers(plugin) or []
                for impl in c.get_hookimpls()
                if impl.plugin_name == info.name
            }
        )
        self._tables = None

    def _check_pending(self) -> None:
        """Run pluggy's check for misspelled hooks; the offending plugin is unloaded."""
        strict = os.environ.get("TRACKYARD_STRICT_PLUGINS", "").lower() in ("1", "true", "yes")
        while True:
            try:
                self._pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                if strict:
                    raise
                name = self._pm.get_name(exc.plugin) or repr(exc.plugin)
                self._pm.unregister(exc.plugin)
                info = self._plugins.setdefault(name, PluginInfo(name=name))
                hint = _misspelling_hint(str(exc))
                self._mark_broken(info, f"implements an unknown hook: {exc}{hint}")
                self._tables = None

    def _mark_broken(self, info: PluginInfo, problem: str) -> None:
        info.error = problem
        message = f"trackyard {info.label} {problem}; its schemes are unavailable."
        _logger.warning(message)
        warnings.warn(message, PluginWarning, stacklevel=4)

    def register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register a plugin object (module or instance) in-process, without packaging."""
        self.load()
        with self._lock:
            info = PluginInfo(
                name=name,
                distribution=distribution,
                version=version,
                module=getattr(plugin, "__name__", type(plugin).__name__),
            )
            self._plugins[name] = info
            self._register_object(plugin, info)
            self._check_pending()

    def unregister(self, name: str) -> None:
        """Remove a plugin registered by name (entry point or :meth:`register`)."""
        with self._lock:
            plugin = self._pm.get_plugin(name)
            if plugin is not None:
                self._pm.unregister(plugin)
            self._plugins.pop(name, None)
            self._runtime_specs = [r for r in self._runtime_specs if r[2] != name]
            self._tables = None
            self._classes.clear()

    def register_backend(self, kind: str, spec: BackendSpec, *, plugin: str = "runtime") -> None:
        """Add one backend in-process, as if a plugin named ``plugin`` declared it."""
        _check_kind(kind)
        with self._lock:
            self._runtime_specs.append((kind, spec, plugin))
            self._plugins.setdefault(plugin, PluginInfo(name=plugin, module="(in-process)"))
            self._tables = None

    # -- scheme tables -----------------------------------------------------------------------
    def _build_tables(self) -> dict[str, dict[str, list[_Claim]]]:
        self.load()
        with self._lock:
            if self._tables is not None:
                return self._tables
            tables: dict[str, dict[str, list[_Claim]]] = {k: {} for k in KINDS}
            fallbacks: dict[str, list[_Claim]] = {k: [] for k in KINDS}
            for info in self._plugins.values():
                info.schemes = {}
            for kind in KINDS:
                caller = getattr(self._pm.hook, _KIND_HOOK[kind])
                for impl in caller.get_hookimpls():
                    info = self._plugins.setdefault(
                        impl.plugin_name, PluginInfo(name=impl.plugin_name)
                    )
                    for spec in self._collect_specs(info, kind, impl):
                        self._add_claim(tables, fallbacks, kind, spec, info.name)
            for kind, spec, plugin in self._runtime_specs:
                self._add_claim(tables, fallbacks, kind, spec, plugin)
            self._tables = tables
            self._fallbacks = fallbacks
            return tables

    def _collect_specs(self, info: PluginInfo, kind: str, impl: Any) -> list[BackendSpec]:
        hook = _KIND_HOOK[kind]
        try:
            result = impl.function()
        except Exception as exc:
            self._mark_broken(info, f"raised in {hook}(): {exc!r}")
            return []
        if result is None:
            return []
        if isinstance(result, BackendSpec):
            self._mark_broken(
                info, f"returned one BackendSpec from {hook}(); return a list of them"
            )
            return []
        try:
            specs = list(result)
        except TypeError:
            specs = [result]
        bad = [s for s in specs if not isinstance(s, BackendSpec)]
        if bad:
            self._mark_broken(
                info,
                f"returned {type(bad[0]).__name__} from {hook}(); expected an iterable of "
                "trackyard.plugins.BackendSpec",
            )
            return []
        return specs

    def _add_claim(
        self,
        tables: dict[str, dict[str, list[_Claim]]],
        fallbacks: dict[str, list[_Claim]],
        kind: str,
        spec: BackendSpec,
        plugin: str,
    ) -> None:
        claim = _Claim(spec, plugin)
        info = self._plugins.get(plugin)
        if spec.fallback:
            fallbacks[kind].append(claim)
        for scheme in spec.schemes:
            claims = tables[kind].setdefault(scheme, [])
            if not any(c.spec.target == spec.target for c in claims):
                claims.append(claim)
            if info is not None:
                info.schemes.setdefault(kind, [])
                if scheme not in info.schemes[kind]:
                    info.schemes[kind].append(scheme)

    def schemes(self, kind: str) -> list[str]:
        """The schemes installed for ``kind`` (``"tracking"``, ``"registry"``, ``"artifact"``)."""
        _check_kind(kind)
        return sorted(self._build_tables()[kind])

    def scheme_table(self, kind: str) -> Mapping[str, tuple[str, ...]]:
        """A read-only view: scheme → the plugins that claim it."""
        _check_kind(kind)
        table = self._build_tables()[kind]
        return MappingProxyType({s: tuple(c.plugin for c in cs) for s, cs in table.items()})

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or broken, with the schemes it contributes."""
        self._build_tables()
        return sorted(self._plugins.values(), key=lambda p: (not p.builtin, p.name))

    def conflicts(self, kind: str) -> Mapping[str, tuple[str, ...]]:
        """A read-only view: scheme → the plugins whose claims on it conflict.

        A scheme is listed when two or more plugins claim it with different targets and not
        exactly one of them says ``replaces=True``; resolving such a scheme raises
        :class:`~trackyard.errors.BackendConflictError`. Other schemes are unaffected.
        """
        _check_kind(kind)
        table = self._build_tables()[kind]
        found: dict[str, tuple[str, ...]] = {}
        for scheme, claims in sorted(table.items()):
            contenders = _contenders(claims)
            if contenders:
                found[scheme] = tuple(c.plugin for c in contenders)
        return MappingProxyType(found)

    # -- resolution --------------------------------------------------------------------------
    def resolve(self, kind: str, uri: str | StoreURI) -> type:
        """Return the backend class for ``uri``.

        Raises:
            UnknownSchemeError: no plugin handles the scheme.
            BackendConflictError: two plugins claim it and neither ``replaces`` the other.
            PluginLoadError: the class could not be imported.
        """
        _check_kind(kind)
        parsed = uri if isinstance(uri, StoreURI) else StoreURI.parse(uri)
        tables = self._build_tables()
        claim = self._choose(kind, parsed, tables[kind].get(parsed.backend, []))
        return self._import(kind, claim, parsed)

    def provider(self, kind: str, uri: str | StoreURI) -> PluginInfo:
        """Return the plugin whose backend :meth:`resolve` picks for ``uri``.

        Raises:
            UnknownSchemeError, BackendConflictError, PluginLoadError: as :meth:`resolve`.
        """
        _check_kind(kind)
        parsed = uri if isinstance(uri, StoreURI) else StoreURI.parse(uri)
        claim = self._choose(kind, parsed, self._build_tables()[kind].get(parsed.backend, []))
        return self._plugins.get(claim.plugin) or PluginInfo(name=claim.plugin)

    def _choose(self, kind: str, uri: StoreURI, claims: list[_Claim]) -> _Claim:
        if len(claims) == 1:
            return claims[0]
        if len(claims) > 1:
            contenders = _contenders(claims)
            if not contenders:
                return next(c for c in claims if c.spec.replaces)
            labels = [self._label(c.plugin) for c in contenders]
            raise BackendConflictError(
                f"{len(contenders)} plugins claim the {_KIND_NOUN[kind]} scheme "
                f"{uri.backend!r}: {' and '.join(labels)}. Uninstall or disable one "
                "(TRACKYARD_DISABLE_PLUGINS=<name>), or have one declare "
                "BackendSpec(replaces=True).",
                scheme=uri.backend,
                kind=kind,
                plugins=[c.plugin for c in contenders],
            )
        for claim in self._fallbacks.get(kind, []):
            cls = self._import(kind, claim, uri)
            accepts = getattr(cls, "accepts_scheme", None)
            if callable(accepts) and accepts(uri.backend):
                return claim
        raise self._unknown_scheme(kind, uri)

    def _unknown_scheme(self, kind: str, uri: StoreURI) -> UnknownSchemeError:
        available = self.schemes(kind)
        close = difflib.get_close_matches(uri.backend, available, n=1, cutoff=0.6)
        suggestion = close[0] if close else None
        noun = _KIND_NOUN[kind]
        msg = (
            f"no {noun} for scheme {uri.backend!r} in {uri.masked!r}; "
            f"installed: {', '.join(available) or '(none)'}"
        )
        if suggestion:
            msg += f"; did you mean {suggestion!r}?"
        known = _KNOWN_SCHEMES.get(uri.backend)
        if known:
            msg += f". {uri.backend!r} needs {known[0]}: {known[1]}"
        broken = [p for p in self._plugins.values() if p.error]
        if broken:
            msg += ". Plugins that failed to load: " + "; ".join(
                f"{p.label} {p.error}" for p in broken
            )
        else:
            msg += " (the plugin for it may not be installed)"
        return UnknownSchemeError(
            msg, scheme=uri.backend, kind=kind, available=available, suggestion=suggestion
        )

    def _import(self, kind: str, claim: _Claim, uri: StoreURI) -> type:
        key = (kind, claim.spec.target)
        cls = self._classes.get(key)
        if cls is not None:
            return cls
        module_name, _, attr = claim.spec.target.partition(":")
        label = self._label(claim.plugin)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f" {claim.spec.install_hint}" if claim.spec.install_hint else ""
            raise PluginLoadError(
                f"could not import {claim.spec.target!r} for the {_KIND_NOUN[kind]} scheme "
                f"{uri.backend!r} from {label}: {exc}.{hint}",
                plugin=claim.plugin,
                distribution=self._distribution(claim.plugin),
            ) from exc
        except Exception as exc:  # the backend module itself failed while being imported
            raise PluginLoadError(
                f"importing {module_name!r} for the {_KIND_NOUN[kind]} scheme {uri.backend!r} "
                f"from {label} raised {exc!r}",
                plugin=claim.plugin,
                distribution=self._distribution(claim.plugin),
            ) from exc
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise PluginLoadError(
                    f"{label} names {claim.spec.target!r} for the {_KIND_NOUN[kind]} scheme "
                    f"{uri.backend!r}, but module {module_name!r} has no attribute {part!r}",
                    plugin=claim.plugin,
                    distribution=self._distribution(claim.plugin),
                )
        base = _base_class(kind)
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            raise PluginLoadError(
                f"{label} names {claim.spec.target!r} for the {_KIND_NOUN[kind]} scheme "
                f"{uri.backend!r}, but it is not a subclass of "
                f"{base.__module__}.{base.__qualname__}",
                plugin=claim.plugin,
                distribution=self._distribution(claim.plugin),
            )
        self._classes[key] = obj
        return obj  # type: ignore[no-any-return]

    def install_hint(self, kind: str, uri: str | StoreURI) -> str | None:
        """The install hint of the backend that would handle ``uri``, if any."""
        parsed = uri if isinstance(uri, StoreURI) else StoreURI.parse(uri)
        for claim in self._build_tables()[kind].get(parsed.backend, []):
            if claim.spec.install_hint:
                return claim.spec.install_hint
        known = _KNOWN_SCHEMES.get(parsed.backend)
        return known[1] if known else None

    def _label(self, plugin: str) -> str:
        info = self._plugins.get(plugin)
        return info.label if info else f"plugin {plugin!r}"

    def _distribution(self, plugin: str) -> str | None:
        info = self._plugins.get(plugin)
        return info.distribution if info else None

    # -- the typed hook facade -----------------------------------------------------------------
    def _impls(self, hook: str) -> list[Any]:
        self.load()
        # get_hookimpls() lists implementations in registration order, so when results are
        # merged a later plugin overrides an earlier one.
        return list(getattr(self._pm.hook, hook).get_hookimpls())

    def run_context(self, experiment_id: str) -> dict[str, str]:
        """Merged default tags for a new run; a failing plugin is logged and skipped."""
        merged: dict[str, str] = {}
        for impl in self._impls("trackyard_run_context"):
            result = self._call_isolated(impl, "trackyard_run_context", experiment_id=experiment_id)
            if isinstance(result, Mapping):
                merged.update({str(k): str(v) for k, v in result.items()})
        return merged

    def request_headers(self, uri: str) -> dict[str, str]:
        """Merged HTTP headers for a call to ``uri``; repeated headers are joined by a space."""
        merged: dict[str, str] = {}
        for impl in self._impls("trackyard_request_headers"):
            result = self._call_isolated(impl, "trackyard_request_headers", uri=uri)
            if isinstance(result, Mapping):
                for k, v in result.items():
                    merged[k] = f"{merged[k]} {v}" if k in merged else str(v)
        return merged

    def notify(self, event: Event) -> None:
        """Tell every ``trackyard_on_event`` implementation about a committed change."""
        impls = self._impls("trackyard_on_event")
        for impl in impls:
            self._call_isolated(impl, "trackyard_on_event", event=event)

    def has_event_listeners(self) -> bool:
        """Whether any plugin implements ``trackyard_on_event`` (lets callers skip work)."""
        return bool(self._impls("trackyard_on_event"))

    def extend_cli(self, cli: click.Group) -> None:
        """Let plugins add commands to the CLI."""
        for impl in self._impls("trackyard_cli"):
            self._call_isolated(impl, "trackyard_cli", cli=cli)

    def _call_isolated(self, impl: Any, hook: str, **kwargs: Any) -> Any:
        args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        try:
            return impl.function(**args)
        except Exception as exc:
            _logger.warning(
                "%s raised in %s: %r", self._label(impl.plugin_name), hook, exc, exc_info=True
            )
            return None

    def trace(self, enabled: bool = True) -> None:
        """Log every hook call and result at DEBUG level (``TRACKYARD_TRACE_PLUGINS=1``)."""
        if not enabled:
            return

        def before(hook_name: str, impls: Any, kwargs: Any) -> None:
            _logger.debug("hook %s(%s) -> %d impls", hook_name, kwargs, len(impls))

        def after(outcome: Any, hook_name: str, impls: Any, kwargs: Any) -> None:
            _logger.debug("hook %s returned %r", hook_name, outcome.get_result())

        self._pm.add_hookcall_monitoring(before, after)


def _contenders(claims: list[_Claim]) -> list[_Claim]:
    """The claims on one scheme that conflict; [] when one claim, or one ``replaces``, wins."""
    if len(claims) <= 1:
        return []
    replacing = [c for c in claims if c.spec.replaces]
    if len(replacing) == 1:
        return []
    return replacing or list(claims)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("trackyard_")]


def _misspelling_hint(message: str) -> str:
    for word in message.replace("'", " ").replace('"', " ").split():
        if word.startswith("trackyard_"):
            close = difflib.get_close_matches(word, _hook_names(), n=1)
            if close and close[0] != word:
                return f" (did you mean {close[0]!r}?)"
    return ""


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-")


def _base_class(kind: str) -> type | None:
    from trackyard import stores

    return {
        "tracking": stores.TrackingStore,
        "registry": stores.RegistryStore,
        "artifact": stores.ArtifactRepository,
    }.get(kind)


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager (created on first use)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                manager = PluginManager()
                if os.environ.get("TRACKYARD_TRACE_PLUGINS", "").lower() in ("1", "true"):
                    manager.trace()
                _manager = manager
    return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests use this after changing the environment)."""
    global _manager
    with _manager_lock:
        _manager = None


def iter_backends(kind: str) -> Iterable[tuple[str, str, str]]:
    """Yield ``(scheme, target, plugin)`` for every claim of ``kind``."""
    manager = get_plugin_manager()
    for scheme, claims in sorted(manager._build_tables()[kind].items()):
        for claim in claims:
            yield scheme, claim.spec.target, claim.plugin
