"""``epmscan report``'s command line: a page written in one piece, or one line and exit 2.

No network: the results are written by the tests (``tests/support/report_data.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import CliRun, run_cli
from tests.support.report_data import write_synthetic_scan


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "scan.json"
    write_synthetic_scan(path, 64, 3)
    return path


def assert_usage_error(run: CliRun, *fragments: str) -> None:
    assert run.returncode == 2, run.describe()
    assert run.stdout == "", run.describe()
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("epmscan: "), run.describe()
    for fragment in fragments:
        assert fragment in lines[0], run.describe()


def test_a_page_is_written_and_replaces_the_old_one_whole(result: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("old")
    run = run_cli("report", str(result), "--html", str(page))
    assert run.returncode == 0, run.describe()
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not (tmp_path / "report.html.partial").exists()
    size = round(len(text.encode()) / 1000)
    assert run.stderr.strip() == f"epmscan: wrote {page} ({size} kB): 64 hosts, 3 in full"


def test_the_page_goes_to_standard_output_with_a_dash(result: Path) -> None:
    run = run_cli("report", str(result), "--html", "-")
    assert run.returncode == 0, run.describe()
    assert run.stdout.startswith("<!DOCTYPE html>") and 'data-count="hosts">64<' in run.stdout
    assert run.stderr == ""


def test_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    run = run_cli("report", str(missing), "--html", str(tmp_path / "out.html"))
    assert_usage_error(run, str(missing), "cannot read")
    assert not (tmp_path / "out.html").exists()


def test_not_json(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\nworld\n")
    run = run_cli("report", str(notes), "--html", str(tmp_path / "out.html"))
    assert_usage_error(run, str(notes), "not a saved epmscan result")
    assert not (tmp_path / "out.html").exists()


def test_a_binary_file(tmp_path: Path) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02PNG")
    assert_usage_error(run_cli("report", str(binary), "--html", "-"), "binary")


def test_a_newer_schema(result: Path, tmp_path: Path) -> None:
    document = json.loads(result.read_text())
    document["epmscan"]["schema"] = 99
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(document))
    assert_usage_error(run_cli("report", str(newer), "--html", "-"), "schema 99", "upgrade")


def test_an_output_in_a_missing_folder(result: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.html"
    assert_usage_error(
        run_cli("report", str(result), "--html", str(target)), "--html", "no such directory"
    )


def test_an_output_that_is_a_folder(result: Path, tmp_path: Path) -> None:
    assert_usage_error(
        run_cli("report", str(result), "--html", str(tmp_path)), "--html", "is a directory"
    )


def test_an_unwritable_output(result: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through permissions; a file system that refuses every write:
        target = "/proc/epmscan-report.html"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "out.html")
    run = run_cli("report", str(result), "--html", target)
    assert_usage_error(run, target)


def test_the_output_on_the_result_itself(result: Path) -> None:
    before = result.read_bytes()
    run = run_cli("report", str(result), "--html", str(result))
    assert_usage_error(run, "--html", "that is the result being read")
    assert result.read_bytes() == before


def test_no_output_option(result: Path) -> None:
    assert_usage_error(run_cli("report", str(result)), "--html")
