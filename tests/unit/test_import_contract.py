"""The import directions written in pyproject.toml ([tool.importlinter]) hold.

Each layer imports only the layers below it (cli > app > engine|lab|capture >
targets > report > checks > settings > protocol > facts > errors > models), the protocol core
imports no I/O or clock, and rich/typer stay in cli (rich also in report).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.fail("lint-imports is missing: pip install -e '.[test]' installs import-linter")
    result = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert "4 kept, 0 broken" in result.stdout


def test_a_broken_direction_is_caught(tmp_path: Path) -> None:
    """The contract can fail: a copy of the package where protocol imports the engine."""
    package = tmp_path / "src" / "epmscan"
    shutil.copytree(ROOT / "src" / "epmscan", package)
    towers = package / "protocol" / "towers.py"
    towers.write_text(towers.read_text() + "\nfrom epmscan.engine import transport  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    env = {"PYTHONPATH": str(tmp_path / "src"), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [lint, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode != 0
    assert "epmscan.protocol.towers -> epmscan.engine.transport" in result.stdout
