"""``epmscan pcap FILE [--json]`` as a user runs it: console, JSON, exit codes, hostile text."""

from __future__ import annotations

from pathlib import Path

import pytest

from epmscan.models import InterfaceId
from tests.support.cli import run_cli
from tests.support.synthetic import (
    MAPI,
    Tcp,
    Trace,
    bind_exchange,
    epm_lookup_exchange,
    epm_map_exchange,
    outlook_example,
    tcp_tower,
    write_capture,
)

pytest.importorskip("scapy.utils")

CLIENT, SERVER = "192.0.2.10", "198.51.100.20"
SAMBA_LOOKUPS = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "captures"
    / "samba-4.17-standalone-epm.pcapng"
)


def _filtered_capture(path: Path) -> Path:
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_map_exchange(epm, MAPI, [tcp_tower(MAPI, 60001)])
    epm.close()
    conn = Tcp(trace, CLIENT, 49800, SERVER, 60001)
    for _ in range(3):
        conn.syn()
        trace.wait(3)
    return write_capture(path, trace.records, pcapng=True)


def test_console_tells_the_story(tmp_path: Path) -> None:
    run = run_cli("pcap", str(_filtered_capture(tmp_path / "filtered.pcapng")))
    assert run.returncode == 0, run.describe()
    assert run.stderr == "", run.describe()
    out = run.stdout
    assert f"client {CLIENT} -> server {SERVER}" in out
    assert "ept_map MAPI" in out and "-> ncacn_ip_tcp 60001" in out
    assert "filtered" in out
    assert (
        f"client {CLIENT} asked {SERVER} for MAPI, got port 60001; its 3 SYNs to 60001 got no "
        "answer in 6.0 s: blocked between them"
    ) in " ".join(out.split())


def test_json_document(tmp_path: Path) -> None:
    run = run_cli("pcap", str(_filtered_capture(tmp_path / "filtered.pcapng")), "--json")
    assert run.returncode == 0, run.describe()
    document = run.json()
    assert document["epmscan"]["command"] == "pcap"
    assert document["capture"]["format"] == "pcapng" and document["capture"]["complete"]
    (mapping,) = document["mappings"]
    assert {k: mapping[k] for k in ("client", "server", "uuid", "port", "transport")} == {
        "client": CLIENT,
        "server": SERVER,
        "uuid": MAPI.uuid,
        "port": 60001,
        "transport": "ncacn_ip_tcp",
    }
    assert mapping["interface"] == "[MS-OXCRPC]: Exchange EMSMDB (MAPI)"
    assert isinstance(mapping["frame"], int)
    (call,) = document["epm_calls"]
    assert call["status"] == "0x00000000"
    resolved = [c for c in document["connections"] if c["port"] == 60001]
    assert [(c["outcome"], c["syn_count"], c["interface"]) for c in resolved] == [
        ("filtered", 3, "[MS-OXCRPC]: Exchange EMSMDB (MAPI)")
    ]
    statuses = {(v["interface"], v["status"]) for v in document["verdicts"]}
    assert ("[MS-OXCRPC]: Exchange EMSMDB (MAPI)", "filtered") in statuses
    assert ("endpoint mapper", "ok") in statuses


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "not a pcap or pcapng capture"),
        (b"", "empty file, not a pcap or pcapng capture"),
    ],
    ids=["text", "empty"],
)
def test_not_a_capture_is_one_line_and_exit_2(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    for extra in ((), ("--json",)):
        run = run_cli("pcap", str(path), *extra)
        assert run.returncode == 2, run.describe()
        assert run.stdout == "", run.describe()
        assert run.stderr == f"epmscan: {path}: {message}\n", run.describe()


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    run = run_cli("pcap", str(tmp_path / "absent.pcap"))
    assert run.returncode == 2, run.describe()
    assert run.stderr.count("\n") == 1 and "No such file" in run.stderr, run.describe()


def test_truncated_capture_is_read_with_a_note(tmp_path: Path) -> None:
    path = _filtered_capture(tmp_path / "whole.pcapng")
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(path.read_bytes()[:-50])
    run = run_cli("pcap", str(cut))
    assert run.returncode == 0, run.describe()
    assert "incomplete, see the notes" in run.stdout
    assert "note: " in run.stdout
    document = run_cli("pcap", str(cut), "--json").json()
    assert document["capture"]["complete"] is False and document["notes"]
    assert len(document["mappings"]) == 1


def test_server_text_cannot_drive_the_terminal(tmp_path: Path) -> None:
    evil = InterfaceId("11111111-2222-3333-4444-555555555555", 1, 0)
    trace = Trace()
    epm = Tcp(trace, CLIENT, 49700, SERVER, 135)
    epm.handshake()
    epm_lookup_exchange(epm, [(tcp_tower(evil, 50000), "\x1b[2J\x1b]0;owned\x07\u202eevil")])
    epm.close()
    conn = Tcp(trace, CLIENT, 49800, SERVER, 50000)
    conn.handshake()
    bind_exchange(conn, evil)
    path = write_capture(tmp_path / "evil.pcap", trace.records)
    run = run_cli("pcap", str(path))
    assert run.returncode == 0, run.describe()
    assert "\x1b" not in run.stdout and "\u202e" not in run.stdout and "\x07" not in run.stdout
    assert '"\\x1b[2J\\x1b]0;owned\\x07\\u202eevil"' in run.stdout, run.describe()
    document = run_cli("pcap", str(path), "--json").json()
    assert document["mappings"][0]["annotation"] == "\x1b[2J\x1b]0;owned\x07\u202eevil"


def test_the_samba_lookup_capture_on_the_console() -> None:
    run = run_cli("pcap", str(SAMBA_LOOKUPS))
    assert run.returncode == 0, run.describe()
    assert run.stdout.count("ept_lookup: 38 towers") == 3, run.describe()
    assert "ept_lookup, 38 pages: 38 towers" in run.stdout, run.describe()
    assert "wrong_service" in run.stdout


def _verdict_lines(output: str) -> list[str]:
    """The verdict lines of console output, each with its wrapped continuation joined."""
    verdicts: list[str] = []
    for line in output.splitlines():
        if line.startswith("verdict"):
            verdicts.append(line)
        elif verdicts and line.startswith(" "):
            verdicts[-1] += " " + line.strip()
        elif verdicts:
            break
    return [" ".join(v.split()) for v in verdicts]


def test_the_troubleshooting_example_is_what_the_command_prints(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md").read_text()
    example = doc.split("$ epmscan pcap outlook.pcapng\n", 1)[1].split("```", 1)[0]
    expected = _verdict_lines(example)
    assert len(expected) == 4
    path = write_capture(tmp_path / "outlook.pcapng", outlook_example().records, pcapng=True)
    run = run_cli("pcap", str(path))
    assert run.returncode == 0, run.describe()
    assert _verdict_lines(run.stdout) == expected, run.describe()
    document = run_cli("pcap", str(path), "--json").json()
    (connection,) = [c for c in document["connections"] if c["port"] == 60002]
    fields = ("outcome", "syn_count", "reset_ttl", "reset_source", "server_ttl")
    assert [connection[k] for k in fields] == ["closed", 1, 254, "path", 126]
