"""The trackyard tracking server (FastAPI app, CLI command)."""

from __future__ import annotations
