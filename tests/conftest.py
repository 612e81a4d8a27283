"""Test-wide isolation: only trackyard's own plugins, no inherited URIs, fresh state per test."""

from __future__ import annotations

import os

from trackyard.testing.fixtures import ISOLATED_VARIABLES, isolation

# For what runs at collection time; each test gets the same through the fixture below.
os.environ.setdefault("TRACKYARD_PLUGINS", "trackyard")
for _var in ISOLATED_VARIABLES:
    os.environ.pop(_var, None)

trackyard_isolation = isolation()
