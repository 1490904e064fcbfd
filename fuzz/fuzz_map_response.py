"""Fuzz :func:`epmscan.protocol.epm_client.decode_map_response`: an ``ept_map`` answer stub.

Input: the reassembled response stub (handle, ``num_towers``, the tower pointer array,
the deferred towers, the status). Invariants on whatever decodes: no more towers than
``num_towers``; each tower gives a string binding; encoding the decoded answer again
with ``encode_map_response`` decodes to the same handle, towers and status.
"""

from __future__ import annotations

import struct

from harness import check, fuzz_main, instrumented, tower_octets

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.epm_client import decode_map_response
    from epmscan.protocol.epm_server import encode_map_response
    from epmscan.protocol.towers import string_binding

ASKED = "192.0.2.7"


def test_one_input(data: bytes) -> None:
    """Decode the stub; check the count, the bindings and the re-encoded answer."""
    try:
        response = decode_map_response(data)
    except ProtocolError:
        return
    check(len(response.handle) == 20, "handle of the wrong size")
    (count,) = struct.unpack_from("<I", data, 20)
    check(len(response.towers) <= count, "more towers than num_towers")
    for tower in response.towers:
        check(isinstance(string_binding(tower, ASKED), str), "no string binding")
    again = decode_map_response(
        encode_map_response(
            response.handle, [tower_octets(t) for t in response.towers], response.status
        )
    )
    check(again == response, "the answer re-encoded decodes differently")


if __name__ == "__main__":
    fuzz_main(test_one_input)
