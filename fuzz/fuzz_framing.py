"""Fuzz the PDU stream cutter: :class:`epmscan.protocol.pdu_stream.PduBuffer` and ``parse_header``.

Input: a mode byte (bits 0-2: how the stream is cut into reads, bits 3-4: ``max_frag``;
see ``harness.framing_input``), then the bytes a peer sends. Invariants: each fragment
handed out is exactly ``frag_length`` bytes with the header ``parse_header`` reads from
it, within ``max_frag``; fragments plus what is pending are the stream, in order; what
is left pending is less than one fragment (never more than the cap); an error leaves
``pending`` where it was.
"""

from __future__ import annotations

from harness import FRAMING_MAX_FRAGS, check, cut, fuzz_main, instrumented

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.pdu_stream import PduBuffer, parse_header


def test_one_input(data: bytes) -> None:
    """Feed the stream in pieces; take fragments out after every piece."""
    if not data:
        return
    mode, stream = data[0], data[1:]
    max_frag = FRAMING_MAX_FRAGS[(mode >> 3) & 3]
    buffer = PduBuffer(max_frag)
    taken = 0
    fed = 0
    try:
        for piece in cut(stream, mode):
            buffer.feed(piece)
            fed += len(piece)
            while True:
                pending = buffer.pending
                try:
                    item = buffer.next_pdu()
                except ProtocolError:
                    check(buffer.pending == pending, "a refused header changed pending")
                    raise
                if item is None:
                    break
                header, fragment = item
                check(len(fragment) == header.frag_length, "fragment length")
                check(16 <= header.frag_length <= max_frag, "frag_length outside the limits")
                check(parse_header(fragment) == header, "header differs from the fragment's")
                check(stream[taken : taken + len(fragment)] == fragment, "not the stream in order")
                taken += len(fragment)
            check(taken + buffer.pending == fed, "bytes lost or invented")
            check(buffer.pending < max(max_frag, 16), "more than one fragment pending")
    except ProtocolError:
        pass
    try:
        parse_header(stream)
    except ProtocolError:
        pass


if __name__ == "__main__":
    fuzz_main(test_one_input)
