"""The NTLM security layer: three-leg bind, signed requests and responses, and refusals."""

from __future__ import annotations

import struct

import pytest
from impacket import ntlm

from epmscan.errors import ProtocolError, SignatureError
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    NTLM_SIGNATURE_SIZE,
    PTYPE_AUTH3,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_WINNT,
    RPC_S_ACCESS_DENIED,
    SEC_TRAILER_SIZE,
)
from epmscan.protocol.events import AuthVerifier, Fault, Request, Response
from epmscan.protocol.fragmenting import REQUEST_HEAD, fragment_stub
from epmscan.protocol.ntlm_security import (
    SEC_TRAILER,
    NtlmClient,
    NtlmServer,
    account_key,
    filetime,
)
from epmscan.protocol.pdu_stream import PduBuffer, PduHeader, parse_header
from epmscan.protocol.server_connection import ServerConnection
from tests.support.ntlm import (
    DOMAIN,
    ENTROPY,
    NOW,
    PASSWORD,
    SERVER_CHALLENGE,
    USER,
    authenticated_pair,
    lab_server,
)

STUB = bytes(range(256)) * 40


def fragments(stream: bytes) -> list[tuple[PduHeader, bytes]]:
    buffer = PduBuffer()
    buffer.feed(stream)
    out = []
    while (item := buffer.next_pdu()) is not None:
        out.append(item)
    return out


def test_the_right_password_authenticates_and_calls_are_signed_both_ways() -> None:
    pair = authenticated_pair()
    assert pair.account == f"{DOMAIN}\\{USER}"
    [request] = pair.server.feed(pair.client.request(2, STUB))
    assert isinstance(request, Request)
    assert request.signed is True and request.stub == STUB
    [response] = pair.client.feed(pair.server.response(request.call_id, STUB[::-1]))
    assert isinstance(response, Response) and response.stub == STUB[::-1]


def test_an_nt_hash_authenticates_like_its_password() -> None:
    pair = authenticated_pair(nt_hash=ntlm.compute_nthash(PASSWORD))
    assert pair.account == f"{DOMAIN}\\{USER}"


@pytest.mark.parametrize(
    ("user", "domain", "password"),
    [
        (USER, DOMAIN, "wrong"),
        ("mallory", DOMAIN, PASSWORD),
        (USER, "OTHER", PASSWORD),
    ],
)
def test_wrong_credentials_are_refused(user: str, domain: str, password: str) -> None:
    pair = authenticated_pair(password, user=user, domain=domain)
    assert pair.account is None
    assert pair.ntlm.context is None
    [request] = pair.server.feed(pair.client.request(2, b"x" * 40))
    assert isinstance(request, Request) and request.signed is False


def test_user_and_domain_match_in_any_case() -> None:
    assert authenticated_pair(user="ALICE", domain="lab").account == "lab\\ALICE"


def test_an_account_without_a_domain_matches_the_user_in_any_domain() -> None:
    accounts = {account_key("bob"): ntlm.compute_nthash("pw-bob")}
    server = NtlmServer(accounts, name="H", netbios_domain="LAB", dns_domain="lab.test")
    pair = authenticated_pair("pw-bob", user="bob", domain="ANY", ntlm=server)
    assert pair.account == "ANY\\bob"


def test_a_challenge_is_answered_only_once() -> None:
    pair = authenticated_pair()
    assert pair.ntlm.accept(pair.server.feed(pair.auth3_pdu)[0].auth) is None


def test_the_bind_carries_an_ntlm_negotiate_asking_for_signing() -> None:
    pair = authenticated_pair()
    verifier = pair.bind.auth
    assert verifier is not None
    assert (verifier.auth_type, verifier.auth_level) == (
        RPC_C_AUTHN_WINNT,
        RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    )
    negotiate = ntlm.NTLMAuthNegotiate()
    negotiate.fromString(verifier.value)
    assert negotiate["flags"] & ntlm.NTLMSSP_NEGOTIATE_SIGN
    assert negotiate["flags"] & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY


def test_the_auth3_pdu_reuses_the_binds_call_id_and_carries_the_authenticate() -> None:
    pair = authenticated_pair()
    pdu = pair.auth3_pdu
    header = parse_header(pdu)
    assert header.ptype == PTYPE_AUTH3
    assert header.call_id == pair.bind.call_id
    assert header.frag_length == len(pdu) == 16 + 4 + SEC_TRAILER_SIZE + header.auth_length
    auth_type, level, pad, _, context = SEC_TRAILER.unpack_from(pdu, 20)
    assert (auth_type, level, pad) == (RPC_C_AUTHN_WINNT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, 0)
    assert context == pair.bind.auth.context_id
    assert pdu[28:36] == b"NTLMSSP\0"
    assert struct.unpack_from("<I", pdu, 36)[0] == ntlm.NTLMSSP_AUTH_CHALLENGE_RESPONSE


def test_the_authenticate_depends_only_on_the_entropy_and_clock_given() -> None:
    first, second = authenticated_pair(), authenticated_pair()
    assert first.auth3_pdu == second.auth3_pdu
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    client.negotiate()
    other = client.authenticate(first.ack.auth, entropy=bytes(24), now=NOW)
    assert other.value != first.auth3_pdu[28:]


def test_a_challenge_without_a_timestamp_gets_the_clock_given() -> None:
    server = lab_server()
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    challenge = server.challenge(client.negotiate(), server_challenge=SERVER_CHALLENGE, now=NOW)
    message = ntlm.NTLMAuthChallenge()
    message.fromString(challenge.value)
    pairs = ntlm.AV_PAIRS(message["TargetInfoFields"])
    del pairs[ntlm.NTLMSSP_AV_TIME]
    message["TargetInfoFields"] = pairs.getData()
    message["TargetInfoFields_len"] = message["TargetInfoFields_max_len"] = len(pairs.getData())
    stripped = AuthVerifier(10, 5, 0, 1, message.getData())
    answer = client.authenticate(stripped, entropy=ENTROPY, now=NOW + 3600)
    assert filetime(NOW + 3600) in answer.value
    assert filetime(NOW) not in answer.value


def test_a_tampered_response_does_not_verify() -> None:
    pair = authenticated_pair()
    [request] = pair.server.feed(pair.client.request(2, b"q" * 64))
    answer = bytearray(pair.server.response(request.call_id, b"r" * 64))
    answer[30] ^= 1
    with pytest.raises(SignatureError, match="signature does not verify"):
        pair.client.feed(bytes(answer))


def test_an_unsigned_response_on_an_authenticated_association_is_refused() -> None:
    pair = authenticated_pair()
    [request] = pair.server.feed(pair.client.request(2, b"q" * 64))
    pair.server.signing = None
    with pytest.raises(SignatureError, match="without a signature"):
        pair.client.feed(pair.server.response(request.call_id, b"r" * 64))


def test_a_replayed_response_does_not_verify() -> None:
    pair = authenticated_pair()
    [first] = pair.server.feed(pair.client.request(2, b"a" * 32))
    answer = pair.server.response(first.call_id, b"b" * 32)
    pair.client.feed(answer)
    pair.client.request(2, b"a" * 32, call_id=first.call_id)
    with pytest.raises(SignatureError):
        pair.client.feed(answer)


def test_a_verifier_of_another_context_is_a_protocol_error() -> None:
    pair = authenticated_pair()
    [request] = pair.server.feed(pair.client.request(2, b"q" * 64))
    answer = bytearray(pair.server.response(request.call_id, b"r" * 64))
    struct.pack_into("<I", answer, len(answer) - NTLM_SIGNATURE_SIZE - 4, 99)
    with pytest.raises(ProtocolError, match="context 99") as caught:
        pair.client.feed(bytes(answer))
    assert not isinstance(caught.value, SignatureError)


def test_padding_longer_than_the_stub_is_a_protocol_error() -> None:
    pair = authenticated_pair()
    [request] = pair.server.feed(pair.client.request(2, b"q" * 64))
    answer = bytearray(pair.server.response(request.call_id, b""))
    answer[len(answer) - NTLM_SIGNATURE_SIZE - 6] = 200
    with pytest.raises(ProtocolError, match="auth_pad_length 200"):
        pair.client.feed(bytes(answer))


@pytest.mark.parametrize("max_frag", [64, 100, 1432, 4280])
def test_signed_stubs_survive_any_fragment_size(max_frag: int) -> None:
    pair = authenticated_pair(max_frag=max_frag)
    stream = pair.client.request(2, STUB)
    pieces = fragments(stream)
    assert len(pieces) > 1
    for header, _fragment in pieces:
        assert header.frag_length <= max_frag
        assert header.auth_length == NTLM_SIGNATURE_SIZE
        assert (header.frag_length - 24 - 8 - 16) % 16 == 0
    [request] = pair.server.feed(stream)
    assert request.stub == STUB and request.signed is True
    [response] = pair.client.feed(pair.server.response(request.call_id, STUB))
    assert response.stub == STUB


def test_one_bad_fragment_makes_the_whole_request_unsigned() -> None:
    pair = authenticated_pair(max_frag=100)
    stream = bytearray(pair.client.request(2, STUB[:300]))
    stream[-1] ^= 0xFF
    [request] = pair.server.feed(bytes(stream))
    assert request.signed is False


def test_an_unsigned_request_to_an_authenticated_server_is_unsigned() -> None:
    pair = authenticated_pair()
    anonymous = fragment_stub(REQUEST_HEAD, 0, 9, b"z" * 8, 4280, lambda _o: (0, 2))
    [request] = pair.server.feed(anonymous)
    assert request.signed is False


def test_an_anonymous_request_is_neither_signed_nor_unsigned() -> None:
    server = ServerConnection()
    client = ClientConnection()
    server.feed(client.bind(EPM_INTERFACE))
    [request] = server.feed(client.request(2, b"z" * 8))
    assert request.signed is None


def test_faults_are_taken_unsigned_after_authentication() -> None:
    pair = authenticated_pair()
    [request] = pair.server.feed(pair.client.request(2, b"q" * 8))
    [fault] = pair.client.feed(pair.server.fault(request.call_id, RPC_S_ACCESS_DENIED))
    assert isinstance(fault, Fault) and fault.status == RPC_S_ACCESS_DENIED


def test_the_anonymous_path_is_unchanged() -> None:
    plain, secured = ClientConnection(), ClientConnection()
    assert plain.bind(EPM_INTERFACE) == secured.bind(EPM_INTERFACE)[:72]
    assert plain.request(2, STUB) == fragment_stub(
        REQUEST_HEAD, 0, 2, STUB, 4280, lambda _o: (0, 2)
    )


def test_a_challenge_without_signing_is_a_signature_error() -> None:
    server = lab_server()
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    challenge = server.challenge(client.negotiate(), server_challenge=SERVER_CHALLENGE, now=NOW)
    message = ntlm.NTLMAuthChallenge()
    message.fromString(challenge.value)
    message["flags"] &= ~ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    weak = AuthVerifier(10, 5, 0, 1, message.getData())
    with pytest.raises(SignatureError, match="extended session security"):
        client.authenticate(weak, entropy=ENTROPY, now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        b"",
        b"NTLMSSP\0",
        b"NTLMSSP\0\x02\0\0\0" + b"\xff" * 7,
        b"NTLMSSP\0\x01\0\0\0" + bytes(40),
        b"HTTP/1.1 400",
        b"NTLMSSP\0\x02\0\0\0"
        + bytes(8)
        + struct.pack("<I", 0x00088215)
        + bytes(16)
        + struct.pack("<HHI", 8, 8, 48)
        + b"\x07\0\x08\0\x01",
    ],
)
def test_a_broken_challenge_is_a_protocol_error(token: bytes) -> None:
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    client.negotiate()
    with pytest.raises(ProtocolError):
        client.authenticate(AuthVerifier(10, 5, 0, 1, token), entropy=ENTROPY, now=NOW)


def test_a_challenge_of_another_provider_is_a_protocol_error() -> None:
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    with pytest.raises(ProtocolError, match="auth type 9"):
        client.authenticate(AuthVerifier(9, 5, 0, 1, b"x"), entropy=ENTROPY, now=NOW)


@pytest.mark.parametrize(
    "token", [b"", b"NTLMSSP\0", b"NTLMSSP\0\x03\0\0\0" + b"\xff" * 80, b"garbage"]
)
def test_a_broken_authenticate_is_refused_or_a_protocol_error(token: bytes) -> None:
    server = lab_server()
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    server.challenge(client.negotiate(), server_challenge=SERVER_CHALLENGE, now=NOW)
    try:
        assert server.accept(AuthVerifier(10, 5, 0, 1, token)) is None
    except ProtocolError:
        pass


def test_a_bind_ack_whose_verifier_overlaps_its_results_is_a_protocol_error() -> None:
    client = ClientConnection(security=NtlmClient(USER, DOMAIN, password=PASSWORD))
    server = ServerConnection()
    [bind] = server.feed(client.bind(EPM_INTERFACE))
    ack = bytearray(server.bind_ack(bind, lambda _c: True, "135"))
    struct.pack_into("<H", ack, 10, len(ack) - 20)
    with pytest.raises(ProtocolError, match="leaves no room"):
        client.feed(bytes(ack))


def test_secrets_stay_out_of_reprs() -> None:
    client = NtlmClient(USER, DOMAIN, password=PASSWORD)
    hashed = NtlmClient(USER, DOMAIN, nt_hash=ntlm.compute_nthash(PASSWORD))
    pair = authenticated_pair()
    shown = " ".join(
        repr(x)
        for x in (client, hashed, pair.ntlm, pair.ntlm.context, pair.bind, pair.ack, pair.client)
    )
    assert PASSWORD not in shown
    assert ntlm.compute_nthash(PASSWORD).hex() not in shown
    assert "NTLMSSP" not in shown


def test_credentials_need_exactly_one_secret() -> None:
    with pytest.raises(ValueError):
        NtlmClient(USER, DOMAIN)
    with pytest.raises(ValueError):
        NtlmClient(USER, DOMAIN, password="a", nt_hash=bytes(16))
    with pytest.raises(ValueError):
        NtlmClient(USER, DOMAIN, nt_hash=bytes(15))
    with pytest.raises(ValueError):
        NtlmClient("", DOMAIN, password="a")


def test_a_request_right_behind_the_auth3_in_the_same_bytes_is_verified() -> None:
    client = ClientConnection(security=NtlmClient(USER, DOMAIN, password=PASSWORD))
    server = ServerConnection()
    ntlm_server = lab_server()
    [bind] = server.feed(client.bind(EPM_INTERFACE))
    challenge = ntlm_server.challenge(bind.auth, server_challenge=SERVER_CHALLENGE, now=NOW)
    [ack] = client.feed(server.bind_ack(bind, lambda _c: True, "135", auth=challenge))
    server.ntlm = ntlm_server
    together = client.auth3(ack.auth, entropy=ENTROPY, now=NOW) + client.request(2, STUB)
    auth3, request = server.feed(together)
    assert auth3.account == f"{DOMAIN}\\{USER}"
    assert isinstance(request, Request) and request.signed is True


def test_an_auth3_without_a_challenge_proves_nothing() -> None:
    pair = authenticated_pair()
    [auth3] = ServerConnection().feed(pair.auth3_pdu)
    assert auth3.account is None


def test_an_authenticated_bind_offering_fragments_too_small_to_sign_is_refused() -> None:
    """Found by fuzz_auth_server (regress-crash-1ad3abfb...): a client offering
    max_recv_frag 56 authenticated, and the server's signed response could not be built."""
    client = ClientConnection(security=NtlmClient(USER, DOMAIN, password=PASSWORD))
    bind = bytearray(client.bind(EPM_INTERFACE))
    struct.pack_into("<HH", bind, 16, 56, 56)
    with pytest.raises(ProtocolError, match="too small for signed PDUs"):
        ServerConnection().feed(bytes(bind))


def test_a_bind_ack_offering_fragments_too_small_to_sign_is_refused() -> None:
    client = ClientConnection(security=NtlmClient(USER, DOMAIN, password=PASSWORD))
    server = ServerConnection()
    [bind] = server.feed(client.bind(EPM_INTERFACE))
    ack = bytearray(server.bind_ack(bind, lambda _c: True, "135"))
    struct.pack_into("<HH", ack, 16, 56, 56)
    with pytest.raises(ProtocolError, match="too small for signed PDUs"):
        client.feed(bytes(ack))
    with pytest.raises(ValueError):
        ClientConnection(40, security=NtlmClient(USER, DOMAIN, password=PASSWORD))
