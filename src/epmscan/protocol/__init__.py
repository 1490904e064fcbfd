"""Sans-I/O DCE/RPC and endpoint mapper codec: bytes in, typed results out.

Modules: :mod:`.constants` (numbers), :mod:`.framing` (PDU boundaries),
:mod:`.pdu` (client/server connection state machines), :mod:`.towers` (protocol
towers and string bindings), :mod:`.epm` (ept_lookup/ept_map stubs and the paging
walk), :mod:`.reference` (impacket's decoding, for differential tests), :mod:`.names`
(interface names), :mod:`.http` (ncacn_http greeting). See docs/protocol.md.
"""
