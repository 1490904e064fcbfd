"""Fuzz the NTLM messages themselves: impacket's parsers under :mod:`.ntlm_security`.

Input (``harness.token_input``): a selector byte (mod 3), then one NTLM message:

- ``challenge``: a server's CHALLENGE to ``NtlmClient.authenticate`` (impacket's
  ``NTLMAuthChallenge``, ``AV_PAIRS``, ``computeResponseNTLMv2`` on hostile bytes);
- ``negotiate``: a client's NEGOTIATE to ``NtlmServer.challenge``;
- ``authenticate``: a client's AUTHENTICATE to ``NtlmServer.accept`` after a CHALLENGE
  with the harness's fixed server challenge.

Seeds: the lab's CHALLENGEs and Samba's (``peer-samba-*``), epmscan's and impacket's
NEGOTIATEs and AUTHENTICATEs (right and wrong passwords, with and without key exchange).
Invariants: only ProtocolError (or its SignatureError) leaves; an AUTHENTICATE the client
builds is an NTLM message of type 3 with a 16-byte encrypted session key when key
exchange was agreed; a CHALLENGE the server builds reads back with its challenge;
``accept`` proves the harness's account or nothing, and only a proved account leaves a
signing context.
"""

from __future__ import annotations

from harness import (
    AUTH_DOMAIN,
    AUTH_ENTROPY,
    AUTH_NOW,
    AUTH_PASSWORD,
    AUTH_SERVER_CHALLENGE,
    AUTH_USER,
    TOKEN_SELECTORS,
    check,
    fuzz_main,
    instrumented,
)

with instrumented(__name__ == "__main__", "impacket.ntlm"):
    from impacket import ntlm

    from epmscan.errors import ProtocolError
    from epmscan.protocol.events import AuthVerifier
    from epmscan.protocol.ntlm_security import NtlmClient, NtlmServer, account_key

ACCOUNTS = {account_key(AUTH_USER, AUTH_DOMAIN): ntlm.compute_nthash(AUTH_PASSWORD)}


def _server() -> NtlmServer:
    return NtlmServer(ACCOUNTS, name="FUZZ", netbios_domain="LAB", dns_domain="lab.test")


def _verifier(token: bytes) -> AuthVerifier:
    return AuthVerifier(10, 5, 0, 1, token)


def _challenge(token: bytes) -> None:
    client = NtlmClient(AUTH_USER, AUTH_DOMAIN, password=AUTH_PASSWORD)
    client.negotiate()
    answer = client.authenticate(_verifier(token), entropy=AUTH_ENTROPY, now=AUTH_NOW)
    message = ntlm.NTLMAuthChallengeResponse()
    message.fromString(answer.value)
    check(message["message_type"] == 3, "our AUTHENTICATE is not of type 3")
    check(client.context is not None, "no signing context after authenticate")
    if message["flags"] & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH:
        check(message["session_key_len"] == 16, "key exchange without a 16-byte key")


def _negotiate(token: bytes) -> None:
    answer = _server().challenge(
        _verifier(token), server_challenge=AUTH_SERVER_CHALLENGE, now=AUTH_NOW
    )
    message = ntlm.NTLMAuthChallenge()
    message.fromString(answer.value)
    check(message["challenge"] == AUTH_SERVER_CHALLENGE, "our CHALLENGE lost its challenge")


def _authenticate(token: bytes) -> None:
    server = _server()
    negotiate = NtlmClient(AUTH_USER, AUTH_DOMAIN, password=AUTH_PASSWORD).negotiate()
    server.challenge(negotiate, server_challenge=AUTH_SERVER_CHALLENGE, now=AUTH_NOW)
    account = server.accept(_verifier(token))
    check(account is None or account.upper() == f"{AUTH_DOMAIN}\\{AUTH_USER}".upper(), "proved")
    check((account is None) == (server.context is None), "a context without an account")


READERS = {"challenge": _challenge, "negotiate": _negotiate, "authenticate": _authenticate}


def test_one_input(data: bytes) -> None:
    """Hand the message to the reader its selector byte names."""
    if not data:
        return
    try:
        READERS[TOKEN_SELECTORS[data[0] % 3]](data[1:])
    except ProtocolError:
        pass


if __name__ == "__main__":
    fuzz_main(test_one_input)
