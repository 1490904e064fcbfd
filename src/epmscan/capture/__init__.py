"""Reading captures: endpoint mapper conversations and the connections after them.

The I/O side of ``epmscan pcap`` (beside ``engine/``): observations only.

- :mod:`.source` reads pcap/pcapng frame by frame (scapy's raw readers, imported lazily);
- :mod:`.frames` decodes link, IP and TCP/ICMP headers into :mod:`.records`;
- :mod:`.analysis` follows the connections of interest (:mod:`.reassembly` per direction,
  :mod:`.dcerpc` with the scanner's own codec) into :mod:`epmscan.models.capture`.

The verdicts are :mod:`epmscan.checks.capture_verdicts`'; the console and JSON views
:mod:`epmscan.report.capture_console` and :mod:`epmscan.report.capture_json`;
:func:`epmscan.app.pcap.analyze_capture` ties it up.
"""
