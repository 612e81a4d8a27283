"""Hooks of the tee plugin: the ``tee`` tracking scheme and the ``trackyard tee`` commands.

This module imports only trackyard core: the store class is named as a ``"module:Class"``
string and the command group is built only when the CLI asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

if TYPE_CHECKING:
    import click

__all__ = ["SCHEMES", "TRACKING_TARGET", "trackyard_cli", "trackyard_tracking_stores"]

SCHEMES: tuple[str, ...] = ("tee",)
TRACKING_TARGET = "trackyard_tee.store:TeeTrackingStore"


@hookimpl
def trackyard_tracking_stores() -> list[BackendSpec]:
    """Declare the tee tracking store for ``tee:`` URIs."""
    return [BackendSpec(schemes=SCHEMES, target=TRACKING_TARGET)]


@hookimpl
def trackyard_cli(cli: click.Group) -> None:
    """Add ``trackyard tee status|flush|skip``."""
    from trackyard_tee._cli import tee

    cli.add_command(tee)
