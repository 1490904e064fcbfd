"""Fuzz :func:`epmscan.protocol.epm_server.decode_lookup_request`: what the lab reads from a client.

Input: an ``ept_lookup`` request stub (inquiry type, object pointer and UUID, interface
pointer and id, version option, context handle, ``max_ents``). Invariants on whatever
decodes: the handle is 20 bytes; ``last_referent`` is the largest pointer id read; a
request of a shape our client sends, rebuilt with ``build_lookup_request``, decodes to
the same fields; and the answer the lab builds from it (``encode_lookup_response`` with
at most ``max_ents`` entries, towers numbered after ``last_referent`` as its docstring
prescribes) decodes to the entries sent.
"""

from __future__ import annotations

import struct

from harness import check, fuzz_main, instrumented

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.constants import EPM_INTERFACE, NIL_UUID, NULL_HANDLE
    from epmscan.protocol.epm_client import build_lookup_request, decode_lookup_response
    from epmscan.protocol.epm_server import (
        decode_lookup_request,
        encode_lookup_entry,
        encode_lookup_response,
    )
    from epmscan.protocol.towers import encode_tower

TOWER = encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135, address="192.0.2.7")
ENTRIES = (
    encode_lookup_entry(NIL_UUID, TOWER, "Endpoint Mapper"),
    encode_lookup_entry(NIL_UUID, TOWER, ""),
)


def test_one_input(data: bytes) -> None:
    """Decode the request; check it, rebuild it, answer it and read the answer back."""
    try:
        request = decode_lookup_request(data)
    except ProtocolError:
        return
    check(len(request.handle) == 20, "handle of the wrong size")
    (object_ref,) = struct.unpack_from("<I", data, 4)
    check(request.last_referent >= object_ref, "last_referent below the object pointer")
    check((request.object_uuid is None) == (object_ref == 0), "object pointer")
    if request.object_uuid is None and request.inquiry_type < 4:
        again = decode_lookup_request(
            build_lookup_request(
                handle=request.handle,
                max_ents=request.max_ents,
                inquiry_type=request.inquiry_type,
                interface=request.interface,
                vers_option=request.vers_option,
            )
        )
        check(again.interface == request.interface, "interface changed on rebuilding")
        check(again.handle == request.handle, "handle changed on rebuilding")
        check(again.max_ents == request.max_ents, "max_ents changed on rebuilding")
        check(again.vers_option == request.vers_option, "vers_option changed on rebuilding")
    batch = ENTRIES[: request.max_ents]
    answer = encode_lookup_response(
        NULL_HANDLE,
        batch,
        0,
        max_count=request.max_ents,
        first_referent=request.last_referent + 1,
    )
    response = decode_lookup_response(answer)
    check(len(response.entries) == len(batch), "the answer lost entries")
    check(all(entry.tower is not None for entry in response.entries), "the answer lost towers")


if __name__ == "__main__":
    fuzz_main(test_one_input)
