"""Fixtures that start real software none of us wrote (Samba, tshark) and the epmscan lab.

Every peer listens on its own address in 127.0.0.0/8, chosen so that nothing else already holds
its ports. Fixtures skip, with the reason, when a tool is missing or root is needed; CI installs
samba, smbclient and tshark and runs as root, so there nothing skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.capture import find_tshark
from tests.support.cli import CliRun, dump_json, run_cli
from tests.support.impacket_peer import RawLookup, raw_lookup
from tests.support.lab import RunningLab, running_lab
from tests.support.loopback import free_address
from tests.support.samba import EPM_PORT, SambaEpm, find_samba_dcerpcd, start_samba_epm
from tests.support.skips import require_root

SAMBA_PREFERRED_ADDRESS = "127.0.0.135"
LAB_PREFERRED_ADDRESS = "127.0.0.136"
LAB_PROFILE = "exchange2010-cas-dynamic"


@pytest.fixture(scope="session")
def epmscan() -> Callable[..., CliRun]:
    """Run ``python -m epmscan ARGS`` (keyword ``timeout`` in seconds, default 30)."""
    return run_cli


@pytest.fixture(scope="session")
def samba_epm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaEpm]:
    """Debian's ``samba-dcerpcd`` serving the endpoint mapper on a loopback address, port 135."""
    binary = find_samba_dcerpcd()
    if binary is None:
        pytest.skip("samba-dcerpcd not installed (Debian package: samba)")
    require_root("samba-dcerpcd listens on port 135")
    address = free_address(SAMBA_PREFERRED_ADDRESS, [EPM_PORT])
    samba = start_samba_epm(binary, tmp_path_factory.mktemp("samba"), address)
    try:
        yield samba
    finally:
        samba.stop()


@pytest.fixture(scope="session")
def samba_reference(samba_epm: SambaEpm) -> RawLookup:
    """Samba's complete list as impacket's NDR decoder reads it (final batch kept)."""
    return raw_lookup(samba_epm.address)


@pytest.fixture(scope="session")
def samba_dump(samba_epm: SambaEpm) -> dict[str, Any]:
    """``epmscan dump ADDR --json`` against Samba (default max_ents)."""
    return dump_json(samba_epm.address, max_ents=500)


@pytest.fixture(scope="session")
def lab_epm() -> Iterator[RunningLab]:
    """The lab (Exchange 2010 CAS, Windows-style paging) on a loopback address, port 135.

    Port 135 because impacket's rpcdump.py and scapy's ``get_endpoint`` only speak to 135.
    """
    require_root("the lab's endpoint mapper must listen on port 135 for rpcdump.py and scapy")
    with running_lab(LAB_PROFILE, free_address(LAB_PREFERRED_ADDRESS, [EPM_PORT]), EPM_PORT) as lab:
        yield lab


@pytest.fixture(scope="session")
def lab_dump(lab_epm: RunningLab) -> dict[str, Any]:
    return dump_json(lab_epm.address, port=lab_epm.epm_port)


@pytest.fixture(scope="session")
def tshark() -> str:
    path = find_tshark()
    if path is None:
        pytest.skip("tshark not installed (Debian package: tshark)")
    require_root("tshark captures on lo")
    return path


@pytest.fixture
def capture_dir(tmp_path: Path) -> Path:
    return tmp_path
