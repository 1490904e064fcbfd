"""The one small error hierarchy of epmscan.

OS errors are translated into these at the I/O edge only (``epmscan.engine.transport``);
everything above it sees an :class:`EpmscanError` or a result, never an ``OSError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from epmscan.models import IcmpError


class EpmscanError(Exception):
    """Base of every error epmscan raises on purpose."""


class ProtocolError(EpmscanError):
    """The peer sent bytes that are not valid DCE/RPC or EPM for this exchange."""


class SignatureError(ProtocolError):
    """An authenticated PDU came without its NTLM signature, or with one that does not
    verify; or the server's NTLM challenge offers no signing to authenticate with."""


class RpcFaultError(EpmscanError):
    """The server answered a call with a fault PDU."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BindRejectedError(EpmscanError):
    """The server refused a bind (bind_nak, or the context was rejected)."""

    def __init__(self, message: str, reason: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class AuthenticationFailedError(EpmscanError):
    """The server refused our credentials: a bind_nak for the security provider, or an
    access-denied fault once the authentication was sent."""

    def __init__(self, message: str, fault: int | None = None) -> None:
        super().__init__(message)
        self.fault = fault


class TransportError(EpmscanError):
    """Talking to the peer failed below DCE/RPC."""


class ConnectRefusedError(TransportError):
    """The peer answered the connection attempt with a reset (port closed)."""


class ConnectTimeoutError(TransportError):
    """No answer to the connection attempt (filtered)."""


class HostUnreachableError(TransportError):
    """No route to the host or network (ICMP unreachable).

    ``icmp`` is the ICMP message behind it when the kernel reported one (type, code and
    sender); the message then names it.
    """

    def __init__(self, message: str, icmp: IcmpError | None = None) -> None:
        super().__init__(message if icmp is None else f"{message}: {icmp.description}")
        self.icmp = icmp


class ReadTimeoutError(TransportError):
    """Connected, but the peer sent nothing within the read timeout."""


class ConnectionClosedError(TransportError):
    """The peer closed or reset an established connection."""


class LocalResourceError(TransportError):
    """This machine ran out of something (file descriptors, buffers): not the host's fault."""


class UsageError(EpmscanError):
    """Bad input from the user: the CLI prints it on one line and exits 2."""


class TargetSpecError(UsageError):
    """A target specification (address, range, CIDR, file line) is not valid."""


class PolicyError(UsageError):
    """A policy file is not valid."""


class LabConfigError(UsageError):
    """A lab file or profile is not valid."""
