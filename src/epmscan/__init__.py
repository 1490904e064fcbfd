"""epmscan: an async MS-RPC endpoint mapper probe and scanner."""

__version__ = "0.1.0"
