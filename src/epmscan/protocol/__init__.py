"""Sans-I/O DCE/RPC and endpoint mapper codec: bytes in, typed events out.

No sockets, no asyncio, no clock here (h11's shape). The modules, from the wire up:

- :mod:`.constants`: the numbers of C706 and [MS-RPCE] (PDU types, flags, opnums, the
  endpoint mapper's port and interface);
- :mod:`.syntax_ids`: UUIDs and presentation syntax identifiers on the wire;
- :mod:`.pdu_stream`: the common header, and cutting a byte stream into PDUs;
- :mod:`.status_codes`: fault statuses, bind rejection reasons and their names;
- :mod:`.events`: what the connections hand out (bind_ack, response, fault, ...);
- :mod:`.fragmenting`: cutting stubs into fragments and reassembling them;
- :mod:`.client_connection` / :mod:`.server_connection`: one association per side;
- :mod:`.towers`: protocol towers and string bindings;
- :mod:`.epm_ndr`, :mod:`.epm_client`, :mod:`.epm_server`: the endpoint mapper's calls;
- :mod:`.lookup_walk`: the paging state machine of ``ept_lookup``;
- :mod:`.interface_names`: names of interface UUIDs; :mod:`.ncacn_http`: the RPC over
  HTTP greeting; :mod:`.impacket_reference`: impacket's decoding, the yardstick.
"""
