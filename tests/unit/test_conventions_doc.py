"""docs/conventions.md has an exit-code row for every command the CLI registers."""

from __future__ import annotations

import re
from pathlib import Path

from epmscan.cli.main import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"


def documented_commands() -> set[str]:
    rows = re.findall(r"^\| `([a-z]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    return set(rows)


def registered_commands() -> set[str]:
    return {command.name for command in app.registered_commands if command.name}


def test_every_command_has_its_exit_codes_written_down() -> None:
    missing = registered_commands() - documented_commands()
    assert not missing, f"add to the exit-code table of docs/conventions.md: {sorted(missing)}"


def test_the_table_names_no_command_that_does_not_exist() -> None:
    extra = documented_commands() - registered_commands()
    assert not extra, sorted(extra)
