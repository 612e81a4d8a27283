"""The check every suite runs first: the fixture builds the backend it says it tests.

A suite subclass may name the backend it covers as ``covers = "package.module:Class"``
(trackyard's meta-test requires one for every discovered backend). The kit then checks, with
the store the fixture actually built, that:

- it is an instance of the covered class;
- its URI's scheme resolves, through the installed plugins, to that class (a subclass of it),
  so users who open that URI get the backend the suite tested;
- without ``covers``, that it is at least an instance of what its scheme resolves to.

When the scheme is not installed in the test run (a backend tested before it is packaged),
the resolution part is skipped, with the reason.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import pytest

__all__ = ["BackendCheck", "import_target"]


def import_target(target: str) -> type:
    """Import ``"package.module:Class"`` and return the class."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise TypeError(f"{target!r} is not a class")
    return obj


class BackendCheck:
    """Mixin for the suites: ``covers`` and the test that holds the fixture to it."""

    #: The backend class this suite subclass tests, as ``"package.module:Class"``.
    covers: ClassVar[str | None] = None
    #: ``"tracking"``, ``"registry"`` or ``"artifact"``: set by each suite.
    backend_kind: ClassVar[str]

    def _backend_under_test(self, request: pytest.FixtureRequest) -> tuple[object, str | None]:
        """The object the suite's fixture builds, and the URI it was built for."""
        raise NotImplementedError

    def test_fixture_builds_the_backend_its_scheme_resolves_to(
        self, request: pytest.FixtureRequest
    ) -> None:
        from trackyard.errors import UnknownSchemeError
        from trackyard.plugins import get_plugin_manager

        built, uri = self._backend_under_test(request)
        name = type(self).__name__
        covered = import_target(self.covers) if self.covers else None
        if covered is not None:
            assert isinstance(built, covered), (
                f"{name} says it covers {self.covers}, but its fixture built a "
                f"{type(built).__module__}.{type(built).__qualname__}"
            )
        assert uri, f"{name}: the {self.backend_kind} backend its fixture built has no URI"
        try:
            resolved = get_plugin_manager().resolve(self.backend_kind, uri)
        except UnknownSchemeError:
            pytest.skip(f"the scheme of {uri!r} is not installed in this run; nothing to compare")
        assert isinstance(built, resolved), (
            f"{name}: {uri!r} resolves to {resolved.__module__}.{resolved.__qualname__}, but "
            f"the fixture built a {type(built).__module__}.{type(built).__qualname__}"
        )
        if covered is not None:
            assert issubclass(resolved, covered), (
                f"{name} covers {self.covers}, but {uri!r} resolves to "
                f"{resolved.__module__}.{resolved.__qualname__}"
            )
