"""``epmscan pcap``: endpoint mapper conversations and the connections after them, from a capture.

- :mod:`.source` reads pcap/pcapng frame by frame (scapy's raw readers, imported lazily);
- :mod:`.frames` decodes link, IP and TCP/ICMP headers into :mod:`.records`;
- :mod:`.analysis` follows the connections of interest (:mod:`.reassembly` per direction,
  :mod:`.dcerpc` with the scanner's own codec) into :mod:`.models`;
- :mod:`.verdicts` says per client, server and interface what went wrong;
- :mod:`.serialize` and :mod:`.console` present it; :func:`.run.analyze_file` ties it up.
"""
