"""Role inference and exposure findings, on the lab's profiles and on real Samba servers.

The Samba interface sets are recorded, not made up: the standalone server's from the
capture ``fixtures/captures/samba-4.17-standalone-epm.pcapng`` (read by ``epmscan pcap``'s
analysis), the AD domain controller's from ``samba-4.17-ad-dc-epm.json``, whose endpoints
are first checked against Samba's own ``rpcclient -c epmlookup`` of the same server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from epmscan.checks.exposure import (
    ANONYMOUS_CODE,
    build_security_report,
    exposure_findings,
    infer_roles,
    ports_to_verify,
    reaches,
)
from epmscan.lab import single_host_lab
from epmscan.lab.plan import plan_host, random_dynamic_chooser
from epmscan.models import (
    Confidence,
    EndpointRecord,
    HostResult,
    HostRole,
    HostStatus,
    PortProbeStatus,
    Severity,
)
from epmscan.report.serialize import host_from_dict
from tests.peers.endpoint_keys import epmscan_keys, rpcclient_keys
from tests.support.samba import parse_epmlookup

CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"
AD_DC_DUMP = CAPTURES / "samba-4.17-ad-dc-epm.json"
AD_DC_RPCCLIENT = CAPTURES / "samba-4.17-ad-dc-rpcclient-epmlookup.txt"
STANDALONE_CAPTURE = CAPTURES / "samba-4.17-standalone-epm.pcapng"
ADDRESS = "192.0.2.7"


def lab_records(profile: str, **overrides: Any) -> tuple[EndpointRecord, ...]:
    """The endpoints a lab host of ``profile`` registers, as a dump would list them."""
    config = single_host_lab(profile, "127.109.9.9", epm_port=13135, **overrides)
    plan = plan_host(
        config.hosts[0],
        epm_port=13135,
        port_offset=config.port_offset,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )
    return tuple(
        EndpointRecord(
            uuid=e.interface.uuid,
            version=e.interface.version,
            name=None,
            annotation=e.annotation,
            transport=e.transport,
            address=e.address,
            port=e.port,
            endpoint=e.endpoint,
            binding=f"{e.transport}:{e.address or ''}[{e.port or e.endpoint}]",
        )
        for e in plan.entries
    )


def host(records: tuple[EndpointRecord, ...], status: HostStatus = HostStatus.OK) -> HostResult:
    return HostResult(ADDRESS, ADDRESS, 135, status, endpoints=records)


def roles_of(records: tuple[EndpointRecord, ...]) -> dict[HostRole, Confidence]:
    return {guess.role: guess.confidence for guess in infer_roles(records)}


def ad_dc_dump() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(AD_DC_DUMP.read_text())
    return data


def samba_standalone_records() -> tuple[EndpointRecord, ...]:
    pytest.importorskip("scapy.utils")
    from epmscan.app.pcap import analyze_capture
    from epmscan.settings import PcapSettings

    report = analyze_capture(PcapSettings(str(STANDALONE_CAPTURE)))
    seen: dict[tuple[Any, ...], EndpointRecord] = {}
    for m in report.mappings:
        key = (m.uuid, m.version, m.transport, m.port, m.endpoint)
        seen.setdefault(
            key,
            EndpointRecord(
                m.uuid,
                m.version,
                m.interface,
                m.annotation,
                m.transport,
                m.address,
                m.port,
                m.endpoint,
                f"{m.transport}:[{m.port or m.endpoint}]",
            ),
        )
    return tuple(seen.values())


# --- roles on the lab's profiles ---------------------------------------------------------


def test_a_member_server_is_a_member_whose_spooler_makes_it_a_possible_print_server() -> None:
    assert roles_of(lab_records("windows-member")) == {
        HostRole.PRINT_SERVER: Confidence.LOW,
        HostRole.MEMBER: Confidence.LOW,
    }


def test_the_domain_controller_profile_is_a_domain_controller() -> None:
    guesses = {g.role: g for g in infer_roles(lab_records("windows-dc"))}
    dc = guesses[HostRole.DOMAIN_CONTROLLER]
    assert dc.confidence is Confidence.HIGH
    assert "ms-drsr" in dc.evidence
    # NSPI (lsass serves it on a DC) and DFS namespaces are explained by the DC guess.
    assert HostRole.EXCHANGE_CLIENT_ACCESS not in guesses
    assert HostRole.FILE_SERVER not in guesses
    assert HostRole.MEMBER not in guesses
    assert guesses[HostRole.PRINT_SERVER].confidence is Confidence.LOW


def test_certificate_authority_and_file_server_profiles() -> None:
    ca = roles_of(lab_records("windows-ca"))
    assert ca[HostRole.CERTIFICATE_AUTHORITY] is Confidence.HIGH
    assert HostRole.MEMBER not in ca
    fs = {g.role: g for g in infer_roles(lab_records("windows-file-server"))}
    assert fs[HostRole.FILE_SERVER].confidence is Confidence.HIGH
    assert fs[HostRole.FILE_SERVER].evidence == ("ms-fsrvp", "ms-dfsnm")


def test_exchange_client_access_and_mailbox_profiles_are_told_apart() -> None:
    for profile in ("exchange2010-cas-static", "exchange2010-cas-dynamic"):
        cas = roles_of(lab_records(profile))
        assert cas[HostRole.EXCHANGE_CLIENT_ACCESS] is Confidence.HIGH, profile
        assert HostRole.EXCHANGE_MAILBOX not in cas, profile
    mailbox = roles_of(lab_records("exchange2010-mailbox-pf"))
    assert mailbox[HostRole.EXCHANGE_MAILBOX] is Confidence.HIGH
    # MAPI is served by the store here: no Client Access guess from it.
    assert HostRole.EXCHANGE_CLIENT_ACCESS not in mailbox


def test_no_endpoints_no_roles() -> None:
    assert infer_roles(()) == ()
    report = build_security_report(host((), HostStatus.FILTERED))
    assert (report.roles, report.findings) == ((), ())


# --- roles on real Samba servers ---------------------------------------------------------


def test_the_recorded_ad_dc_dump_is_what_samba_rpcclient_printed() -> None:
    dump = ad_dc_dump()
    towers = parse_epmlookup(AD_DC_RPCCLIENT.read_text())
    assert len(towers) == len(dump["endpoints"]) == 53
    assert rpcclient_keys(towers, dump["address"]) == epmscan_keys(dump)


def test_samba_ad_dc_is_a_domain_controller() -> None:
    dc_host = host_from_dict(ad_dc_dump())
    report = build_security_report(dc_host)
    guesses = {g.role: g for g in report.roles}
    assert guesses[HostRole.DOMAIN_CONTROLLER].confidence is Confidence.HIGH
    assert set(guesses[HostRole.DOMAIN_CONTROLLER].evidence) == {"ms-drsr", "ms-bkrp"}
    assert set(guesses) == {HostRole.DOMAIN_CONTROLLER}
    codes = {f.code: f for f in report.findings}
    assert codes["domain_controller.ms-drsr"].severity is Severity.WARNING
    # On a domain controller Netlogon and the backup key weigh more.
    assert codes["domain_controller.ms-nrpc"].severity is Severity.WARNING
    assert codes["domain_controller.ms-bkrp"].severity is Severity.WARNING
    assert not any(code.startswith("coercion.") for code in codes)


def test_samba_standalone_is_a_file_server_not_a_domain_controller() -> None:
    records = samba_standalone_records()
    assert len({(r.uuid, r.version) for r in records}) == 15
    guesses = {g.role: g for g in infer_roles(records)}
    assert guesses[HostRole.FILE_SERVER].confidence is Confidence.HIGH
    assert guesses[HostRole.FILE_SERVER].evidence == ("ms-fsrvp", "ms-dfsnm")
    assert guesses[HostRole.PRINT_SERVER].confidence is Confidence.LOW
    assert HostRole.DOMAIN_CONTROLLER not in guesses
    assert HostRole.MEMBER not in guesses
    findings = {f.code: f for f in exposure_findings(host(records), infer_roles(records))}
    spooler = findings["coercion.ms-rprn"]
    assert [r.endpoint for r in spooler.reachable] == ["\\pipe\\spoolss"]
    assert findings["coercion.ms-fsrvp"].reachable[0].endpoint == "\\pipe\\FssagentRpc"


# --- findings ----------------------------------------------------------------------------


def test_anonymous_access_and_each_risky_interface_with_its_transports() -> None:
    records = lab_records("windows-member")
    findings = exposure_findings(host(records), infer_roles(records))
    assert findings[0].code == ANONYMOUS_CODE
    assert findings[0].severity is Severity.INFO
    by_code = {f.code: f for f in findings}
    spooler = by_code["coercion.ms-rprn"]
    assert spooler.severity is Severity.ERROR
    assert {r.transport for r in spooler.reachable} == {"ncacn_ip_tcp", "ncacn_np"}
    assert all(r.registered and r.verify is None for r in spooler.reachable)
    assert not any(r.transport == "ncalrpc" for f in findings for r in f.reachable)
    winreg = by_code["remote_execution.ms-rrp"]
    assert [r.endpoint for r in winreg.reachable] == ["\\PIPE\\winreg"]
    assert spooler.uuid == "12345678-1234-abcd-ef00-0123456789ab"
    assert spooler.why and spooler.source


def test_messages_name_the_protocol_document_only_where_there_is_one() -> None:
    records = lab_records("exchange2010-mailbox-pf")
    findings = exposure_findings(host(records), infer_roles(records))
    by_code = {f.code: f for f in findings}
    undocumented = [f for f in findings if (f.document or "").lower() == "none"]
    assert undocumented, sorted(by_code)  # Exchange's store interfaces have no document
    for finding in undocumented:
        assert "[none]" not in finding.message and "reachable on" in finding.message
    documented = [f for f in findings if f.document and f.document.startswith("MS-")]
    assert documented, sorted(by_code)
    for finding in documented:
        assert f"[{finding.document}] reachable on" in finding.message


def test_coercion_on_a_domain_controller_is_critical() -> None:
    records = lab_records("windows-dc")
    by_code = {f.code: f for f in exposure_findings(host(records), infer_roles(records))}
    for code in ("coercion.ms-rprn", "coercion.ms-par", "coercion.ms-efsr"):
        assert by_code[code].severity is Severity.CRITICAL, code
        assert "domain controller" in by_code[code].message
    assert by_code["coercion.ms-dfsnm"].severity is Severity.ERROR


def test_an_interface_on_local_rpc_only_is_a_role_clue_but_no_finding() -> None:
    local = EndpointRecord(
        "e3514235-4b06-11d1-ab04-00c04fc2dcd2", "4.0", None, "", "ncalrpc", None, None,
        "NTDS_LPC", "ncalrpc:[NTDS_LPC]",
    )  # fmt: skip
    assert roles_of((local,)) == {HostRole.DOMAIN_CONTROLLER: Confidence.HIGH}
    codes = [f.code for f in exposure_findings(host((local,)))]
    assert codes == [ANONYMOUS_CODE]


@dataclass(frozen=True)
class FoundRecord:
    """An endpoint found without the endpoint mapper (what an inventory reports)."""

    uuid: str
    version: str
    name: str | None
    annotation: str
    transport: str
    address: str | None
    port: int | None
    endpoint: str | None
    binding: str
    registered: bool = False


def test_an_unregistered_endpoint_is_reported_the_same_way_with_registered_false() -> None:
    efsr = FoundRecord(
        "c681d488-d850-11d0-8c52-00c04fd90f7e", "1.0", None, "", "ncacn_np", ADDRESS, None,
        "\\pipe\\lsarpc", f"ncacn_np:\\\\{ADDRESS}[\\pipe\\lsarpc]",
    )  # fmt: skip
    assert {f.name for f in fields(FoundRecord)} - {"registered"} <= {
        f.name for f in fields(EndpointRecord)
    }
    findings = exposure_findings(host((efsr,)))  # type: ignore[arg-type]
    finding = next(f for f in findings if f.code == "coercion.ms-efsr-lsarpc")
    assert finding.severity is Severity.ERROR
    assert [(r.endpoint, r.registered) for r in finding.reachable] == [("\\pipe\\lsarpc", False)]
    assert "(not registered)" in finding.message


def test_verification_marks_each_tcp_port_and_demotes_an_interface_nobody_can_bind() -> None:
    records = lab_records("windows-ca")
    the_host = host(records)
    to_verify = dict(((port, i.uuid), i) for port, i in ports_to_verify(the_host))
    icpr = next(
        (port, uuid) for port, uuid in to_verify if uuid == "91ae6020-9e3c-11cf-8d7c-00aa00c091be"
    )
    assert to_verify[icpr].version == "0.0"
    verification = {key: (PortProbeStatus.BOUND, None) for key in to_verify}
    refused = {**verification, icpr: (PortProbeStatus.WRONG_SERVICE, "rejected")}
    report = build_security_report(the_host, verification=refused)
    assert report.verified
    finding = next(f for f in report.findings if f.code == "certificate_services.ms-icpr")
    tcp = next(r for r in finding.reachable if r.transport == "ncacn_ip_tcp")
    assert (tcp.verify, tcp.verify_detail) == (PortProbeStatus.WRONG_SERVICE, "rejected")
    # \PIPE\cert still reaches it: the severity stays.
    assert finding.severity is Severity.WARNING
    tcp_only = tuple(
        r for r in records if r.transport != "ncacn_np" or "cert" not in str(r.endpoint)
    )
    report = build_security_report(host(tcp_only), verification=refused)
    finding = next(f for f in report.findings if f.code == "certificate_services.ms-icpr")
    assert finding.severity is Severity.INFO
    assert "no port accepted a bind" in finding.message
    bound = build_security_report(host(tcp_only), verification=verification)
    assert (
        next(f for f in bound.findings if f.code == "certificate_services.ms-icpr").severity
        is Severity.WARNING
    )


def test_fail_on_threshold() -> None:
    records = lab_records("windows-member")
    findings = exposure_findings(host(records), infer_roles(records))
    assert reaches(findings, Severity.ERROR)
    assert not reaches(findings, Severity.CRITICAL)
    assert not reaches(findings, None)
    assert build_security_report(host(records)).worst is Severity.ERROR
