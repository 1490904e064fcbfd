"""``epmscan trace`` refuses bad input with one line and exit 2, before sending anything."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("127.113.0.0/24",), "one host"),
        (("127.113.0.5", "--rpc", "mapi,smtp"), "--rpc: unknown interface 'smtp'"),
        (("127.113.0.5", "--rpc", ","), "--rpc: name at least one interface"),
        (("127.113.0.5", "--port", "0"), "--port"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    run = run_cli("trace", *args)
    assert run.returncode == 2, run.describe()
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("epmscan: "), run.describe()
    assert message in lines[0], run.describe()
