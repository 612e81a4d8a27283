"""Adds ``trackyard server`` to the ``trackyard`` command line.

This module is loaded whenever plugins are discovered, so it imports nothing: click and the
command come with :mod:`trackyard_rest.server.cli` when the CLI is built, and FastAPI,
pydantic and uvicorn only when the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackyard import hookimpl

if TYPE_CHECKING:
    import click

__all__ = ["trackyard_cli"]


@hookimpl
def trackyard_cli(cli: click.Group) -> None:
    """Add ``trackyard server``."""
    from trackyard_rest.server.cli import server

    cli.add_command(server)
