"""Run the ``epmscan`` CLI as a user would: a subprocess, with a timeout, output captured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CliRun:
    """What one ``python -m epmscan ...`` run produced."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as one JSON document."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not JSON ({exc}): {self.describe()}") from exc

    def describe(self) -> str:
        return (
            f"epmscan {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def run_cli(*args: str, timeout: float = 30.0) -> CliRun:
    """``python -m epmscan ARGS``; raises ``subprocess.TimeoutExpired`` past ``timeout``."""
    completed = subprocess.run(
        [sys.executable, "-m", "epmscan", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
    )
    return CliRun(tuple(args), completed.returncode, completed.stdout, completed.stderr)


def dump_json(
    address: str, *, port: int = 135, max_ents: int | None = None, timeout: float = 5.0
) -> dict[str, Any]:
    """``epmscan dump ADDR --port N --json`` that must succeed: its JSON object."""
    args = ["dump", address, "--port", str(port), "--timeout", str(timeout), "--json"]
    if max_ents is not None:
        args += ["--max-ents", str(max_ents)]
    run = run_cli(*args)
    assert run.returncode == 0, run.describe()
    result = run.json()
    assert isinstance(result, dict), run.describe()
    assert result["status"] == "ok" and result["error"] is None, run.describe()
    return result


def jsonl_hosts(text: str) -> list[dict[str, Any]]:
    """The host objects of JSON lines (the ``epmscan`` header and the summary left out)."""
    objects = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [o for o in objects if "epmscan" not in o and "summary" not in o]
