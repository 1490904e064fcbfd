"""The remote management interface's ``rpc_mgmt_inq_if_ids`` (opnum 0), both halves, sans I/O.

Every DCE/RPC server accepts the management interface (``afa8bd80-7d8a-11c9-bef4-
08002b102989`` v1.0) on each of its endpoints; ``inq_if_ids`` asks it which interfaces
the server offers there, registered with the endpoint mapper or not. The call has no
input, so its request stub is empty. Its output (C706's ``mgmt.idl``)::

    typedef struct { unsigned32 count; [size_is(count)] rpc_if_id_p_t if_id[*]; }
        rpc_if_id_vector_t;
    void inq_if_ids([out] rpc_if_id_vector_p_t *if_id_vector, [out] error_status_t *status);

in NDR 2.0: the vector's referent id (0: NULL, as a server sends with a failure status),
then the conformant struct, whose conformance comes first (``max_count``, ``count``, one
referent id per element), then the ``rpc_if_id_t`` of each non-NULL element in array
order (UUID, ``vers_major``, ``vers_minor``: 20 bytes), then the status. Element
pointers are full pointers: 0 is NULL, an id seen before points back to the interface
already sent. Every length is checked against the stub; bad bytes raise
:class:`ProtocolError`, never IndexError.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId
from epmscan.protocol.constants import MAX_MGMT_INTERFACES
from epmscan.protocol.epm_ndr import IF_ID, U32, U32X2, need
from epmscan.protocol.syntax_ids import uuid_bytes, uuid_text

WINDOWS_FIRST_REFERENT = 0x00020000
"""Where Windows' NDR engine starts numbering the referents of a response (then +4)."""
_REFERENT_STEP = 4


@dataclass(frozen=True, slots=True)
class InterfaceIdVector:
    """One ``inq_if_ids`` answer: the interfaces listed (wire order) and the status.

    ``interfaces`` leaves out NULL elements and repeats an aliased one; ``present`` is
    False when the vector pointer itself was NULL.
    """

    interfaces: tuple[InterfaceId, ...]
    status: int
    present: bool = True


def build_inq_if_ids_request() -> bytes:
    """The request stub of ``inq_if_ids``: the call has no input, so it is empty."""
    return b""


def decode_inq_if_ids_request(stub: bytes) -> None:
    """Check a request stub as a server: anything in it is a :class:`ProtocolError`."""
    if stub:
        raise ProtocolError(f"inq_if_ids takes no input, but its stub holds {len(stub)} bytes")


def encode_inq_if_ids_response(
    interfaces: Sequence[InterfaceId] | None,
    status: int = 0,
    *,
    first_referent: int = WINDOWS_FIRST_REFERENT,
) -> bytes:
    """The response stub listing ``interfaces`` (None: a NULL vector) with ``status``.

    Referent ids run from ``first_referent`` (the vector) in steps of 4, as Windows
    numbers them; ``first_referent`` must leave room below 2**32 for all of them.
    """
    if first_referent < 1:
        raise ValueError("a non-NULL referent id is at least 1")
    if interfaces is None:
        return U32X2.pack(0, status)
    count = len(interfaces)
    last = first_referent + _REFERENT_STEP * count
    if last > 0xFFFFFFFF:
        raise ValueError(f"{count} referent ids from {first_referent:#x} pass 0xffffffff")
    parts = [U32.pack(first_referent), U32X2.pack(count, count)]
    parts.extend(U32.pack(first_referent + _REFERENT_STEP * (index + 1)) for index in range(count))
    parts.extend(
        IF_ID.pack(uuid_bytes(interface.uuid), interface.major, interface.minor)
        for interface in interfaces
    )
    parts.append(U32.pack(status))
    return b"".join(parts)


def decode_inq_if_ids_response(stub: bytes) -> InterfaceIdVector:
    """Decode an ``inq_if_ids`` response stub."""
    stub = bytes(stub)
    need(stub, 4, "the interface vector pointer")
    (vector_referent,) = U32.unpack_from(stub, 0)
    if vector_referent == 0:
        need(stub, 8, "the status")
        (status,) = U32.unpack_from(stub, 4)
        return InterfaceIdVector((), status, present=False)
    need(stub, 12, "the interface vector")
    max_count, count = U32X2.unpack_from(stub, 4)
    if max_count != count:
        raise ProtocolError(
            f"inq_if_ids: the vector says {count} interfaces but its array holds {max_count}"
        )
    if count > MAX_MGMT_INTERFACES:
        raise ProtocolError(
            f"inq_if_ids: {count} interfaces announced (the limit is {MAX_MGMT_INTERFACES})"
        )
    offset = 12
    need(stub, offset + 4 * count, f"the {count} interface pointers")
    referents = struct.unpack_from(f"<{count}I", stub, offset)
    offset += 4 * count
    seen: dict[int, InterfaceId] = {}
    interfaces: list[InterfaceId] = []
    for index, referent in enumerate(referents):
        if referent == 0:
            continue
        if referent == vector_referent:
            raise ProtocolError(
                f"inq_if_ids: interface {index + 1} points at the vector (referent {referent:#x})"
            )
        known = seen.get(referent)
        if known is None:
            need(stub, offset + IF_ID.size, f"interface {index + 1} of {count}")
            raw, major, minor = IF_ID.unpack_from(stub, offset)
            offset += IF_ID.size
            known = seen[referent] = InterfaceId(uuid_text(raw), major, minor)
        interfaces.append(known)
    need(stub, offset + 4, "the status")
    (status,) = U32.unpack_from(stub, offset)
    return InterfaceIdVector(tuple(interfaces), status)
