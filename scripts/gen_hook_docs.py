#!/usr/bin/env python3
"""Generate the reference parts of the docs from the code, so they cannot drift from it.

Two kinds of generated sections, each between marker comments in a Markdown file::

    <!-- BEGIN GENERATED: <name> (scripts/gen_hook_docs.py) -->
    ...
    <!-- END GENERATED: <name> -->

- ``hooks`` (``docs/plugins/hooks.md``): every hookspec in ``trackyard.plugins.hookspecs``,
  with the signature an implementation copies and its Google-style docstring rendered as
  Markdown; then ``BackendSpec`` and ``Event``.
- ``cli`` (``docs/cli.md``): ``--help`` of every command that comes with trackyard (not those
  plugins add through ``trackyard_cli``), exactly as printed at a width of 100 columns.

Usage::

    python scripts/gen_hook_docs.py          # rewrite the sections in place
    python scripts/gen_hook_docs.py --check  # exit 1, naming the files, when one is stale

``tests/test_docs.py`` runs the check. Hand-written text outside the markers is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

BEGIN = "<!-- BEGIN GENERATED: {name} (scripts/gen_hook_docs.py) -->"
END = "<!-- END GENERATED: {name} -->"

SECTION_FILES = {"hooks": DOCS / "plugins" / "hooks.md", "cli": DOCS / "cli.md"}

_SECTION_TITLES = {
    "Args": "Arguments",
    "Arguments": "Arguments",
    "Returns": "Returns",
    "Raises": "Raises",
    "Attributes": "Attributes",
    "Yields": "Yields",
}


# -- docstrings -----------------------------------------------------------------------------------
def rst_to_markdown(text: str) -> str:
    """Turn the reStructuredText inline markup used in docstrings into Markdown."""
    text = re.sub(r":(?:class|func|meth|mod|data|attr|exc):`~([\w.]+)`", _last_part, text)
    text = re.sub(r":(?:class|func|meth|mod|data|attr|exc):`([^`]+)`", r"`\1`", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _last_part(match: re.Match[str]) -> str:
    return f"`{match.group(1).rsplit('.', 1)[-1]}`"


@dataclasses.dataclass
class Docstring:
    """A Google-style docstring split into its parts."""

    summary: str
    body: list[str]  # paragraphs after the summary
    sections: dict[str, list[tuple[str, str]]]  # "Arguments" -> [(name, text)], name may be ""
    version_added: str | None


def parse_docstring(doc: str | None) -> Docstring:
    """Split a Google-style docstring (summary, paragraphs, sections, versionadded)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary_lines: list[str] = []
    while lines and lines[0].strip():
        summary_lines.append(lines.pop(0).strip())
    body: list[str] = []
    sections: dict[str, list[tuple[str, str]]] = {}
    version: str | None = None
    paragraph: list[str] = []
    section: str | None = None

    def flush() -> None:
        if paragraph:
            body.append(" ".join(paragraph))
            paragraph.clear()

    for line in lines:
        stripped = line.strip()
        match = re.fullmatch(r"\.\. versionadded:: (\S+)", stripped)
        if match:
            flush()
            version, section = match.group(1), None
            continue
        if stripped.endswith(":") and stripped[:-1] in _SECTION_TITLES and not line[0:1].isspace():
            flush()
            section = _SECTION_TITLES[stripped[:-1]]
            sections.setdefault(section, [])
            continue
        if section is not None:
            if not stripped:
                continue
            if not line.startswith(" "):  # back to prose
                section = None
            else:
                indent = len(line) - len(line.lstrip())
                entries = sections[section]
                entry = re.fullmatch(r"([\w., *]+?)(?: \(([^)]*)\))?: (.*)", stripped)
                if section != "Returns" and indent <= 4 and entry:
                    entries.append((entry.group(1), entry.group(3)))
                elif entries:  # a continuation line
                    name, text = entries[-1]
                    entries[-1] = (name, f"{text} {stripped}")
                else:
                    entries.append(("", stripped))
                continue
        if not stripped:
            flush()
        else:
            paragraph.append(stripped)
    flush()
    return Docstring(" ".join(summary_lines), body, sections, version)


# -- hooks ----------------------------------------------------------------------------------------
def hook_functions() -> list[tuple[str, Callable[..., Any]]]:
    """The hookspecs, in the order ``hookspecs.py`` declares them."""
    from trackyard.plugins import hookspecs

    marker = f"{hookspecs.PROJECT}_spec"
    return [
        (name, fn)
        for name, fn in vars(hookspecs).items()
        if name.startswith("trackyard_") and callable(fn) and hasattr(fn, marker)
    ]


def hook_signature(fn: Callable[..., Any]) -> str:
    """``def name(arg: type, ...) -> type: ...`` with annotations as written in the source."""
    sig = inspect.signature(fn)
    params = []
    for p in sig.parameters.values():
        text = p.name
        if p.annotation is not inspect.Parameter.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        params.append(text)
    ret = ""
    if sig.return_annotation is not inspect.Signature.empty:
        ret = f" -> {_annotation(sig.return_annotation)}"
    return f"def {fn.__name__}({', '.join(params)}){ret}: ..."


def _annotation(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _render_entries(title: str, entries: list[tuple[str, str]]) -> Iterator[str]:
    yield f"**{title}**"
    yield ""
    for name, text in entries:
        text = rst_to_markdown(text)
        if name:
            names = ", ".join(f"`{n.strip()}`" for n in name.split(","))
            yield f"- {names}: {text}"
        else:
            yield f"- {text}"
    yield ""


def _render_doc(doc: Docstring) -> Iterator[str]:
    yield rst_to_markdown(doc.summary)
    yield ""
    for paragraph in doc.body:
        yield rst_to_markdown(paragraph)
        yield ""
    for title, entries in doc.sections.items():
        if title == "Returns":
            text = " ".join(t for _, t in entries)
            yield f"**Returns:** {rst_to_markdown(text)}"
            yield ""
        else:
            yield from _render_entries(title, entries)
    if doc.version_added:
        yield f"*Added in trackyard {doc.version_added}.*"
        yield ""


def render_hooks() -> str:
    """The hook reference: every hookspec, then BackendSpec and Event."""
    from trackyard.plugins import hookspecs

    marker = f"{hookspecs.PROJECT}_spec"
    out: list[str] = []
    hooks = hook_functions()
    out += ["| hook | purpose |", "|---|---|"]
    for name, fn in hooks:
        out.append(
            f"| [`{name}`](#{name}) | {rst_to_markdown(parse_docstring(fn.__doc__).summary)} |"
        )
    out.append("")
    for name, fn in hooks:
        opts = getattr(fn, marker)
        out += [f"## {name}", "", "```python", "@hookimpl", hook_signature(fn), "```", ""]
        out += list(_render_doc(parse_docstring(fn.__doc__)))
        if opts.get("firstresult"):
            out += ["Stops at first non-None result.", ""]
        if opts.get("historic"):
            out += ["Historic: plugins registered later are called with the same arguments.", ""]
    for cls in (hookspecs.BackendSpec, hookspecs.Event):
        out += [f"## {cls.__name__}", "", "```python", _dataclass_signature(cls), "```", ""]
        out += list(_render_doc(parse_docstring(cls.__doc__)))
    return "\n".join(out).rstrip() + "\n"


def _dataclass_signature(cls: type) -> str:
    module = cls.__module__.replace(".hookspecs", "")
    if not dataclasses.is_dataclass(cls):  # a plain class: its constructor's parameters
        import inspect

        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        shown = []
        for p in params:
            text = f"{p.name}: {_annotation(p.annotation)}"
            if p.default is not inspect.Parameter.empty:
                text += f" = {p.default!r}"
            shown.append(text)
        return f"{module}.{cls.__name__}({', '.join(shown)})"
    parts = []
    for f in dataclasses.fields(cls):
        text = f"{f.name}: {_annotation(f.type)}"
        if f.default is not dataclasses.MISSING:
            text += f" = {f.default!r}"
        elif f.default_factory is not dataclasses.MISSING:
            text += f" = {f.default_factory()!r}"
        parts.append(text)
    return f"{cls.__module__.replace('.hookspecs', '')}.{cls.__name__}({', '.join(parts)})"


# -- CLI ------------------------------------------------------------------------------------------
def render_cli() -> str:
    """``--help`` of ``trackyard`` and every built-in subcommand, depth first."""
    import click

    from trackyard.cli import cli

    out: list[str] = []

    def walk(cmd: click.Command, name: str, parent: click.Context | None) -> None:
        ctx = click.Context(
            cmd, info_name=name, parent=parent, terminal_width=100, max_content_width=100
        )
        title = ctx.command_path
        out.extend([f"### {title}", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""])
        if isinstance(cmd, click.Group):
            for sub in sorted(cmd.list_commands(ctx)):
                child = cmd.get_command(ctx, sub)
                if child is not None and not child.hidden and _is_core(child):
                    walk(child, sub, ctx)

    walk(cli, "trackyard", None)
    return "\n".join(out).rstrip() + "\n"


def _is_core(cmd: Any) -> bool:
    """Whether a command comes with trackyard itself, not from a plugin's ``trackyard_cli``."""
    module = getattr(cmd.callback, "__module__", "") or ""
    return module == "trackyard" or module.startswith("trackyard.")


RENDERERS: dict[str, Callable[[], str]] = {"hooks": render_hooks, "cli": render_cli}


# -- splicing -------------------------------------------------------------------------------------
def splice(text: str, name: str, content: str) -> str:
    """Replace the generated section ``name`` of ``text`` with ``content``."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    start = text.find(begin)
    stop = text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"markers for section {name!r} not found: add\n{begin}\n{end}")
    return text[: start + len(begin)] + "\n\n" + content + "\n" + text[stop:]


def updated_files() -> dict[Path, tuple[str, str]]:
    """Every file with a generated section: path -> (current text, regenerated text)."""
    result: dict[Path, tuple[str, str]] = {}
    for name, path in SECTION_FILES.items():
        current = result[path][1] if path in result else path.read_text(encoding="utf-8")
        original = result[path][0] if path in result else current
        result[path] = (original, splice(current, name, RENDERERS[name]()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for path, (old, new) in updated_files().items():
        if old != new:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    rel = [str(p.relative_to(ROOT)) for p in stale]
    if args.check:
        if stale:
            print(f"stale generated docs: {', '.join(rel)}; run python scripts/gen_hook_docs.py")
            return 1
        print("generated docs are up to date")
        return 0
    print(f"rewrote {', '.join(rel)}" if rel else "generated docs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
