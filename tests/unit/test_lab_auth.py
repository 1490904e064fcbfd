"""The lab's NTLM: ``auth`` and ``users`` in lab files, and the gate on one connection."""

from __future__ import annotations

from typing import Any

import pytest
from impacket.ntlm import compute_nthash

from epmscan.errors import LabConfigError
from epmscan.lab import parse_lab
from epmscan.lab.ntlm_gate import NtlmGate
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED,
    BIND_NAK_REASON_NOT_SPECIFIED,
    EPM_INTERFACE,
    RPC_S_ACCESS_DENIED,
)
from epmscan.protocol.events import AuthVerifier, BindRequest, Request
from epmscan.protocol.ntlm_security import NtlmClient
from epmscan.protocol.server_connection import ServerConnection

PASSWORD = "Lab-Passw0rd-z"


def lab(host: dict[str, Any], **lab_keys: Any) -> Any:
    data = {
        "lab": lab_keys,
        "hosts": [{"address": "127.112.5.1", "profile": "windows-member", **host}],
    }
    return parse_lab(data, "lab.toml")


def test_lab_accounts_and_the_hosts_own_are_known_to_the_host() -> None:
    config = lab({"auth": "ntlm", "users": {"bob": "pw-bob"}}, users={"LAB\\alice": PASSWORD})
    host = config.hosts[0]
    assert host.auth == "ntlm"
    assert dict(host.accounts) == {
        "LAB\\ALICE": compute_nthash(PASSWORD),
        "BOB": compute_nthash("pw-bob"),
    }
    assert host.auth_domain == "LAB"


def test_a_host_without_auth_still_knows_the_lab_accounts() -> None:
    host = lab({}, users={"LAB\\alice": PASSWORD}).hosts[0]
    assert host.auth is None and "LAB\\ALICE" in host.accounts


@pytest.mark.parametrize(
    ("host", "lab_keys", "key", "message"),
    [
        ({"auth": "ntlm"}, {}, "hosts[0].auth", "needs test accounts"),
        ({"auth": "kerberos", "users": {"a": "b"}}, {}, "hosts[0].auth", "not one of ntlm"),
        ({"auth": 1, "users": {"a": "b"}}, {}, "hosts[0].auth", "must be a string"),
        ({"users": {"a\\b\\c": "x"}}, {}, "hosts[0].users.a\\b\\c", "is not DOMAIN\\user"),
        ({"users": {"LAB\\": "x"}}, {}, "hosts[0].users.LAB\\", "is not DOMAIN\\user"),
        ({"users": {"alice": ""}}, {}, "hosts[0].users.alice", "non-empty password"),
        ({"users": {"alice": 7}}, {}, "hosts[0].users.alice", "non-empty password"),
        ({"users": ["alice"]}, {}, "hosts[0].users", "must be a table"),
        ({}, {"users": {"alice": ""}}, "lab.users.alice", "non-empty password"),
    ],
)
def test_broken_auth_keys_are_one_line_naming_the_key(
    host: dict[str, Any], lab_keys: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(LabConfigError) as caught:
        lab(host, **lab_keys)
    text = str(caught.value)
    assert text.startswith(f"lab.toml: {key}: ")
    assert message in text
    assert "\n" not in text


def test_the_host_config_never_shows_the_accounts_secrets() -> None:
    host = lab({"auth": "ntlm", "users": {"LAB\\alice": PASSWORD}}).hosts[0]
    shown = repr(host) + str(host)
    assert PASSWORD not in shown
    assert compute_nthash(PASSWORD).hex() not in shown
    assert repr(compute_nthash(PASSWORD)) not in shown


def gate_and_bind(verifier: AuthVerifier | None, auth: bool = True) -> tuple[NtlmGate, Any]:
    keys = {"auth": "ntlm", "users": {"LAB\\alice": PASSWORD}} if auth else {}
    gate = NtlmGate(lab(keys).hosts[0])
    bind = BindRequest(1, 4280, 4280, 0, (), verifier)
    return gate, gate.bind(bind, ServerConnection())


def test_a_bind_of_another_security_provider_is_naked() -> None:
    _, verdict = gate_and_bind(AuthVerifier(16, 5, 0, 1, b"kerberos"))
    assert verdict == BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED
    _, verdict = gate_and_bind(AuthVerifier(9, 5, 0, 1, b"spnego"))
    assert verdict == BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED


def test_ntlm_at_another_level_is_naked() -> None:
    negotiate = NtlmClient("alice", "LAB", password=PASSWORD).negotiate()
    privacy = AuthVerifier(10, 6, 0, 1, negotiate.value)
    assert gate_and_bind(privacy)[1] == BIND_NAK_REASON_NOT_SPECIFIED


def test_an_ntlm_bind_gets_a_challenge() -> None:
    negotiate = NtlmClient("alice", "LAB", password=PASSWORD).negotiate()
    _, verdict = gate_and_bind(negotiate)
    assert isinstance(verdict, AuthVerifier) and verdict.value.startswith(b"NTLMSSP\0\x02")


def anonymous_request(signed: bool | None = None) -> Request:
    return Request(2, 0, 2, b"", None, signed)


def test_anonymous_calls_are_refused_only_where_auth_is_required() -> None:
    gate, _ = gate_and_bind(None)
    refusal = gate.refusal(anonymous_request())
    assert refusal is not None and refusal.status == RPC_S_ACCESS_DENIED and not refusal.close
    open_gate, _ = gate_and_bind(None, auth=False)
    assert open_gate.refusal(anonymous_request()) is None


def test_a_call_after_a_challenge_without_a_good_auth3_is_refused_and_closes() -> None:
    negotiate = NtlmClient("alice", "LAB", password=PASSWORD).negotiate()
    gate, _ = gate_and_bind(negotiate, auth=False)
    refusal = gate.refusal(anonymous_request(signed=False))
    assert refusal is not None and refusal.close


def test_the_whole_exchange_through_the_gate() -> None:
    client = ClientConnection(security=NtlmClient("alice", "LAB", password=PASSWORD))
    server = ServerConnection()
    gate = NtlmGate(lab({"auth": "ntlm", "users": {"LAB\\alice": PASSWORD}}).hosts[0])
    [bind] = server.feed(client.bind(EPM_INTERFACE))
    verdict = gate.bind(bind, server)
    assert isinstance(verdict, AuthVerifier)
    [ack] = client.feed(server.bind_ack(bind, lambda _c: True, "135", auth=verdict))
    [auth3] = server.feed(client.auth3(ack.auth, entropy=bytes(24), now=1.7e9))
    gate.auth3(auth3)
    assert gate.authenticated and gate.user == "LAB\\alice"
    [request] = server.feed(client.request(2, b"x" * 16))
    assert gate.refusal(request) is None
