"""Authentication end to end in the engine: the lab that wants NTLM, and servers that refuse it.

Against the lab (``tests/support/auth_lab.py``): anonymous gets ``access_denied``, the
right account the whole dump, wrong ones ``auth_failed``; the Exchange check says
``epm.access_denied`` with a fix that asks for credentials. Against small purpose-built
servers: each way a server refuses an authentication (bind_nak reasons 8 and 9, a fault on
the bind, a bind_ack without a challenge, Samba's ``nca_s_proto_error`` after the AUTH3, a
signature that does not verify) ends in ``auth_failed``, and nothing else does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from impacket import ntlm

from epmscan.checks.findings import build_report
from epmscan.engine.exchange import observe_exchange_host
from epmscan.engine.lookup import dump_host
from epmscan.models import HostResult, HostStatus, PortProbeStatus
from epmscan.protocol.constants import (
    BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED,
    BIND_NAK_INVALID_CHECKSUM,
    BIND_NAK_LOCAL_LIMIT_EXCEEDED,
    EPM_INTERFACE,
    NCA_S_PROTO_ERROR,
    RPC_S_ACCESS_DENIED,
)
from epmscan.protocol.epm_server import encode_lookup_response
from epmscan.protocol.events import Auth3, AuthVerifier, BindRequest, Request
from epmscan.protocol.ntlm_security import NtlmServer, account_key
from epmscan.protocol.server_connection import ServerConnection
from epmscan.settings import Credentials, NetworkSettings, Timeouts
from tests.support.auth_lab import PASSWORD, WRONG_PASSWORD, AuthLab, auth_lab
from tests.support.loopback import free_port

FAST = Timeouts(connect=1.0, read=2.0, host=20.0)
ALICE = Credentials("alice", "LAB", password=PASSWORD)
PREFIX = "127.112.1"
SERVER_ADDRESS = "127.112.1.50"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthLab]:
    with auth_lab(tmp_path_factory.mktemp("authlab"), PREFIX) as running:
        yield running


def dump(lab: AuthLab, address: str, credentials: Credentials | None) -> HostResult:
    network = NetworkSettings(port=lab.epm_port, timeouts=FAST, credentials=credentials)
    return asyncio.run(dump_host(address, address, network))


def registered(lab: AuthLab, address: str) -> list[tuple[str, str, str, int | None]]:
    plan = lab.lab.host(address).plan
    return sorted(
        (e.interface.uuid, e.interface.version, e.transport, e.port) for e in plan.entries
    )


def received(result: HostResult) -> list[tuple[str, str, str, int | None]]:
    return sorted((e.uuid, e.version, e.transport, e.port) for e in result.endpoints)


def test_anonymous_lookup_is_access_denied(lab: AuthLab) -> None:
    result = dump(lab, lab.required, None)
    assert result.status is HostStatus.ACCESS_DENIED
    assert result.fault_status == RPC_S_ACCESS_DENIED
    assert result.endpoints == ()
    assert "rpc_s_access_denied" in (result.error or "")


def test_the_right_password_gets_the_whole_dump(lab: AuthLab) -> None:
    result = dump(lab, lab.required, ALICE)
    assert result.status is HostStatus.OK, result.error
    assert received(result) == registered(lab, lab.required)


def test_the_nt_hash_gets_the_whole_dump(lab: AuthLab) -> None:
    hashed = Credentials("alice", "LAB", nt_hash=ntlm.compute_nthash(PASSWORD))
    result = dump(lab, lab.required, hashed)
    assert result.status is HostStatus.OK, result.error
    assert received(result) == registered(lab, lab.required)


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials("alice", "LAB", password=WRONG_PASSWORD),
        Credentials("mallory", "LAB", password=PASSWORD),
        Credentials("alice", "LAB", nt_hash=bytes(16)),
    ],
    ids=["wrong_password", "unknown_user", "wrong_hash"],
)
def test_wrong_credentials_are_an_authentication_failure(
    lab: AuthLab, credentials: Credentials
) -> None:
    result = dump(lab, lab.required, credentials)
    assert result.status is HostStatus.AUTH_FAILED
    assert result.fault_status == RPC_S_ACCESS_DENIED
    assert "refused the credentials" in (result.error or "")
    assert result.endpoints == ()


def test_a_host_without_the_requirement_answers_both(lab: AuthLab) -> None:
    anonymous, authenticated = dump(lab, lab.open, None), dump(lab, lab.open, ALICE)
    assert anonymous.status is authenticated.status is HostStatus.OK
    assert received(anonymous) == received(authenticated) == registered(lab, lab.open)
    stranger = dump(lab, lab.open, Credentials("mallory", "LAB", password="x"))
    assert stranger.status is HostStatus.AUTH_FAILED


def check(lab: AuthLab, credentials: Credentials | None):  # type: ignore[no-untyped-def]
    network = NetworkSettings(port=lab.epm_port, timeouts=FAST, credentials=credentials)
    observation = asyncio.run(observe_exchange_host(lab.exchange, lab.exchange, network))
    return build_report(observation.host, observation.ports, observation.http)


def test_the_check_asks_for_credentials_where_anonymous_calls_are_refused(lab: AuthLab) -> None:
    report = check(lab, None)
    assert report.host.status is HostStatus.ACCESS_DENIED
    [finding] = [f for f in report.findings if f.code.startswith("epm.")]
    assert finding.code == "epm.access_denied"
    assert finding.found == "access_denied"
    assert "-u DOMAIN\\user" in (finding.fix or "")
    assert "RestrictRemoteClients" in (finding.fix or "")


def test_the_check_with_credentials_resolves_and_binds_every_port(lab: AuthLab) -> None:
    report = check(lab, ALICE)
    assert report.host.status is HostStatus.OK, report.host.error
    assert not [f for f in report.findings if f.code.startswith("epm.")]
    tcp = [p for p in report.ports if p.transport == "ncacn_ip_tcp"]
    assert tcp and all(p.probe is PortProbeStatus.BOUND for p in tcp)


# --- servers that refuse the authentication their own way ---------------------------------

Answer = Callable[[ServerConnection, BindRequest], bytes]


def lab_ntlm() -> NtlmServer:
    accounts = {account_key("alice", "LAB"): ntlm.compute_nthash(PASSWORD)}
    return NtlmServer(accounts, name="HOSTILE", netbios_domain="LAB", dns_domain="lab.test")


def challenge_for(server: NtlmServer, bind: BindRequest) -> AuthVerifier:
    assert bind.auth is not None
    return server.challenge(bind.auth, server_challenge=b"12345678", now=1.7e9)


def run_server(
    on_bind: Answer | None,
    on_request: Callable[[ServerConnection, Request, int], bytes],
    credentials: Credentials | None = ALICE,
) -> HostResult:
    """``dump_host`` against a server answering binds with ``on_bind`` (None: an honest
    bind_ack with the server's NTLM challenge) and requests with ``on_request``."""
    ntlm_server = lab_ntlm()

    def answer_bind(conn: ServerConnection, bind: BindRequest) -> bytes:
        if on_bind is not None:
            return on_bind(conn, bind)
        accept = lambda ctx: ctx.abstract_syntax == EPM_INTERFACE  # noqa: E731
        conn.ntlm = ntlm_server
        return conn.bind_ack(bind, accept, "135", auth=challenge_for(ntlm_server, bind))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConnection()
        calls = 0
        try:
            while data := await reader.read(65536):
                for event in conn.feed(data):
                    if isinstance(event, BindRequest):
                        writer.write(answer_bind(conn, event))
                    elif isinstance(event, Auth3):
                        continue
                    else:
                        calls += 1
                        writer.write(on_request(conn, event, calls))
                await writer.drain()
        finally:
            writer.close()

    async def main() -> HostResult:
        port = free_port([SERVER_ADDRESS])
        server = await asyncio.start_server(handler, SERVER_ADDRESS, port)
        async with server:
            network = NetworkSettings(port=port, timeouts=FAST, credentials=credentials)
            return await dump_host("hostile", SERVER_ADDRESS, network)

    return asyncio.run(main())


def one_page(conn: ServerConnection, request: Request, _calls: int) -> bytes:
    return conn.response(request.call_id, encode_lookup_response(bytes(20), [], 0x16C9A0D6))


@pytest.mark.parametrize(
    "reason", [BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED, BIND_NAK_INVALID_CHECKSUM]
)
def test_a_bind_nak_for_the_security_provider_is_an_authentication_failure(reason: int) -> None:
    result = run_server(lambda conn, bind: conn.bind_nak(bind.call_id, reason), one_page)
    assert result.status is HostStatus.AUTH_FAILED
    assert "bind_nak" in (result.error or "")


def test_another_bind_nak_stays_a_rejected_bind() -> None:
    nak = BIND_NAK_LOCAL_LIMIT_EXCEEDED
    result = run_server(lambda conn, bind: conn.bind_nak(bind.call_id, nak), one_page)
    assert result.status is HostStatus.BIND_REJECTED


def test_an_access_denied_fault_on_the_authenticated_bind_is_an_authentication_failure() -> None:
    result = run_server(lambda conn, bind: conn.fault(bind.call_id, RPC_S_ACCESS_DENIED), one_page)
    assert result.status is HostStatus.AUTH_FAILED
    assert result.fault_status == RPC_S_ACCESS_DENIED


def test_an_access_denied_fault_on_an_anonymous_bind_is_access_denied() -> None:
    result = run_server(
        lambda conn, bind: conn.fault(bind.call_id, RPC_S_ACCESS_DENIED), one_page, None
    )
    assert result.status is HostStatus.ACCESS_DENIED


def test_a_bind_ack_without_a_challenge_is_an_authentication_failure() -> None:
    accept = lambda ctx: ctx.abstract_syntax == EPM_INTERFACE  # noqa: E731
    result = run_server(lambda conn, bind: conn.bind_ack(bind, accept, "135"), one_page)
    assert result.status is HostStatus.AUTH_FAILED
    assert "no NTLM challenge" in (result.error or "")


def test_sambas_protocol_error_after_the_auth3_is_an_authentication_failure() -> None:
    def refuse_first(conn: ServerConnection, request: Request, _calls: int) -> bytes:
        return conn.fault(request.call_id, NCA_S_PROTO_ERROR)

    result = run_server(None, refuse_first)
    assert result.status is HostStatus.AUTH_FAILED
    assert "nca_s_proto_error" in (result.error or "")


def test_a_protocol_error_on_a_later_call_stays_an_rpc_fault() -> None:
    from epmscan.protocol.epm_server import encode_lookup_entry
    from epmscan.protocol.towers import encode_tower

    tower = encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135, address="0.0.0.0")
    entry = encode_lookup_entry("00000000-0000-0000-0000-000000000000", tower, "first")

    def second_fails(conn: ServerConnection, request: Request, calls: int) -> bytes:
        if calls == 1:
            page = encode_lookup_response(b"\0" * 4 + b"h" * 16, [entry], 0)
            return conn.response(request.call_id, page)
        return conn.fault(request.call_id, NCA_S_PROTO_ERROR)

    result = run_server(None, second_fails)
    assert result.status is HostStatus.RPC_FAULT
    assert len(result.endpoints) == 1


def test_a_response_whose_signature_does_not_verify_is_an_authentication_failure() -> None:
    def tampered(conn: ServerConnection, request: Request, _calls: int) -> bytes:
        answer = bytearray(one_page(conn, request, _calls))
        answer[-1] ^= 0x55
        return bytes(answer)

    result = run_server(None, tampered)
    assert result.status is HostStatus.AUTH_FAILED
    assert "signature does not verify" in (result.error or "")


def test_an_unsigned_response_to_a_signed_call_is_an_authentication_failure() -> None:
    def unsigned(conn: ServerConnection, request: Request, _calls: int) -> bytes:
        conn.signing = None
        return one_page(conn, request, _calls)

    result = run_server(None, unsigned)
    assert result.status is HostStatus.AUTH_FAILED
    assert "without a signature" in (result.error or "")


def test_signed_calls_to_a_server_that_verifies_them_succeed() -> None:
    result = run_server(None, one_page)
    assert result.status is HostStatus.OK, result.error
