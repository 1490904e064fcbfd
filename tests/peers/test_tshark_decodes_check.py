"""tshark as the judge of `epmscan check`'s bytes: ept_map, bind probes, RPC over HTTP.

`check` does more than `dump`: after the lookup walk it asks ``ept_map`` for the Exchange
interfaces, binds each interface on each port it resolved, and binds MAPI/RFR/NSPI
behind the ncacn_http greeting on 6001/6002/6004. Wireshark dissects all of it with no
malformed frame and reads the same ports out of the ``ept_map`` towers as epmscan does.
(Wireshark 4.0 has no ncacn_http dissector: the server's side of 6001/6002/6004 starts
with the 14-byte greeting it cannot place, so only our side of those streams is read.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.capture import TsharkCapture, malformed_frames, read_fields
from tests.support.cli import CliRun, jsonl_hosts
from tests.support.lab import RunningLab

pytestmark = pytest.mark.peer

HTTP_INTERFACES = {6001: "MAPI", 6002: "RFR", 6004: "NSPI"}


def test_tshark_decodes_check_against_the_lab(
    tshark: str, lab_epm: RunningLab, epmscan: Callable[..., CliRun], tmp_path: Path
) -> None:
    host = lab_epm.host
    endpoints = host.tcp_endpoints
    rpc_ports = sorted({endpoints[key] for key in ("mapi", "async_mapi", "nspi", "rfr")})
    capture = tmp_path / "check.pcapng"
    with TsharkCapture(tshark, capture, f"host {lab_epm.address}"):
        run = epmscan("check", lab_epm.address, "--port", str(lab_epm.epm_port), "--jsonl", "-")
    assert run.returncode in (0, 1), run.describe()
    (report,) = jsonl_hosts(run.stdout)
    decode_as = [*rpc_ports, *HTTP_INTERFACES]
    assert malformed_frames(tshark, capture, dcerpc_ports=decode_as) == ""

    # ept_map: tshark reads the ports out of the response towers as we do.
    mapped = read_fields(
        tshark,
        capture,
        "epm.opnum == 3 and dcerpc.pkt_type == 2",
        ["epm.proto.tcp_port", "epm.proto.http_port"],
        dcerpc_ports=decode_as,
    )
    tshark_tcp = Counter(int(tcp) for tcp, _ in mapped if tcp)
    tshark_http = Counter(int(http) for _, http in mapped if http)
    ours = [p for p in report["exchange"]["ports"] if p["source"] in ("map", "both")]
    assert tshark_tcp == Counter(
        endpoints[p["interface"]] for p in ours if p["transport"] == "ncacn_ip_tcp"
    )
    assert tshark_http == Counter(p["port"] for p in ours if p["transport"] == "ncacn_http")

    # Each bind probe on a resolved port: our bind and an accepting bind_ack, per tshark.
    acks = read_fields(
        tshark,
        capture,
        "dcerpc.pkt_type == 12 and tcp.srcport != 135",
        ["tcp.srcport", "dcerpc.cn_ack_result"],
        dcerpc_ports=decode_as,
    )
    probes = [p for p in report["exchange"]["ports"] if p["transport"] == "ncacn_ip_tcp"]
    assert Counter(int(port) for port, _ in acks) == Counter(p["port"] for p in probes)
    assert {result for _, result in acks} == {"0"}
    assert {p["probe"] for p in probes} == {"bound"}

    # Behind each greeting, our bind names the interface that port serves.
    binds = read_fields(
        tshark,
        capture,
        "dcerpc.pkt_type == 11 and tcp.dstport >= 6001 and tcp.dstport <= 6004",
        ["tcp.dstport", "dcerpc.cn_bind_to_uuid"],
        dcerpc_ports=decode_as,
    )
    bound_http = {int(port): uuid for port, uuid in binds}
    assert set(bound_http) == set(HTTP_INTERFACES)
    expected_uuid = {
        6001: "a4f1db00-ca47-1067-b31f-00dd010662da",
        6002: "1544f5e0-613c-11d1-93df-00c04fd7bd09",
        6004: "f5cc5a18-4264-101a-8c59-08002b2f8426",
    }
    assert bound_http == expected_uuid
    assert {h["port"]: (h["status"], h["bind"]) for h in report["exchange"]["http"]} == {
        port: ("ncacn_http", "bound") for port in HTTP_INTERFACES
    }
