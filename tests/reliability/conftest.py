"""Fixtures of the reliability suite (see tests/reliability/_backends.py for the knobs)."""

from __future__ import annotations

from tests.reliability._backends import persistent_backend

__all__ = ["persistent_backend"]
