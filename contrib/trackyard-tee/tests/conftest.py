"""Each test loads trackyard's plugins and this distribution's, with a fresh plugin state."""

from __future__ import annotations

from trackyard.testing.fixtures import isolation

trackyard_isolation = isolation("trackyard-tee")
