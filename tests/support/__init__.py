"""Helpers shared by the test suites: real peers (Samba, tshark, impacket), the CLI, loopback."""
