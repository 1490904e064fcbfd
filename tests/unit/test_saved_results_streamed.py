"""Saved results in epmscan's own layouts are read a line at a time, into the same models.

``--save``/``--json`` documents and ``--jsonl`` files (also cut short) are read host by
host (a /16 never sits in memory as text and dicts at once); anything else (another
tool's pretty-printed JSON) is decoded whole. Both ways give equal models.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from epmscan.errors import UsageError
from epmscan.report import saved_results
from epmscan.report.order import address_key
from epmscan.report.saved_results import load_saved_run
from epmscan.report.writers import JsonlWriter
from tests.support.report_data import scan_document, synthetic_hosts, write_document_as_epmscan


def document(total: int = 40, answered: int = 6) -> dict[str, object]:
    return scan_document(synthetic_hosts(total, answered, network="127.114.3.0/24"))


def whole(path: Path):  # type: ignore[no-untyped-def]
    """The same file read whole (the way every other file is read)."""
    source = str(path)
    return saved_results._read_whole(path.read_bytes(), source)


def write_jsonl(path: Path, doc: dict) -> None:  # type: ignore[type-arg]
    writer = JsonlWriter(str(path))
    writer.start(doc["epmscan"])
    for host in doc["hosts"]:
        writer.write_host(json.dumps(host), address_key(host["address"]))
    writer.finish(doc["summary"])


@pytest.mark.parametrize("layout", ["document", "jsonl"])
def test_the_streamed_read_equals_the_whole_read(tmp_path: Path, layout: str) -> None:
    doc = document()
    path = tmp_path / f"result.{layout}"
    if layout == "document":
        write_document_as_epmscan(path, doc)
    else:
        write_jsonl(path, doc)
    assert saved_results._epmscan_layout(io.BytesIO(path.read_bytes()))
    streamed = saved_results._read_lines(io.BytesIO(path.read_bytes()), str(path))
    assert streamed == whole(path) == load_saved_run(path)
    assert len(streamed.hosts) == 40 and streamed.info is not None
    assert streamed.summary is not None and streamed.security


def test_other_layouts_are_read_whole(tmp_path: Path) -> None:
    doc = document()
    one_line = tmp_path / "one-line.json"
    one_line.write_text(json.dumps(doc))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(doc, indent=2))
    assert not saved_results._epmscan_layout(io.BytesIO(pretty.read_bytes()))
    for path in (one_line, pretty):
        assert load_saved_run(path) == whole(path)


def test_a_document_cut_short_is_read_by_lines_with_its_note(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    write_document_as_epmscan(path, document())
    text = path.read_text()
    cut = text[: text.index('"127.114.3.20"')]  # inside the 21st host's line
    path.write_text(cut)
    assert saved_results._epmscan_layout(io.BytesIO(path.read_bytes()))
    run = load_saved_run(path)
    assert len(run.hosts) == 20
    assert any("ends inside line" in note for note in run.notes)


def test_a_malformed_host_names_its_number_either_way(tmp_path: Path) -> None:
    doc = document()
    hosts = doc["hosts"]
    assert isinstance(hosts, list)
    hosts[2] = {**hosts[2], "status": "sleeping"}
    path = tmp_path / "bad.json"
    write_document_as_epmscan(path, doc)
    with pytest.raises(UsageError, match=r"host 3 is malformed"):
        load_saved_run(path)
