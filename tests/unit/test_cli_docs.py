"""docs/cli.md documents every command and option of ``visualsearch``, and no option the command lacks.

Each command has a section headed ``## `visualsearch NAME` ``; every option of the command (both spellings
of a flag, ``--upsert`` and ``--no-upsert``) appears in that section in a code span, and every option a
section names in a code span exists. The commands and options are read from the typer app itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from visualsearch_sdk.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_HEADING = re.compile(r"^## `visualsearch ([a-z-]+)`[ \t]*$", re.MULTILINE)
_OPTION = re.compile(r"`(--[a-z][a-z-]*)")


def sections(text: str) -> dict[str, str]:
    """The text under each ``## `visualsearch NAME` `` heading (up to the next ``## ``), by NAME."""
    found: dict[str, str] = {}
    for match in _HEADING.finditer(text):
        rest = text[match.end() :]
        following = re.search(r"^## ", rest, re.MULTILINE)
        found[match.group(1)] = rest[: following.start()] if following else rest
    return found


def options(command: Any) -> set[str]:
    """Every spelling of every option of ``command`` but ``--help``."""
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, TyperOption):
            names.update(n for n in (*param.opts, *param.secondary_opts) if n.startswith("--"))
    return names - {"--help"}


def mismatches(group: TyperGroup, text: str) -> list[str]:
    """What the CLI has and the page lacks, and what the page names that the CLI lacks."""
    documented = sections(text)
    problems: list[str] = []
    for name, command in sorted(group.commands.items()):
        if name not in documented:
            problems.append(f"no section '## `visualsearch {name}`'")
            continue
        body = documented[name]
        named = set(_OPTION.findall(body))
        actual = options(command)
        where = f"visualsearch {name}"
        problems += [f"{where} {o}: not documented in its section" for o in sorted(actual - named)]
        problems += [f"{where} {o}: documented, but no such option" for o in sorted(named - actual)]
    unknown = sorted(set(documented) - set(group.commands))
    problems += [f"section for unknown command 'visualsearch {name}'" for name in unknown]
    return problems


def cli_group(typer_app: typer.Typer) -> TyperGroup:
    """The click group typer builds (typer >= 0.16 vendors click, so no ``click`` import here)."""
    group = typer.main.get_command(typer_app)
    assert isinstance(group, TyperGroup)
    return group


def test_every_command_and_option_is_documented_and_nothing_else() -> None:
    problems = mismatches(cli_group(app), DOC.read_text(encoding="utf-8"))
    assert not problems, "docs/cli.md is out of date with visualsearch_sdk/cli.py:\n" + "\n".join(problems)


def test_the_check_fails_on_a_new_command_or_option() -> None:
    extra = typer.Typer()

    @extra.command()
    def index(
        source: str,
        url: Annotated[str | None, typer.Option("--url")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run/--no-dry-run")] = False,
    ) -> None: ...

    @extra.command()
    def export(url: Annotated[str | None, typer.Option("--url")] = None) -> None: ...

    problems = mismatches(cli_group(extra), DOC.read_text(encoding="utf-8"))
    assert "visualsearch index --dry-run: not documented in its section" in problems
    assert "visualsearch index --no-dry-run: not documented in its section" in problems
    assert "no section '## `visualsearch export`'" in problems
    assert "visualsearch index --report: documented, but no such option" in problems  # not in the small app


def test_the_check_fails_when_the_page_loses_an_option() -> None:
    text = DOC.read_text(encoding="utf-8")
    body = sections(text)["search"]
    trimmed = text.replace(body, body.replace("`--min-score", "`min-score"))
    assert trimmed != text
    problems = mismatches(cli_group(app), trimmed)
    assert problems == ["visualsearch search --min-score: not documented in its section"]
