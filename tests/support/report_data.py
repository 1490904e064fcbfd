"""Saved scan results made without a network: lab hosts' endpoint maps, written as JSON.

``synthetic_scan(total, answered, ...)`` builds the document ``epmscan scan --findings
--save`` writes for ``total`` addresses of ``network`` (127.114.0.0/16 by default: the
report tests' own loopback range, though nothing is ever sent), of which ``answered``
hosts answer with the endpoint map of a lab profile (members, domain controllers, CAs,
file servers, Exchange servers) and the rest are ``closed``, ``filtered``,
``unreachable`` or ``timeout``. The maps come from the lab's own plan of each profile
(``epmscan.lab.plan``), encoded as towers and decoded by epmscan's decoder, as a scan
would read them; a few templates per profile are planned and each host gets its own
address and NetBIOS name in them. The security member is
:func:`~epmscan.checks.exposure.build_security_report`'s, as ``scan --findings`` saves it.
"""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from epmscan.checks.exposure import build_security_report
from epmscan.facts.security import CATALOGUE
from epmscan.lab.config import parse_lab
from epmscan.lab.endpoint_map import entry_tower
from epmscan.lab.plan import plan_host, random_dynamic_chooser
from epmscan.models import EndpointRecord, HostResult, HostStatus, IcmpError, LookupEntry
from epmscan.protocol.towers import decode_tower, endpoint_record
from epmscan.report.order import address_key
from epmscan.report.serialize import (
    SCHEMA_VERSION,
    host_to_dict,
    security_to_dict,
)
from epmscan.report.writers import JsonDocumentWriter

PROFILES = (
    ("windows-member", 70),
    ("windows-file-server", 8),
    ("windows-dc", 5),
    ("windows-ca", 3),
    ("exchange2010-cas-static", 5),
    ("exchange2010-cas-dynamic", 4),
    ("exchange2010-mailbox-pf", 5),
)
"""Lab profiles and their weights among the answered hosts."""
TEMPLATE_ADDRESS = "127.114.255.254"
TEMPLATE_NAME = "TEMPLATEHOST"
TEMPLATES_PER_PROFILE = 3
SILENT_STATUSES = (
    (HostStatus.CLOSED, 80),
    (HostStatus.FILTERED, 16),
    (HostStatus.UNREACHABLE, 3),
    (HostStatus.TIMEOUT, 1),
)


def profile_endpoints(profile: str, seed: int) -> tuple[EndpointRecord, ...]:
    """The endpoint map of one lab host of ``profile``, as a scan decodes it."""
    config = parse_lab(
        {
            "lab": {"epm_port": 135, "seed": seed},
            "hosts": [{"address": TEMPLATE_ADDRESS, "profile": profile, "name": TEMPLATE_NAME}],
        },
        "synthetic",
    )
    plan = plan_host(
        config.hosts[0],
        epm_port=135,
        port_offset=0,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )
    return tuple(
        endpoint_record(
            LookupEntry(entry.object_uuid, decode_tower(entry_tower(entry)), entry.annotation),
            TEMPLATE_ADDRESS,
        )
        for entry in plan.entries
    )


def _moved(record: EndpointRecord, address: str, name: str) -> EndpointRecord:
    def swap(value: str | None) -> str | None:
        if value is None:
            return None
        return value.replace(TEMPLATE_ADDRESS, address).replace(TEMPLATE_NAME, name)

    return replace(record, address=swap(record.address), binding=swap(record.binding) or "")


def _weighted(rng: random.Random, choices: tuple[tuple[Any, int], ...]) -> Any:
    values = [value for value, _ in choices]
    weights = [weight for _, weight in choices]
    return rng.choices(values, weights)[0]


def synthetic_hosts(
    total: int, answered: int, *, network: str = "127.114.0.0/16", seed: int = 1
) -> list[HostResult]:
    """``total`` host results over ``network`` (in address order), ``answered`` with a map."""
    rng = random.Random(seed)
    net = ipaddress.ip_network(network)
    addresses = [str(net.network_address + i) for i in range(total)]
    live = set(rng.sample(range(total), answered))
    templates = {
        profile: [profile_endpoints(profile, seed * 100 + k) for k in range(TEMPLATES_PER_PROFILE)]
        for profile, _ in PROFILES
    }
    hosts = []
    for index, address in enumerate(addresses):
        if index in live:
            profile = _weighted(rng, PROFILES)
            template = rng.choice(templates[profile])
            name = f"{profile.split('-')[1][:3].upper()}-{index:05d}"
            endpoints = tuple(_moved(r, address, name) for r in template)
            hosts.append(
                HostResult(
                    target=address,
                    address=address,
                    port=135,
                    status=HostStatus.OK,
                    endpoints=endpoints,
                    elapsed=round(rng.uniform(0.01, 0.2), 6),
                    lookup_pages=2,
                    lookup_status=0,
                )
            )
            continue
        status = _weighted(rng, SILENT_STATUSES)
        error = {
            HostStatus.CLOSED: "connection refused",
            HostStatus.FILTERED: "no answer to the connection attempt within 2.0 s",
            HostStatus.UNREACHABLE: "no route to host",
            HostStatus.TIMEOUT: "no answer within 5.0 s",
        }[status]
        icmp = IcmpError(3, 13, "127.114.255.1") if status is HostStatus.UNREACHABLE else None
        hosts.append(HostResult(address, address, 135, status, error=error, elapsed=0.5, icmp=icmp))
    return hosts


def scan_document(hosts: list[HostResult], *, findings: bool = True) -> dict[str, Any]:
    """The ``scan [--findings] --save`` document of ``hosts``: header, hosts, summary."""
    statuses = {status.value: 0 for status in HostStatus}
    objects = []
    for host in hosts:
        statuses[host.status.value] += 1
        if findings:
            objects.append(security_to_dict(build_security_report(host), CATALOGUE.version))
        else:
            objects.append(host_to_dict(host))
    return {
        "epmscan": {
            "schema": SCHEMA_VERSION,
            "command": "scan",
            "targets": ["synthetic"],
            "input_files": [],
            "exclude": [],
            "exclude_files": [],
            "only_answered": False,
            "port": 135,
            "mode": "dump",
            "seed": 1,
            "shard": "1/1",
            "started": "2026-01-01T00:00:00.000Z",
        },
        "hosts": objects,
        "summary": {
            "targets": len(hosts),
            "done": len(hosts),
            "interrupted": False,
            "signal": None,
            "elapsed": 60.0,
            "hosts_per_second": len(hosts) / 60.0,
            "statuses": statuses,
            "port": 135,
            "mode": "dump",
            "local_errors": 0,
        },
    }


def write_synthetic_scan(
    path: Path,
    total: int,
    answered: int,
    *,
    network: str = "127.114.0.0/16",
    findings: bool = True,
    seed: int = 1,
) -> dict[str, Any]:
    """Write a synthetic ``--save`` document to ``path`` as ``scan --save`` lays it out
    (:class:`~epmscan.report.writers.JsonDocumentWriter`: a host per line); returns it."""
    document = scan_document(
        synthetic_hosts(total, answered, network=network, seed=seed), findings=findings
    )
    write_document_as_epmscan(path, document)
    return document


def write_document_as_epmscan(path: Path, document: dict[str, Any]) -> None:
    """``document`` written by epmscan's own ``--save`` writer (hosts by address)."""
    writer = JsonDocumentWriter(str(path))
    writer.start(document["epmscan"])
    for host in document["hosts"]:
        writer.write_host(json.dumps(host), address_key(host["address"], host["target"]))
    writer.finish(document["summary"])
