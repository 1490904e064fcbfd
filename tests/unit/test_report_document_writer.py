"""The ``--json``/``--save`` document: hosts by address in a file; on standard output as
they finish, with the summary saying so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from epmscan.report.order import address_key
from epmscan.report.writers import JsonDocumentWriter

HOSTS = ["192.0.2.20", "192.0.2.3", "192.0.2.100"]  # the order they finished


def write(path: str) -> None:
    writer = JsonDocumentWriter(path)
    writer.start({"schema": 2, "command": "scan"})
    for address in HOSTS:
        host = {"target": address, "address": address, "status": "ok"}
        writer.write_host(json.dumps(host), address_key(address))
    writer.finish({"done": len(HOSTS)})


def test_a_file_has_its_hosts_by_address(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write(str(path))
    document = json.loads(path.read_text())
    assert [h["address"] for h in document["hosts"]] == ["192.0.2.3", "192.0.2.20", "192.0.2.100"]
    assert "hosts_sorted" not in document["summary"]


def test_standard_output_streams_and_says_it_is_not_sorted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    write("-")
    document = json.loads(capsys.readouterr().out)
    assert [h["address"] for h in document["hosts"]] == HOSTS
    assert document["summary"]["hosts_sorted"] is False
