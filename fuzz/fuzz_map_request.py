"""Fuzz :func:`epmscan.protocol.epm_server.decode_map_request`: what the lab reads from a client.

Input: an ``ept_map`` request stub (object pointer and UUID, map tower pointer and
``twr_t``, context handle, ``max_towers``). Invariants on whatever decodes: the tower
decoded is the one :func:`decode_tower` reads from the same octets; the handle is 20
bytes; ``last_referent`` is at least the tower's pointer id; and the answer the lab
builds from it (``encode_map_response`` with at most ``max_towers`` towers, numbered
after ``last_referent`` as its docstring prescribes) decodes to the towers sent.
"""

from __future__ import annotations

import struct

from harness import check, fuzz_main, instrumented

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.constants import EPM_INTERFACE, NULL_HANDLE
    from epmscan.protocol.epm_client import decode_map_response
    from epmscan.protocol.epm_server import decode_map_request, encode_map_response
    from epmscan.protocol.towers import decode_tower, encode_tower

TOWERS = (
    encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135, address="192.0.2.7"),
    encode_tower(EPM_INTERFACE, "ncacn_http", port=593, address="192.0.2.7"),
)


def test_one_input(data: bytes) -> None:
    """Decode the request; check it, answer it and read the answer back."""
    try:
        request = decode_map_request(data)
    except ProtocolError:
        return
    check(len(request.handle) == 20, "handle of the wrong size")
    (object_ref,) = struct.unpack_from("<I", data, 0)
    offset = 20 if object_ref else 4
    tower_ref, _, length = struct.unpack_from("<III", data, offset)
    check(request.last_referent == max(object_ref, tower_ref), "last_referent")
    tower_at = offset + 12
    check(request.tower == decode_tower(data[tower_at : tower_at + length]), "map tower")
    towers = TOWERS[: request.max_towers]
    answer = encode_map_response(
        NULL_HANDLE,
        towers,
        0,
        max_count=request.max_towers,
        first_referent=request.last_referent + 1,
    )
    response = decode_map_response(answer)
    check(response.towers == tuple(decode_tower(t) for t in towers), "the answer lost towers")


if __name__ == "__main__":
    fuzz_main(test_one_input)
