"""``trackyard plugins``: installed plugins, their schemes, and what is wrong with them."""

from __future__ import annotations

import click

from trackyard.cli._common import table

__all__ = ["plugins"]


@click.command()
def plugins() -> None:
    """List plugins: versions, schemes, built-in or not, and problems.

    Problems (a plugin that failed to load or returned bad hook results, two plugins claiming
    one scheme, a backend class that does not exist) are listed under the table.
    """
    import textwrap

    from trackyard._doctor import plugin_problems
    from trackyard.plugins import get_plugin_manager

    manager = get_plugin_manager()
    problems = plugin_problems(manager)
    labels: dict[str, str] = {}
    for problem in problems:
        for name in problem.plugins:
            labels.setdefault(name, problem.kind.upper())
    rows = []
    for info in manager.plugins():
        schemes = "; ".join(f"{kind}: {', '.join(s)}" for kind, s in sorted(info.schemes.items()))
        status = labels.get(info.name, "ok")
        rows.append(
            (
                info.name,
                info.distribution or "-",
                info.version or "-",
                "yes" if info.builtin else "no",
                schemes or "-",
                status,
            )
        )
    click.echo(table(["plugin", "distribution", "version", "built-in", "schemes", "status"], rows))
    if problems:
        click.echo(f"\n{len(problems)} problem(s):")
        for problem in problems:
            click.echo(
                textwrap.fill(problem.message, 100, initial_indent="- ", subsequent_indent="  ")
            )
