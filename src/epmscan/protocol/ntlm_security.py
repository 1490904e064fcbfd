"""The NTLM security layer of connection-oriented DCE/RPC, sans I/O ([MS-RPCE] 3.3.1.5.2).

An authenticated association takes three legs: the bind carries an NTLM NEGOTIATE in its
authentication verifier (a sec_trailer, [MS-RPCE] 2.2.2.11, then the token), the
bind_ack an NTLM CHALLENGE, and the client's AUTH3 its AUTHENTICATE; nothing answers the
AUTH3. At packet integrity (``RPC_C_AUTHN_LEVEL_PKT_INTEGRITY``) every request and
response after that ends with its stub padded to 16 bytes, a sec_trailer and a 16-byte
NTLM signature computed over the whole PDU before the signature, header included (its
``frag_length`` and ``auth_length`` already final). Each direction has its own signing
key, RC4 sealing state and sequence number starting at 0, one number per PDU.

impacket's NTLM code does all the cryptography: its message structures
(``getNTLMSSPType1``, ``NTLMAuthChallenge``, ``NTLMAuthChallengeResponse``, ``AV_PAIRS``),
the NTLMv2 response (``computeResponseNTLMv2``), the keys (``KXKEY``,
``generateEncryptedSessionKey``, ``SIGNKEY``, ``SEALKEY``) and the signatures (``SIGN``).
``getNTLMSSPType3`` itself is not used: it draws its client challenge and session key
from :mod:`random` and may read the clock, and this layer has neither. The random bytes
(:data:`CLIENT_ENTROPY_SIZE`: the client challenge, then the exported session key) and
the time are arguments; the engine passes ``os.urandom`` and the wall clock, the lab its
own on the server side.

Both sides speak NTLMv2 with extended session security only (what Windows has negotiated
since Windows 2000 SP4): a CHALLENGE that offers no signing with it is a
:class:`~epmscan.errors.SignatureError`. Bad bytes from the peer, impacket's parsers
included, raise :class:`~epmscan.errors.ProtocolError` (or its subclass
``SignatureError`` for a missing or wrong signature) and nothing else. Secrets (the
password, the NT hash, the keys) live in slots and appear in no repr and no message.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Mapping
from typing import Any

from Cryptodome.Cipher import ARC4
from impacket import ntlm

from epmscan.errors import ProtocolError, SignatureError
from epmscan.protocol.constants import (
    AUTH_PAD_ALIGNMENT,
    DREP_LITTLE_ENDIAN_ASCII_IEEE,
    NTLM_SIGNATURE_SIZE,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    REQUEST_HEADER_SIZE,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_WINNT,
    SEC_TRAILER_SIZE,
)
from epmscan.protocol.events import AuthVerifier
from epmscan.protocol.fragmenting import U16, pdu_name
from epmscan.protocol.pdu_stream import PduHeader

SEC_TRAILER = struct.Struct("<BBBBI")
CLIENT_ENTROPY_SIZE = 24
"""Random bytes one authentication takes: an 8-byte client challenge, a 16-byte session key."""
SERVER_CHALLENGE_SIZE = 8
AUTH_CONTEXT_ID = 1
"""The ``auth_context_id`` epmscan's client puts in its sec_trailers."""
NT_HASH_SIZE = 16
MIN_SIGNED_FRAG = REQUEST_HEADER_SIZE + SEC_TRAILER_SIZE + NTLM_SIGNATURE_SIZE + AUTH_PAD_ALIGNMENT
"""The smallest fragment that carries a signed request or response with stub data in it:
an authenticated bind or bind_ack that offers less is refused."""
_NTLMV2_RESPONSE_MIN = 16 + 28
"""An NTProofStr and the smallest NTLMv2 client blob (no AV pairs)."""
_FILETIME_EPOCH = 116444736000000000
"""1970-01-01 in FILETIME (100-ns intervals since 1601-01-01)."""
_U64 = struct.Struct("<Q")

_OPTIONAL_FLAGS = (
    ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    | ntlm.NTLMSSP_NEGOTIATE_128
    | ntlm.NTLMSSP_NEGOTIATE_56
    | ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH
    | ntlm.NTLMSSP_NEGOTIATE_SEAL
    | ntlm.NTLMSSP_NEGOTIATE_SIGN
    | ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN
)
"""Flags the client asks for and keeps only when the server's CHALLENGE has them too."""
_REQUIRED_FLAGS = ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | ntlm.NTLMSSP_NEGOTIATE_SIGN
_SERVER_FLAGS = (
    _OPTIONAL_FLAGS
    | ntlm.NTLMSSP_NEGOTIATE_UNICODE
    | ntlm.NTLMSSP_NEGOTIATE_NTLM
    | ntlm.NTLMSSP_REQUEST_TARGET
    | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO
)
"""What the lab's server grants of what a NEGOTIATE asks for."""
_SERVER_VERSION = bytes((6, 3)) + (9600).to_bytes(2, "little") + bytes(3) + bytes((15,))
"""The VERSION a CHALLENGE carries: Windows Server 2012 R2 (6.3.9600), NTLM revision 15."""


def filetime(now: float) -> bytes:
    """``now`` (seconds since 1970) as the 8-byte FILETIME of an NTLM timestamp."""
    return _U64.pack(_FILETIME_EPOCH + int(now * 10_000_000))


# --- the verifier at the end of a PDU ------------------------------------------------------


def read_verifier(header: PduHeader, fragment: bytes, body_end: int) -> AuthVerifier | None:
    """The authentication verifier of a PDU whose body ends at ``body_end`` (None when
    ``auth_length`` is 0)."""
    if not header.auth_length:
        return None
    start = header.frag_length - header.auth_length - SEC_TRAILER_SIZE
    if start < body_end:
        raise ProtocolError(
            f"{pdu_name(header.ptype)}: auth_length {header.auth_length} leaves no room for"
            " its body and sec_trailer"
        )
    auth_type, level, pad, _reserved, context_id = SEC_TRAILER.unpack_from(fragment, start)
    value = fragment[start + SEC_TRAILER_SIZE : header.frag_length]
    return AuthVerifier(auth_type, level, pad, context_id, value)


def append_verifier(pdu: bytearray, verifier: AuthVerifier) -> bytes:
    """``pdu`` (a whole PDU, header first) with ``verifier`` after 4-byte padding, and its
    ``frag_length`` and ``auth_length`` set."""
    pad = -len(pdu) % 4
    pdu += bytes(pad)
    pdu += SEC_TRAILER.pack(verifier.auth_type, verifier.auth_level, pad, 0, verifier.context_id)
    pdu += verifier.value
    U16.pack_into(pdu, 8, len(pdu))
    U16.pack_into(pdu, 10, len(verifier.value))
    return bytes(pdu)


def ntlm_verifier(token: bytes, context_id: int = AUTH_CONTEXT_ID) -> AuthVerifier:
    """A verifier carrying an NTLM token at packet integrity."""
    return AuthVerifier(RPC_C_AUTHN_WINNT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, 0, context_id, token)


# --- signing ------------------------------------------------------------------------------


class _Direction:
    """One direction's signing state: its key, its RC4 sealing stream, its sequence number."""

    __slots__ = ("_flags", "_key", "_seal", "sequence")

    def __init__(self, flags: int, session_key: bytes, mode: str) -> None:
        self._flags = flags
        self._key = ntlm.SIGNKEY(flags, session_key, mode)
        sealing_key = ntlm.SEALKEY(flags, session_key, mode)
        self._seal: Callable[[bytes], bytes] = ARC4.new(sealing_key).encrypt
        self.sequence = 0

    def signature(self, message: bytes) -> bytes:
        """The next signature of this direction (the sequence number moves on)."""
        signature: bytes = ntlm.SIGN(
            self._flags, self._key, message, self.sequence & 0x7FFFFFFF, self._seal
        ).getData()
        self.sequence += 1
        return signature

    def __repr__(self) -> str:
        return f"_Direction(sequence={self.sequence})"


class SigningContext:
    """Signs what one side sends and verifies what it receives, once authenticated."""

    __slots__ = ("_receive", "_send", "context_id", "level")

    def __init__(
        self,
        send: _Direction,
        receive: _Direction,
        *,
        context_id: int,
        level: int = RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    ) -> None:
        self._send = send
        self._receive = receive
        self.context_id = context_id
        self.level = level

    def signed_fragments(
        self,
        head: struct.Struct,
        ptype: int,
        call_id: int,
        stub: bytes,
        max_frag: int,
        tail: Callable[[int], tuple[int, ...]],
    ) -> bytes:
        """``stub`` cut into signed request/response fragments of at most ``max_frag``."""
        overhead = head.size + SEC_TRAILER_SIZE + NTLM_SIGNATURE_SIZE
        chunk = (max_frag - overhead) & ~(AUTH_PAD_ALIGNMENT - 1)
        if chunk <= 0:
            raise ProtocolError(
                f"fragment size {max_frag} leaves no room for stub data and a signature"
            )
        trailer = SEC_TRAILER.pack
        out = bytearray()
        total = len(stub)
        offset = 0
        while True:
            piece = stub[offset : offset + chunk]
            pad = -len(piece) % AUTH_PAD_ALIGNMENT
            flags = (PFC_FIRST_FRAG if offset == 0 else 0) | (
                PFC_LAST_FRAG if offset + chunk >= total else 0
            )
            pdu = bytearray(
                head.pack(
                    5,
                    0,
                    ptype,
                    flags,
                    DREP_LITTLE_ENDIAN_ASCII_IEEE,
                    overhead + len(piece) + pad,
                    NTLM_SIGNATURE_SIZE,
                    call_id,
                    total - offset,
                    *tail(offset),
                )
            )
            pdu += piece
            pdu += bytes(pad)
            pdu += trailer(RPC_C_AUTHN_WINNT, self.level, pad, 0, self.context_id)
            pdu += self._send.signature(bytes(pdu))
            out += pdu
            offset += chunk
            if offset >= total:
                return bytes(out)

    def verified_stub(self, header: PduHeader, fragment: bytes, body_offset: int) -> bytes:
        """The stub bytes of a signed fragment, once its signature verified.

        A fragment without a signature, or with one that does not verify, is a
        :class:`SignatureError`; a verifier that is not this association's (another
        type, level or context) or padding longer than the stub a :class:`ProtocolError`.
        """
        name = pdu_name(header.ptype)
        if header.auth_length == 0:
            raise SignatureError(f"{name} without a signature on an authenticated association")
        if header.auth_length != NTLM_SIGNATURE_SIZE:
            raise ProtocolError(f"{name}: auth_length {header.auth_length} is not a signature's")
        end = header.frag_length - NTLM_SIGNATURE_SIZE
        trailer_at = end - SEC_TRAILER_SIZE
        if trailer_at < body_offset:
            raise ProtocolError(f"{name} too short for its sec_trailer ({header.frag_length})")
        auth_type, level, pad, _reserved, context_id = SEC_TRAILER.unpack_from(fragment, trailer_at)
        if (auth_type, level, context_id) != (RPC_C_AUTHN_WINNT, self.level, self.context_id):
            raise ProtocolError(
                f"{name}: verifier of type {auth_type}, level {level}, context {context_id};"
                f" the association's is type {RPC_C_AUTHN_WINNT}, level {self.level},"
                f" context {self.context_id}"
            )
        if pad > trailer_at - body_offset:
            raise ProtocolError(f"{name}: auth_pad_length {pad} is longer than its stub")
        expected = self._receive.signature(fragment[:end])
        if not hmac.compare_digest(expected, fragment[end : header.frag_length]):
            raise SignatureError(f"{name} for call {header.call_id}: signature does not verify")
        return fragment[body_offset : trailer_at - pad]

    def __repr__(self) -> str:
        return f"SigningContext(context={self.context_id}, level={self.level})"


def _parse(structure: Any, token: bytes, what: str) -> Any:
    """Read ``token`` into one of impacket's NTLM structures; its errors as ProtocolError."""
    if not token.startswith(b"NTLMSSP\0"):
        raise ProtocolError(f"{what} is not an NTLMSSP message")
    try:
        structure.fromString(token)
    except Exception as exc:  # impacket's parsers raise whatever the bytes lead them to
        raise ProtocolError(f"{what} cannot be read: {type(exc).__name__}") from None
    return structure


def _av_pairs(raw: bytes) -> Any:
    try:
        return ntlm.AV_PAIRS(raw)
    except Exception as exc:  # a truncated pair list is an IndexError/struct.error inside
        raise ProtocolError(
            f"NTLM target information cannot be read: {type(exc).__name__}"
        ) from None


# --- the client ---------------------------------------------------------------------------


class NtlmClient:
    """The client side of the NTLM exchange, then its signing context.

    Give ``password`` or ``nt_hash`` (16 bytes). :meth:`negotiate` is the bind's token,
    :meth:`authenticate` turns the server's CHALLENGE into the AUTH3's token and sets
    :attr:`context`.
    """

    __slots__ = ("_nt_hash", "_password", "_type1", "context", "context_id", "domain", "user")

    def __init__(
        self,
        user: str,
        domain: str = "",
        *,
        password: str | None = None,
        nt_hash: bytes | None = None,
        context_id: int = AUTH_CONTEXT_ID,
    ) -> None:
        if not user:
            raise ValueError("NTLM needs a user name")
        if (password is None) == (nt_hash is None):
            raise ValueError("give a password or an NT hash")
        if nt_hash is not None and len(nt_hash) != NT_HASH_SIZE:
            raise ValueError("an NT hash is 16 bytes")
        self.user = user
        self.domain = domain
        self._password = password
        self._nt_hash = nt_hash
        self.context_id = context_id
        self.context: SigningContext | None = None
        self._type1 = ntlm.getNTLMSSPType1("", "", signingRequired=True, use_ntlmv2=True)

    def __repr__(self) -> str:
        who = f"{self.domain}\\{self.user}" if self.domain else self.user
        return f"NtlmClient({who!r})"

    def negotiate(self) -> AuthVerifier:
        """The bind's verifier: an NTLM NEGOTIATE asking for signing."""
        self.context = None
        return ntlm_verifier(self._type1.getData(), self.context_id)

    def authenticate(self, challenge: AuthVerifier, *, entropy: bytes, now: float) -> AuthVerifier:
        """The AUTH3's verifier answering ``challenge`` (the bind_ack's).

        ``entropy`` is :data:`CLIENT_ENTROPY_SIZE` random bytes, ``now`` the time in
        seconds since 1970 (used when the CHALLENGE carries no timestamp).
        """
        if len(entropy) != CLIENT_ENTROPY_SIZE:
            raise ValueError(f"entropy must be {CLIENT_ENTROPY_SIZE} bytes")
        if challenge.auth_type != RPC_C_AUTHN_WINNT:
            raise ProtocolError(
                f"bind_ack carries a verifier of auth type {challenge.auth_type}, not NTLM"
            )
        message = _parse(ntlm.NTLMAuthChallenge(), challenge.value, "the server's CHALLENGE")
        if message["message_type"] != ntlm.NTLMSSP_AUTH_CHALLENGE:
            raise ProtocolError(
                f"the bind_ack's NTLM message is of type {message['message_type']}, not CHALLENGE"
            )
        server_flags = message["flags"]
        if server_flags & _REQUIRED_FLAGS != _REQUIRED_FLAGS:
            raise SignatureError(
                "the server's NTLM challenge offers no signing with extended session security"
                f" (flags 0x{server_flags:08x})"
            )
        target_info = _av_pairs(message["TargetInfoFields"])
        if target_info[ntlm.NTLMSSP_AV_TIME] is None:
            target_info[ntlm.NTLMSSP_AV_TIME] = filetime(now)
        if target_info[ntlm.NTLMSSP_AV_DNS_HOSTNAME] is None:
            hostname = target_info[ntlm.NTLMSSP_AV_HOSTNAME]
            target_info[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = hostname[1] if hostname else b""
        flags = self._type1["flags"] & (server_flags | ~_OPTIONAL_FLAGS)
        server_challenge = message["challenge"]
        nt_hash = self._nt_hash or ntlm.compute_nthash(self._password)
        nt_response, lm_response, base_key = ntlm.computeResponseNTLMv2(
            server_flags,
            server_challenge,
            entropy[:8],
            target_info.getData(),
            self.domain,
            self.user,
            "",
            "",
            nt_hash,
        )
        exchange_key = ntlm.KXKEY(
            server_flags, base_key, lm_response, server_challenge, "", "", nt_hash
        )
        if flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH:
            session_key = entropy[8:]
            encrypted_key = ntlm.generateEncryptedSessionKey(exchange_key, session_key)
        else:
            session_key, encrypted_key = exchange_key, b""
        answer = ntlm.NTLMAuthChallengeResponse()
        answer["flags"] = flags
        answer["domain_name"] = self.domain.encode("utf-16le")
        answer["user_name"] = self.user.encode("utf-16le")
        answer["host_name"] = b""
        answer["lanman"] = lm_response
        answer["ntlm"] = nt_response
        answer["session_key"] = encrypted_key
        self.context = SigningContext(
            _Direction(flags, session_key, "Client"),
            _Direction(flags, session_key, "Server"),
            context_id=self.context_id,
        )
        return ntlm_verifier(answer.getData(), self.context_id)


# --- the server (the lab's) --------------------------------------------------------------


def account_key(user: str, domain: str = "") -> str:
    """How an account is looked up: ``DOMAIN\\USER`` upper-cased (``USER`` with no domain)."""
    return f"{domain}\\{user}".upper() if domain else user.upper()


class NtlmServer:
    """The server side: a CHALLENGE for the client's NEGOTIATE, then the client's
    AUTHENTICATE checked against ``accounts`` (:func:`account_key` → NT hash).

    An account without a domain matches the user in any domain.
    """

    __slots__ = ("_accounts", "_challenge", "context", "dns_domain", "name", "netbios_domain")

    def __init__(
        self,
        accounts: Mapping[str, bytes],
        *,
        name: str,
        netbios_domain: str,
        dns_domain: str,
    ) -> None:
        self._accounts = dict(accounts)
        self.name = name
        self.netbios_domain = netbios_domain
        self.dns_domain = dns_domain
        self._challenge: bytes | None = None
        self.context: SigningContext | None = None

    def __repr__(self) -> str:
        return f"NtlmServer({self.name!r}, {len(self._accounts)} accounts)"

    def challenge(
        self, negotiate: AuthVerifier, *, server_challenge: bytes, now: float
    ) -> AuthVerifier:
        """The bind_ack's verifier for the client's NEGOTIATE.

        ``server_challenge`` is :data:`SERVER_CHALLENGE_SIZE` random bytes, ``now`` the
        time for the CHALLENGE's timestamp.
        """
        if len(server_challenge) != SERVER_CHALLENGE_SIZE:
            raise ValueError(f"server_challenge must be {SERVER_CHALLENGE_SIZE} bytes")
        request = _parse(ntlm.NTLMAuthNegotiate(), negotiate.value, "the client's NEGOTIATE")
        if request["message_type"] != ntlm.NTLMSSP_AUTH_NEGOTIATE:
            raise ProtocolError(
                f"the bind's NTLM message is of type {request['message_type']}, not NEGOTIATE"
            )
        flags = (request["flags"] & _SERVER_FLAGS) | (
            ntlm.NTLMSSP_NEGOTIATE_NTLM
            | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO
            | ntlm.NTLMSSP_TARGET_TYPE_DOMAIN
            | ntlm.NTLMSSP_NEGOTIATE_VERSION
        )
        dns_host = f"{self.name}.{self.dns_domain}".lower()
        target_info = ntlm.AV_PAIRS()
        target_info[ntlm.NTLMSSP_AV_DOMAINNAME] = self.netbios_domain.encode("utf-16le")
        target_info[ntlm.NTLMSSP_AV_HOSTNAME] = self.name.encode("utf-16le")
        target_info[ntlm.NTLMSSP_AV_DNS_DOMAINNAME] = self.dns_domain.encode("utf-16le")
        target_info[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = dns_host.encode("utf-16le")
        target_info[ntlm.NTLMSSP_AV_DNS_TREENAME] = self.dns_domain.encode("utf-16le")
        target_info[ntlm.NTLMSSP_AV_TIME] = filetime(now)
        target_name = self.netbios_domain.encode("utf-16le")
        info = target_info.getData()
        message = ntlm.NTLMAuthChallenge()
        message["flags"] = flags
        message["challenge"] = server_challenge
        message["Version"] = _SERVER_VERSION
        message["domain_name"] = target_name
        message["domain_len"] = message["domain_max_len"] = len(target_name)
        message["domain_offset"] = 48 + len(_SERVER_VERSION)
        message["TargetInfoFields"] = info
        message["TargetInfoFields_len"] = message["TargetInfoFields_max_len"] = len(info)
        message["TargetInfoFields_offset"] = message["domain_offset"] + len(target_name)
        self._challenge = server_challenge
        self.context = None
        return AuthVerifier(
            negotiate.auth_type, negotiate.auth_level, 0, negotiate.context_id, message.getData()
        )

    def accept(self, authenticate: AuthVerifier) -> str | None:
        """Check the client's AUTHENTICATE: the account name it proved, or None.

        On success :attr:`context` signs and verifies from then on. A malformed message
        is a :class:`ProtocolError`; a wrong password, an unknown user, an NTLMv1
        answer or a session without signing with extended session security is None.
        """
        server_challenge, self._challenge = self._challenge, None
        if server_challenge is None:
            return None
        token = authenticate.value
        message = _parse(ntlm.NTLMAuthChallengeResponse(), token, "the client's AUTHENTICATE")
        if message["message_type"] != ntlm.NTLMSSP_AUTH_CHALLENGE_RESPONSE:
            return None
        flags = message["flags"]
        if flags & _REQUIRED_FLAGS != _REQUIRED_FLAGS:
            return None
        encoding = "utf-16le" if flags & ntlm.NTLMSSP_NEGOTIATE_UNICODE else "cp437"
        try:
            user = bytes(message["user_name"]).decode(encoding)
            domain = bytes(message["domain_name"]).decode(encoding)
        except UnicodeDecodeError:
            return None
        nt_hash = self._accounts.get(account_key(user, domain)) or self._accounts.get(
            account_key(user)
        )
        response = bytes(message["ntlm"])
        if nt_hash is None or len(response) < _NTLMV2_RESPONSE_MIN:
            return None
        key = ntlm.NTOWFv2(user, "", domain, nt_hash)
        proof = response[:16]
        if not hmac.compare_digest(ntlm.hmac_md5(key, server_challenge + response[16:]), proof):
            return None
        exchange_key = ntlm.hmac_md5(key, proof)
        if flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH:
            start, size = message["session_key_offset"], message["session_key_len"]
            encrypted_key = token[start : start + size]
            if size != 16 or len(encrypted_key) != 16:
                return None
            session_key = ntlm.generateEncryptedSessionKey(exchange_key, encrypted_key)
        else:
            session_key = exchange_key
        self.context = SigningContext(
            _Direction(flags, session_key, "Server"),
            _Direction(flags, session_key, "Client"),
            context_id=authenticate.context_id,
            level=authenticate.auth_level,
        )
        return f"{domain}\\{user}" if domain else user
