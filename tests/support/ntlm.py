"""An NTLM-authenticated association in memory: epmscan's client against the lab's server side.

``authenticated_pair()`` runs the three legs (bind with NEGOTIATE, bind_ack with CHALLENGE,
AUTH3 with AUTHENTICATE) between a :class:`ClientConnection` and a
:class:`ServerConnection` with an :class:`NtlmServer`, with fixed random bytes and a fixed
clock unless told otherwise, and returns both ends ready to sign.
"""

from __future__ import annotations

from dataclasses import dataclass

from impacket.ntlm import compute_nthash

from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE
from epmscan.protocol.events import Auth3, BindAck, BindRequest
from epmscan.protocol.ntlm_security import NtlmClient, NtlmServer, account_key
from epmscan.protocol.server_connection import ServerConnection

USER, DOMAIN, PASSWORD = "alice", "LAB", "Correct-Horse-7"
ENTROPY = bytes(range(24))
SERVER_CHALLENGE = b"\x11\x22\x33\x44\x55\x66\x77\x88"
NOW = 1_700_000_000.0


def lab_server(**accounts: str) -> NtlmServer:
    """A server knowing ``LAB\\alice`` (or the ``accounts`` given as user=password)."""
    table = {account_key(USER, DOMAIN): compute_nthash(PASSWORD)}
    if accounts:
        table = {account_key(user, DOMAIN): compute_nthash(pw) for user, pw in accounts.items()}
    return NtlmServer(table, name="EXCAS01", netbios_domain=DOMAIN, dns_domain="lab.test")


@dataclass
class Pair:
    """Both ends of one association, and what the server made of the AUTHENTICATE."""

    client: ClientConnection
    server: ServerConnection
    ntlm: NtlmServer
    account: str | None
    bind: BindRequest
    ack: BindAck
    auth3_pdu: bytes


def authenticated_pair(
    password: str = PASSWORD,
    *,
    nt_hash: bytes | None = None,
    user: str = USER,
    domain: str = DOMAIN,
    ntlm: NtlmServer | None = None,
    max_frag: int = 4280,
) -> Pair:
    """Bind, challenge and AUTH3 between a client and a server; the server signs only when
    the AUTHENTICATE checked out."""
    security = (
        NtlmClient(user, domain, nt_hash=nt_hash)
        if nt_hash is not None
        else NtlmClient(user, domain, password=password)
    )
    client = ClientConnection(max_frag, security=security)
    server = ServerConnection(max_frag)
    ntlm = ntlm or lab_server()
    [bind] = server.feed(client.bind(EPM_INTERFACE))
    assert isinstance(bind, BindRequest) and bind.auth is not None
    challenge = ntlm.challenge(bind.auth, server_challenge=SERVER_CHALLENGE, now=NOW)
    [ack] = client.feed(server.bind_ack(bind, lambda _context: True, "135", auth=challenge))
    assert isinstance(ack, BindAck) and ack.auth is not None
    auth3_pdu = client.auth3(ack.auth, entropy=ENTROPY, now=NOW)
    server.ntlm = ntlm
    [auth3] = server.feed(auth3_pdu)
    assert isinstance(auth3, Auth3)
    assert (server.signing is not None) == (auth3.account is not None)
    return Pair(client, server, ntlm, auth3.account, bind, ack, auth3_pdu)
