"""Fuzz :func:`epmscan.protocol.epm_client.decode_lookup_response`: an ``ept_lookup`` answer stub.

Input: the reassembled response stub (handle, ``num_ents``, the entry array, the
deferred towers, the status). Invariants on whatever decodes: as many entries as
``num_ents`` says; each entry's record (:func:`endpoint_record`) can be built; encoding
the decoded page again with the server-side encoders (``encode_lookup_entry``,
``encode_lookup_response``) decodes to the same handle, entries and status.
"""

from __future__ import annotations

import struct

from harness import check, fuzz_main, instrumented, tower_octets

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.epm_client import decode_lookup_response
    from epmscan.protocol.epm_server import encode_lookup_entry, encode_lookup_response
    from epmscan.protocol.towers import endpoint_record

ASKED = "192.0.2.7"
ANNOTATION_LIMIT = 64 * 1024


def test_one_input(data: bytes) -> None:
    """Decode the stub; check the count, the records and the re-encoded page."""
    try:
        response = decode_lookup_response(data)
    except ProtocolError:
        return
    check(len(response.handle) == 20, "handle of the wrong size")
    (count,) = struct.unpack_from("<I", data, 20)
    check(len(response.entries) == count, "entries differ from num_ents")
    for entry in response.entries:
        record = endpoint_record(entry, ASKED)
        check(record.annotation == entry.annotation, "record annotation")
        check(record.object_uuid == entry.object_uuid, "record object")
    if any(len(entry.annotation.encode()) >= ANNOTATION_LIMIT for entry in response.entries):
        return  # replacement characters grew an annotation past what a decoder accepts
    encoded = [
        encode_lookup_entry(
            entry.object_uuid,
            None if entry.tower is None else tower_octets(entry.tower),
            entry.annotation,
        )
        for entry in response.entries
    ]
    again = decode_lookup_response(
        encode_lookup_response(response.handle, encoded, response.status)
    )
    check(again == response, "the page re-encoded decodes differently")


if __name__ == "__main__":
    fuzz_main(test_one_input)
