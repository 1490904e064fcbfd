"""ept_map (opnum 3) against Samba's real endpoint mapper, with tshark judging the bytes.

Our request goes out as ``build_map_request`` over a plain socket with our ClientConnection.
The expectations come from elsewhere: impacket's ``hept_map`` and Samba's own
``rpcclient -c epmmap`` asking the same server, the bind that the mapped port accepts, and
Wireshark's EPM dissector reading the captured conversation. The lab's answer to the same
request must dissect as Samba's does (its tower referent ids once started at 1, which
Wireshark reads as aliases of the request's pointers and does not follow).
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from epmscan.models import InterfaceId
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, EPT_S_NOT_REGISTERED, OP_EPT_MAP
from epmscan.protocol.epm_client import MapResponse, build_map_request, decode_map_response
from epmscan.protocol.events import BindAck, Response
from epmscan.protocol.impacket_reference import reference_decode_map_response
from tests.support.bind import bind_once
from tests.support.capture import (
    AGGREGATOR,
    TsharkCapture,
    find_tshark,
    malformed_frames,
    port_filter,
    read_fields,
)
from tests.support.lab import RunningLab
from tests.support.loopback import require_loopback
from tests.support.samba import EPM_PORT, SambaEpm, find_rpcclient

pytestmark = pytest.mark.peer

LSARPC = InterfaceId("12345778-1234-abcd-ef00-0123456789ab", 0, 0)
EMSMDB = InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81)
CAPTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "captures" / "samba-4.17-ept-map.pcapng"
)
WARNING_OR_WORSE = "_ws.expert.severity >= 0x00600000"


def _ept_map(address: str, port: int, interface: InterfaceId, transport: str) -> bytes:
    """Bind to the endpoint mapper and send one ept_map; the response stub."""
    conn = ClientConnection()
    with socket.create_connection((require_loopback(address), port), timeout=5) as sock:

        def next_event() -> object:
            while True:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError(f"{address}:{port} closed the connection")
                events = conn.feed(data)
                if events:
                    return events[0]

        sock.sendall(conn.bind(EPM_INTERFACE))
        ack = next_event()
        assert isinstance(ack, BindAck) and ack.accepted
        sock.sendall(conn.request(OP_EPT_MAP, build_map_request(interface, transport)))
        response = next_event()
        assert isinstance(response, Response), response
        return response.stub


def _map_and_capture(
    tshark: str, path: Path, address: str, port: int, interface: InterfaceId
) -> MapResponse:
    with TsharkCapture(tshark, path, port_filter(address, [port])):
        stub = _ept_map(address, port, interface, "ncacn_ip_tcp")
    response = decode_map_response(stub)
    assert response == reference_decode_map_response(stub)
    return response


def _dissected_map_answers(tshark: str, path: Path, port: int) -> list[list[str]]:
    """Per ept_map response frame: its tower TCP ports and its return code, as tshark reads."""
    return read_fields(
        tshark,
        path,
        "epm.opnum == 3 && dcerpc.pkt_type == 2",
        ["epm.proto.tcp_port", "epm.rc"],
        dcerpc_ports=[port],
    )


def _warnings(tshark: str, path: Path, port: int) -> str:
    args = [tshark, "-r", str(path), "-n", "-Y", WARNING_OR_WORSE]
    if port != 135:
        args[3:3] = ["-d", f"tcp.port=={port},dcerpc"]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout


# --- Samba ----------------------------------------------------------------------------------


def test_samba_maps_lsarpc_for_our_request_as_impacket_and_rpcclient_see_it(
    samba_epm: SambaEpm, tshark: str, capture_dir: Path
) -> None:
    from impacket.dcerpc.v5 import epm
    from impacket.uuid import uuidtup_to_bin

    path = capture_dir / "samba-ept-map.pcapng"
    response = _map_and_capture(tshark, path, samba_epm.address, EPM_PORT, LSARPC)
    assert response.status == 0
    (tower,) = response.towers
    assert (tower.interface, tower.transport, tower.address) == (
        LSARPC,
        "ncacn_ip_tcp",
        samba_epm.address,
    )
    binding = epm.hept_map(
        samba_epm.address, uuidtup_to_bin((LSARPC.uuid, "0.0")), protocol="ncacn_ip_tcp"
    )
    assert binding == f"ncacn_ip_tcp:{samba_epm.address}[{tower.port}]"
    ack = bind_once(samba_epm.address, tower.port or 0, LSARPC)
    assert isinstance(ack, BindAck) and ack.accepted

    assert malformed_frames(tshark, path) == ""
    assert _warnings(tshark, path, EPM_PORT) == ""
    assert _dissected_map_answers(tshark, path, EPM_PORT) == [[str(tower.port), "0x00000000"]]


def test_rpcclient_epmmap_names_the_port_we_decode(samba_epm: SambaEpm) -> None:
    rpcclient = find_rpcclient()
    if rpcclient is None:
        pytest.skip("rpcclient not installed (Debian package: smbclient)")
    response = decode_map_response(_ept_map(samba_epm.address, EPM_PORT, LSARPC, "ncacn_ip_tcp"))
    out = subprocess.run(
        [rpcclient, "-U%", f"ncacn_ip_tcp:{samba_epm.address}", "-c", "epmmap lsarpc ncacn_ip_tcp"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    printed = re.findall(r"tower\[\d+\] ncacn_ip_tcp:([\d.]+)\[(\d+),", out.stdout)
    assert printed == [(t.address, str(t.port)) for t in response.towers], out.stdout


def test_samba_answers_an_unregistered_interface_with_not_registered(
    samba_epm: SambaEpm, tshark: str, capture_dir: Path
) -> None:
    from impacket.dcerpc.v5 import epm
    from impacket.dcerpc.v5.rpcrt import DCERPCException
    from impacket.uuid import uuidtup_to_bin

    path = capture_dir / "samba-ept-map-absent.pcapng"
    response = _map_and_capture(tshark, path, samba_epm.address, EPM_PORT, EMSMDB)
    assert (response.towers, response.status) == ((), EPT_S_NOT_REGISTERED)
    with pytest.raises(DCERPCException) as raised:
        epm.hept_map(
            samba_epm.address, uuidtup_to_bin((EMSMDB.uuid, "0.81")), protocol="ncacn_ip_tcp"
        )
    assert raised.value.get_error_code() == EPT_S_NOT_REGISTERED
    assert malformed_frames(tshark, path) == ""
    assert _dissected_map_answers(tshark, path, EPM_PORT) == [["", f"0x{EPT_S_NOT_REGISTERED:08x}"]]


# --- the lab's answer to the same request ---------------------------------------------------


def test_tshark_follows_the_labs_map_towers(
    lab_epm: RunningLab, tshark: str, capture_dir: Path
) -> None:
    path = capture_dir / "lab-ept-map.pcapng"
    response = _map_and_capture(tshark, path, lab_epm.address, lab_epm.epm_port, EMSMDB)
    assert response.status == 0 and response.towers
    ports = AGGREGATOR.join(str(t.port) for t in response.towers)
    assert malformed_frames(tshark, path, dcerpc_ports=[lab_epm.epm_port]) == ""
    assert _warnings(tshark, path, lab_epm.epm_port) == ""
    assert _dissected_map_answers(tshark, path, lab_epm.epm_port) == [[ports, "0x00000000"]]


# --- the recorded capture, our encoder's bytes spliced in -----------------------------------


def _splice_our_answer(tmp: Path, first_referent: int | None) -> Path:
    """The fixture's first conversation with Samba's lsarpc answer replaced by our encoding."""
    from scapy.layers.inet import TCP
    from scapy.packet import Raw
    from scapy.utils import rdpcap, wrpcap

    from epmscan.protocol.epm_server import encode_map_response

    packets = rdpcap(str(CAPTURE))
    index = next(
        i
        for i, packet in enumerate(packets)
        if TCP in packet
        and packet[TCP].sport == EPM_PORT
        and bytes(packet[TCP].payload)[2:3] == b"\x02"
    )
    packet = packets[index]
    payload = bytes(packet[TCP].payload)
    stub = payload[24:]
    from impacket.dcerpc.v5 import epm

    parsed = epm.ept_mapResponse(stub)
    octets = [b"".join(parsed["ITowers"][0].fields["Data"]["tower_octet_string"])]
    kwargs = {} if first_referent is None else {"first_referent": first_referent}
    ours = encode_map_response(stub[:20], octets, 0, max_count=4, **kwargs)
    assert len(ours) == len(stub)
    tcp = packet[TCP]
    tcp.remove_payload()
    tcp.add_payload(Raw(payload[:24] + ours))
    del tcp.chksum
    path = tmp / f"spliced-{first_referent}.pcap"
    wrpcap(str(path), list(packets[: index + 1]))
    return path


def test_tshark_reads_our_encoding_of_samba_answer_and_flags_aliasing_ids(tmp_path: Path) -> None:
    tshark = find_tshark()
    if tshark is None:
        pytest.skip("tshark not installed (Debian package: tshark)")
    ours = _splice_our_answer(tmp_path, None)
    assert _warnings(tshark, ours, EPM_PORT) == ""
    (answer,) = _dissected_map_answers(tshark, ours, EPM_PORT)
    assert answer[1] == "0x00000000" and answer[0] != ""
    # Tower referent 1 aliases the request's object pointer: Wireshark does not follow it.
    aliasing = _splice_our_answer(tmp_path, 1)
    assert (
        "Long frame"
        in subprocess.run(
            [tshark, "-r", str(aliasing), "-n", "-Y", WARNING_OR_WORSE, "-V"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
