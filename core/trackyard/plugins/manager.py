"""Plugin discovery and registration, scheme resolution, and the typed hook facade.

Discovery is lazy: nothing is loaded until a URI is first resolved (or a hook is first
called). Built-in backends are entry points of the ``trackyard`` group like anyone else's.

Hooks are called through pluggy, one plugin at a time (``pm.hook.<name>`` narrowed to that
plugin with ``subset_hook_caller``): pluggy applies ``@hookimpl(wrapper=True)`` wrappers and
call monitoring (``TRACKYARD_TRACE_PLUGINS``) to every call, a plugin that raises is reported
without stopping the others, and each result is attributed to the plugin that returned it.
How hook results become scheme tables is in :mod:`trackyard.plugins._specs`; what the errors
say is in :mod:`trackyard.plugins._messages`.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pluggy

from trackyard import config
from trackyard.errors import PluginLoadError
from trackyard.plugins import _messages, hookspecs
from trackyard.plugins._specs import (
    KIND_HOOK,
    KINDS,
    Claim,
    SchemeTables,
    contenders,
    specs_from_result,
)
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
    "reset_plugin_manager",
]

_logger = logging.getLogger("trackyard.plugins")

ENTRY_POINT_GROUP = "trackyard"
OWN_DISTRIBUTION = "trackyard"

# Problems already warned about in this process: a broken plugin is reported once, however
# many plugin managers (one per reset) or scheme-table rebuilds meet it.
_reported: set[str] = set()
_reported_lock = threading.Lock()


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
        self._tables: SchemeTables | None = None
        self._classes: dict[tuple[str, str], type] = {}
        self._runtime_specs: list[tuple[str, BackendSpec, str]] = []
        self._untrace: Any = None
        if os.environ.get("TRACKYARD_TRACE_PLUGINS", "").lower() in ("1", "true", "yes"):
            self.trace()

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
                hint = _messages.misspelling_hint(str(exc), _hook_names())
                self._mark_broken(info, f"implements an unknown hook: {exc}{hint}")
                self._tables = None

    def _mark_broken(self, info: PluginInfo, problem: str) -> None:
        info.error = problem
        message = f"trackyard {info.label} {problem}; its schemes are unavailable."
        with _reported_lock:
            if message in _reported:
                return
            _reported.add(message)
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
    def _build_tables(self) -> SchemeTables:
        self.load()
        with self._lock:
            if self._tables is not None:
                return self._tables
            tables = SchemeTables()
            for kind in KINDS:
                hook = KIND_HOOK[kind]
                for plugin, outcome in self._call_each(hook, {}):
                    info = self._plugins.setdefault(plugin, PluginInfo(name=plugin))
                    if isinstance(outcome, Exception):
                        self._mark_broken(info, f"raised in {hook}(): {outcome!r}")
                        continue
                    try:
                        specs = [s for result in outcome for s in specs_from_result(result, hook)]
                    except ValueError as exc:
                        self._mark_broken(info, str(exc))
                        continue
                    for spec in specs:
                        tables.add(kind, spec, plugin)
            for kind, spec, plugin in self._runtime_specs:
                tables.add(kind, spec, plugin)
            for info in self._plugins.values():
                info.schemes = tables.schemes_of(info.name)
            self._tables = tables
            return tables

    def schemes(self, kind: str) -> list[str]:
        """The schemes installed for ``kind`` (``"tracking"``, ``"registry"``, ``"artifact"``)."""
        _check_kind(kind)
        return self._build_tables().schemes(kind)

    def scheme_table(self, kind: str) -> Mapping[str, tuple[str, ...]]:
        """A read-only view: scheme → the plugins that claim it."""
        _check_kind(kind)
        table = self._build_tables().claims[kind]
        return MappingProxyType({s: tuple(c.plugin for c in cs) for s, cs in table.items()})

    def backends(self, kind: str) -> list[tuple[str, str, str]]:
        """``(scheme, target, plugin)`` for every claim of ``kind``, sorted by scheme."""
        _check_kind(kind)
        table = self._build_tables().claims[kind]
        return [(s, c.spec.target, c.plugin) for s, cs in sorted(table.items()) for c in cs]

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
        found = self._build_tables().conflicts(kind)
        return MappingProxyType({s: tuple(c.plugin for c in cs) for s, cs in found.items()})

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
        return self._import(kind, self._choose(kind, parsed), parsed)

    def provider(self, kind: str, uri: str | StoreURI) -> PluginInfo:
        """Return the plugin whose backend :meth:`resolve` picks for ``uri``.

        Raises:
            UnknownSchemeError, BackendConflictError, PluginLoadError: as :meth:`resolve`.
        """
        _check_kind(kind)
        parsed = uri if isinstance(uri, StoreURI) else StoreURI.parse(uri)
        claim = self._choose(kind, parsed)
        return self._plugins.get(claim.plugin) or PluginInfo(name=claim.plugin)

    def _choose(self, kind: str, uri: StoreURI) -> Claim:
        tables = self._build_tables()
        claims = tables.get(kind, uri.backend)
        if len(claims) == 1:
            return claims[0]
        if len(claims) > 1:
            rivals = contenders(claims)
            if not rivals:
                return next(c for c in claims if c.spec.replaces)
            raise _messages.conflict_error(
                kind, uri, [self._label(c.plugin) for c in rivals], [c.plugin for c in rivals]
            )
        for claim in tables.fallbacks[kind]:
            cls = self._import(kind, claim, uri)
            accepts = getattr(cls, "accepts_scheme", None)
            if callable(accepts) and accepts(uri.backend):
                return claim
        broken = [f"{p.label} {p.error}" for p in self._plugins.values() if p.error]
        raise _messages.unknown_scheme_error(kind, uri, tables.schemes(kind), broken)

    def _import(self, kind: str, claim: Claim, uri: StoreURI) -> type:
        key = (kind, claim.spec.target)
        cls = self._classes.get(key)
        if cls is not None:
            return cls
        module_name, _, attr = claim.spec.target.partition(":")
        label = self._label(claim.plugin)
        noun = _messages.KIND_NOUN[kind]

        def error(message: str) -> PluginLoadError:
            return PluginLoadError(
                message, plugin=claim.plugin, distribution=self._distribution(claim.plugin)
            )

        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f" {claim.spec.install_hint}" if claim.spec.install_hint else ""
            raise error(
                f"could not import {claim.spec.target!r} for the {noun} scheme "
                f"{uri.backend!r} from {label}: {exc}.{hint}"
            ) from exc
        except Exception as exc:  # the backend module itself failed while being imported
            raise error(
                f"importing {module_name!r} for the {noun} scheme {uri.backend!r} "
                f"from {label} raised {exc!r}"
            ) from exc
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise error(
                    f"{label} names {claim.spec.target!r} for the {noun} scheme "
                    f"{uri.backend!r}, but module {module_name!r} has no attribute {part!r}"
                )
        base = _base_class(kind)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise error(
                f"{label} names {claim.spec.target!r} for the {noun} scheme "
                f"{uri.backend!r}, but it is not a subclass of "
                f"{base.__module__}.{base.__qualname__}"
            )
        self._classes[key] = obj
        return obj

    def install_hint(self, kind: str, uri: str | StoreURI) -> str | None:
        """The install hint of the backend that would handle ``uri``, if any."""
        parsed = uri if isinstance(uri, StoreURI) else StoreURI.parse(uri)
        for claim in self._build_tables().get(kind, parsed.backend):
            if claim.spec.install_hint:
                return claim.spec.install_hint
        return _messages.install_hint_for(parsed.backend)

    def _label(self, plugin: str) -> str:
        info = self._plugins.get(plugin)
        return info.label if info else f"plugin {plugin!r}"

    def _distribution(self, plugin: str) -> str | None:
        info = self._plugins.get(plugin)
        return info.distribution if info else None

    # -- calling hooks -------------------------------------------------------------------------
    def _call_each(
        self, hook: str, kwargs: Mapping[str, Any]
    ) -> Iterator[tuple[str, list[Any] | Exception]]:
        """Call ``hook`` through pluggy once per implementing plugin, in registration order.

        Yields ``(plugin name, results)``, or ``(plugin name, exception)`` when the call
        raised. Every wrapper (``wrapper=True``) takes part in every call.
        """
        self.load()
        caller = getattr(self._pm.hook, hook)
        plain = [i for i in caller.get_hookimpls() if not (i.wrapper or i.hookwrapper)]
        for impl in plain:
            one = self._pm.subset_hook_caller(hook, [i.plugin for i in plain if i is not impl])
            try:
                results = one(**kwargs)
            except Exception as exc:
                yield impl.plugin_name, exc
            else:
                yield impl.plugin_name, list(results)

    def _results(self, hook: str, **kwargs: Any) -> Iterator[Any]:
        """The results of ``hook``, plugin by plugin; a plugin that raises is logged, skipped."""
        for plugin, outcome in self._call_each(hook, kwargs):
            if isinstance(outcome, Exception):
                _logger.warning(
                    "%s raised in %s: %r",
                    self._label(plugin),
                    hook,
                    outcome,
                    exc_info=outcome,
                )
                continue
            yield from outcome

    # -- the typed hook facade -----------------------------------------------------------------
    def run_context(self, experiment_id: str) -> dict[str, str]:
        """Merged default tags for a new run; a failing plugin is logged and skipped."""
        merged: dict[str, str] = {}
        for result in self._results("trackyard_run_context", experiment_id=experiment_id):
            if isinstance(result, Mapping):
                merged.update({str(k): str(v) for k, v in result.items()})
        return merged

    def request_headers(self, uri: str) -> dict[str, str]:
        """Merged HTTP headers for a call to ``uri``; repeated headers are joined by a space."""
        merged: dict[str, str] = {}
        for result in self._results("trackyard_request_headers", uri=uri):
            if isinstance(result, Mapping):
                for k, v in result.items():
                    merged[k] = f"{merged[k]} {v}" if k in merged else str(v)
        return merged

    def notify(self, event: Event) -> None:
        """Tell every ``trackyard_on_event`` implementation about a committed change."""
        for _ in self._results("trackyard_on_event", event=event):
            pass

    def has_event_listeners(self) -> bool:
        """Whether any plugin implements ``trackyard_on_event`` (lets callers skip work)."""
        self.load()
        impls = self._pm.hook.trackyard_on_event.get_hookimpls()
        return any(not (i.wrapper or i.hookwrapper) for i in impls)

    def event_entities_wanted(self) -> bool:
        """Whether a listener may read ``event.entity`` after its call returned.

        False when every ``trackyard_on_event`` implementation carries the function
        attribute ``lazy_entity = True`` (it reads the entity, if at all, during the call):
        the client may then leave the entity to be loaded on first access.
        """
        self.load()
        impls = self._pm.hook.trackyard_on_event.get_hookimpls()
        return any(
            not (i.wrapper or i.hookwrapper) and not getattr(i.function, "lazy_entity", False)
            for i in impls
        )

    def extend_cli(self, cli: click.Group) -> None:
        """Let plugins add commands to the CLI."""
        for _ in self._results("trackyard_cli", cli=cli):
            pass

    def trace(self, enabled: bool = True) -> None:
        """Log every hook call and result at DEBUG level (``TRACKYARD_TRACE_PLUGINS=1``)."""
        if not enabled:
            if self._untrace is not None:
                self._untrace()
                self._untrace = None
            return
        if self._untrace is not None:
            return

        def before(hook_name: str, impls: Any, kwargs: Any) -> None:
            args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            plugins = ", ".join(i.plugin_name for i in impls) or "(none)"
            _logger.debug("hook %s(%s) calls %s", hook_name, args, plugins)

        def after(outcome: Any, hook_name: str, impls: Any, kwargs: Any) -> None:
            if outcome.exception is not None:
                _logger.debug("hook %s raised %r", hook_name, outcome.exception)
            else:
                _logger.debug("hook %s returned %r", hook_name, outcome.get_result())

        self._untrace = self._pm.add_hookcall_monitoring(before, after)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("trackyard_")]


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-")


def _base_class(kind: str) -> type:
    from trackyard import stores

    bases: dict[str, type] = {
        "tracking": stores.TrackingStore,
        "registry": stores.RegistryStore,
        "artifact": stores.ArtifactRepository,
    }
    return bases[kind]


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager (created on first use)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = PluginManager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests use this after changing the environment)."""
    global _manager
    with _manager_lock:
        _manager = None
