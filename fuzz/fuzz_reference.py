"""Fuzz :mod:`epmscan.protocol.impacket_reference`: impacket's decoding (``--decoder impacket``).

Input: a selector byte (0: ``ept_lookup`` response, 1: ``ept_map`` response, 2: a tower;
taken modulo 3), then the stub or tower octets. ``epmscan dump --decoder impacket`` runs
these decoders on a server's bytes, so the same rule holds: only ProtocolError may come
out. On towers the two decoders are held to each other: when both decode the same
octets, they give the same tower. impacket's parsing modules (``structure``, and the
NDR modules ``epm`` brings: ``ndr``, ``dtypes``, ``rpcrt``) are instrumented too, so the
fuzzer sees which of their paths an input takes; the SMB, Kerberos and NTLM modules they
drag in are imported first, uninstrumented, which keeps the start-up short.
"""

from __future__ import annotations

from harness import check, fuzz_main, instrumented

FUZZING = __name__ == "__main__"
with instrumented(FUZZING, "impacket"):
    import impacket.structure
if FUZZING:  # what impacket's epm pulls in that decoding never runs: left uninstrumented
    import impacket.hresult_errors
    import impacket.http
    import impacket.krb5.gssapi
    import impacket.krb5.kerberosv5
    import impacket.ntlm
    import impacket.smbconnection
    import impacket.system_errors
with instrumented(FUZZING, "impacket"):
    import impacket.dcerpc.v5.epm  # noqa: F401 - imported here to be instrumented

    from epmscan.errors import ProtocolError
    from epmscan.protocol.impacket_reference import (
        reference_decode_lookup_response,
        reference_decode_map_response,
        reference_decode_tower,
    )
    from epmscan.protocol.towers import decode_tower

DECODERS = (
    reference_decode_lookup_response,
    reference_decode_map_response,
    reference_decode_tower,
)


def test_one_input(data: bytes) -> None:
    """Decode with impacket's decoder; for a tower, compare with ours."""
    if not data:
        return
    selector, payload = data[0] % 3, data[1:]
    try:
        decoded = DECODERS[selector](payload)
    except ProtocolError:
        return
    if selector == 2:
        try:
            ours = decode_tower(payload)
        except ProtocolError:
            return
        check(decoded == ours, f"impacket reads {decoded!r}, we read {ours!r}")


if __name__ == "__main__":
    fuzz_main(test_one_input)
