"""The lab: asyncio emulation of Windows and Exchange hosts on loopback addresses.

``async with run_lab(load_lab_file(path)) as lab`` (or ``single_host_lab(profile, address)``)
starts the hosts; ``lab.hosts`` maps each address to a :class:`LabHost` giving its endpoint
mapper port, TCP endpoints, ncacn_http ports and connection counters. :class:`LabThread`
runs a lab in a background thread for blocking callers. See ``docs/lab.md``.
"""

from epmscan.lab.config import (
    HostConfig,
    LabConfig,
    WildcardConfig,
    load_lab_file,
    parse_lab,
    single_host_lab,
)
from epmscan.lab.profiles import Profile, get_profile, list_profiles
from epmscan.lab.server import ConnectionStats, Lab, LabHost, run_lab
from epmscan.lab.thread import LabThread

__all__ = [
    "ConnectionStats",
    "HostConfig",
    "Lab",
    "LabConfig",
    "LabHost",
    "LabThread",
    "Profile",
    "WildcardConfig",
    "get_profile",
    "list_profiles",
    "load_lab_file",
    "parse_lab",
    "run_lab",
    "single_host_lab",
]
