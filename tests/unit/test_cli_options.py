"""The command line's options: one meaning per short option, and dump's timeouts.

The commands are read from the typer app itself (click's view of it), so a new command
or option is covered as soon as it is registered.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from epmscan.cli import dump as dump_cli
from epmscan.cli.main import app
from epmscan.settings import DUMP_TIMEOUTS, DumpSettings, Timeouts


def short_options() -> dict[str, dict[str, str]]:
    """Short option → {command: the option's long name} over every command."""
    group: Any = typer.main.get_command(app)  # click's (or typer's own copy of click's) group
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for name, command in group.commands.items():
        for param in command.params:
            if param.param_type_name != "option":
                continue
            names = [*param.opts, *param.secondary_opts]
            longs = [n for n in names if n.startswith("--")]
            for short in (n for n in names if not n.startswith("--")):
                found[short][name] = longs[0] if longs else short
    return found


def test_a_short_option_means_the_same_in_every_command() -> None:
    found = short_options()
    assert found, "no short options found: the app was not read"
    for short, by_command in found.items():
        assert len(set(by_command.values())) == 1, f"{short} means {by_command}"
    assert set(found["-c"].values()) == {"--concurrency"}
    assert {"scan", "check"} <= set(found["-c"]) and "lab" not in found["-c"]
    assert found["-t"] == {"dump": "--timeout"}


def test_lab_config_has_no_short_option() -> None:
    result = CliRunner().invoke(app, ["lab", "-c", "site.toml"])
    assert result.exit_code == 2
    assert "No such option: -c" in result.output


class _Stop(Exception):
    """Raised by the stand-in for dump_one once it has the settings."""


@pytest.fixture
def dump_settings(monkeypatch: pytest.MonkeyPatch) -> list[DumpSettings]:
    """The settings ``epmscan dump`` hands to the program layer (nothing is sent)."""
    seen: list[DumpSettings] = []

    def record(settings: DumpSettings) -> None:
        seen.append(settings)
        raise _Stop

    monkeypatch.setattr(dump_cli, "dump_one", record)
    return seen


def dump_timeouts(seen: list[DumpSettings], *args: str) -> Timeouts:
    result = CliRunner().invoke(app, ["dump", "127.108.0.1", *args])
    assert isinstance(result.exception, _Stop), result.output
    return seen.pop().network.timeouts


@pytest.mark.parametrize(
    ("args", "connect", "read"),
    [
        ((), DUMP_TIMEOUTS.connect, DUMP_TIMEOUTS.read),
        (("--connect-timeout", "0.7"), 0.7, DUMP_TIMEOUTS.read),
        (("--read-timeout", "0.9"), DUMP_TIMEOUTS.connect, 0.9),
        (("--connect-timeout", "0.7", "--read-timeout", "0.9"), 0.7, 0.9),
        (("-t", "3"), 3.0, 3.0),
        (("--timeout", "3"), 3.0, 3.0),
        (("-t", "3", "--read-timeout", "0.9"), 3.0, 0.9),
        (("--connect-timeout", "0.7", "-t", "3"), 0.7, 3.0),
        (("-t", "3", "--connect-timeout", "0.7", "--read-timeout", "0.9"), 0.7, 0.9),
    ],
)
def test_dump_timeouts_reach_the_settings(
    dump_settings: list[DumpSettings], args: tuple[str, ...], connect: float, read: float
) -> None:
    timeouts = dump_timeouts(dump_settings, *args)
    assert (timeouts.connect, timeouts.read) == (connect, read)
    assert timeouts.host == DUMP_TIMEOUTS.host
    assert timeouts.resolve == DUMP_TIMEOUTS.resolve


def test_an_explicit_value_equal_to_the_default_still_wins(
    dump_settings: list[DumpSettings],
) -> None:
    given = str(DUMP_TIMEOUTS.connect)
    timeouts = dump_timeouts(dump_settings, "-t", "2", "--connect-timeout", given)
    assert (timeouts.connect, timeouts.read) == (DUMP_TIMEOUTS.connect, 2.0)


@pytest.mark.parametrize("option", ["--connect-timeout", "--read-timeout", "--timeout", "-t"])
def test_dump_timeouts_below_the_floor_are_usage_errors(
    dump_settings: list[DumpSettings], option: str
) -> None:
    result = CliRunner().invoke(app, ["dump", "127.108.0.1", option, "0"])
    assert result.exit_code == 2
    assert dump_settings == []
