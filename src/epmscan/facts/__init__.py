"""Facts about the world epmscan looks at, each in one module: the Exchange interfaces and
their ports, labels, services and registry values (:mod:`.exchange`). The DCE/RPC and
endpoint mapper numbers are the protocol's own (:mod:`epmscan.protocol.constants`)."""
