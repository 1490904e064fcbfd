"""Fuzz :func:`epmscan.protocol.mgmt.decode_inq_if_ids_response`: an ``rpc_mgmt_inq_if_ids``
answer stub (what ``scan --inventory`` reads from every port).

Input: the response stub (the vector's referent id, the conformant vector, the deferred
interface ids, the status). Invariants on whatever decodes: no more interfaces than the
cap; a NULL vector lists none; encoding the decoded answer again with
``encode_inq_if_ids_response`` decodes to the same interfaces, status and presence.
"""

from __future__ import annotations

from harness import check, fuzz_main, instrumented

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.constants import MAX_MGMT_INTERFACES
    from epmscan.protocol.mgmt import decode_inq_if_ids_response, encode_inq_if_ids_response


def test_one_input(data: bytes) -> None:
    """Decode the stub; check the count and the re-encoded answer."""
    try:
        answer = decode_inq_if_ids_response(data)
    except ProtocolError:
        return
    check(len(answer.interfaces) <= MAX_MGMT_INTERFACES, "more interfaces than the cap")
    check(answer.present or not answer.interfaces, "a NULL vector with interfaces")
    listed = answer.interfaces if answer.present else None
    again = decode_inq_if_ids_response(encode_inq_if_ids_response(listed, answer.status))
    check(again == answer, "the answer re-encoded decodes differently")


if __name__ == "__main__":
    fuzz_main(test_one_input)
