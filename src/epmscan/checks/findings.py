"""Findings: what is not as the policy expects on one host, how bad, and how to fix it.

Codes are stable identifiers (``mapi.dynamic``, ``nspi.wrong_static``, ``rfr.filtered``,
``http6004.closed``, ``epm.unreachable``); ``[severity]`` in a policy overrides them by
code or fnmatch pattern. The full list is in docs/policy.md.

A finding says only what the check knows: a port inside a dynamic range with no expected
port is ``<iface>.in_dynamic_range`` ("not verified as pinned"), never a fact that it is
dynamic or pinned. Fix texts name no host (:mod:`epmscan.checks.fixes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from epmscan.checks.classify import DYNAMIC_CLASSES, classify_ports, dynamic_range_name
from epmscan.checks.fixes import (
    access_denied_fix,
    auth_failed_fix,
    closed_fix,
    epm_fix,
    firewall_fix,
    http_fix,
    label,
    pin_port_fix,
    timeout_fix,
    verify_pinned_fix,
    wrong_service_fix,
)
from epmscan.facts.exchange import (
    MUST_REGISTER_ROLES,
    ROLE_HTTP_PORTS,
    ROLE_INTERFACES,
    RPC_HTTP_PORTS,
)
from epmscan.models import (
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    Finding,
    HostResult,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    PortClass,
    PortProbeStatus,
    ResolvedPort,
    Role,
    Severity,
)

_NETWORK_FAILURES = frozenset(
    {
        HostStatus.CLOSED,
        HostStatus.FILTERED,
        HostStatus.UNREACHABLE,
        HostStatus.TIMEOUT,
        HostStatus.UNRESOLVED,
    }
)

_HTTP_DOWN = frozenset(
    {HttpProbeStatus.CLOSED, HttpProbeStatus.FILTERED, HttpProbeStatus.UNREACHABLE}
)


_PROBE_FAILURES: dict[PortProbeStatus, tuple[str, str]] = {
    PortProbeStatus.WRONG_SERVICE: ("wrong_service", "the port answers and refused the bind"),
    PortProbeStatus.CLOSED: ("closed", "the port refused the connection"),
    PortProbeStatus.FILTERED: ("filtered", "the connection attempt got no answer (filtered)"),
    PortProbeStatus.UNREACHABLE: ("unreachable", "the port is unreachable (no route)"),
    PortProbeStatus.TIMEOUT: (
        "timeout",
        "the port accepted the connection and never answered the bind",
    ),
    PortProbeStatus.PROTOCOL_ERROR: ("protocol_error", "the port answered with non-DCE/RPC bytes"),
}

_HTTP_FAILURES: dict[HttpProbeStatus, tuple[str, str]] = {
    HttpProbeStatus.OTHER_SERVICE: ("other_service", "answered by another service"),
    HttpProbeStatus.SILENT: ("silent", "silent (connected, no greeting)"),
    HttpProbeStatus.CLOSED: ("closed", "closed"),
    HttpProbeStatus.FILTERED: ("filtered", "filtered"),
    HttpProbeStatus.UNREACHABLE: ("unreachable", "unreachable"),
}


class _Collector:
    def __init__(self, host: HostResult, expectation: Expectation) -> None:
        self.host = host
        self.expectation = expectation
        self.items: list[Finding] = []

    def add(
        self,
        default: Severity,
        code: str,
        message: str,
        *,
        interface: ExchangeInterface | None = None,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.items.append(
            Finding(
                severity=self.expectation.severity_for(code, default),
                host=self.host.target,
                code=code,
                message=message,
                interface=interface,
                expected=expected,
                found=found,
                fix=fix,
            )
        )


def evaluate(
    host: HostResult,
    ports: Sequence[ResolvedPort] = (),
    http: Sequence[HttpPortProbe] = (),
    expectation: Expectation | None = None,
) -> tuple[Finding, ...]:
    """Every finding for one host, most severe first.

    ``ports`` may come classified (:func:`~epmscan.checks.classify.classify_ports`) or
    not; unclassified ports are classified here against ``expectation``. With no
    expectation only the endpoint mapper, the probes and the HTTP ports are judged.
    """
    expectation = expectation or Expectation()
    out = _Collector(host, expectation)
    if host.status is not HostStatus.OK:
        _epm_findings(out)
    else:
        if any(p.port_class is None for p in ports):
            ports = classify_ports(tuple(ports), expectation)
        mapi_ports = {p.port for p in ports if p.interface is ExchangeInterface.MAPI}
        for interface in ExchangeInterface:
            mine = [p for p in ports if p.interface is interface]
            if interface is ExchangeInterface.ASYNC_MAPI:
                # On MAPI's own port it is the same process: MAPI's findings say it all.
                mine = [p for p in mine if p.port not in mapi_ports]
                if not mine:
                    continue
            _interface_findings(out, interface, mine)
    host_down = host.status in _NETWORK_FAILURES
    if host_down:
        # The host itself is down or unreachable: the critical EPM finding says it, and
        # HTTP ports that fail the same way add nothing but noise.
        http = [p for p in http if p.status not in _HTTP_DOWN]
    _http_findings(out, http, flag_unprobed=not host_down)
    return tuple(sorted(out.items, key=lambda f: -f.severity.rank))


def build_report(
    host: HostResult,
    ports: Sequence[ResolvedPort] = (),
    http: Sequence[HttpPortProbe] = (),
    expectation: Expectation | None = None,
) -> ExchangeHostReport:
    """Classify ``ports`` and evaluate everything into one :class:`ExchangeHostReport`."""
    classified = classify_ports(tuple(ports), expectation)
    return ExchangeHostReport(
        host=host,
        role=expectation.role if expectation else None,
        group=expectation.group if expectation else None,
        ports=classified,
        http=tuple(http),
        findings=evaluate(host, classified, http, expectation),
        expectation=expectation,
    )


def rejudged(report: ExchangeHostReport, expectation: Expectation | None) -> ExchangeHostReport:
    """The same observations judged against another expectation (``diff --policy``)."""
    return build_report(report.host, report.ports, report.http, expectation)


_REFUSALS: dict[HostStatus, tuple[str, str, str, Callable[[int], str]]] = {
    HostStatus.ACCESS_DENIED: (
        "epm.access_denied",
        "refuses anonymous calls",
        "endpoint mapper answers ept_lookup",
        access_denied_fix,
    ),
    HostStatus.AUTH_FAILED: (
        "epm.auth_failed",
        "refused the credentials",
        "the endpoint mapper accepts the account given with -u",
        auth_failed_fix,
    ),
}
"""Endpoint mappers that answered but refused: the finding's code, what it did, what was
expected, and the fix for its port."""


def _epm_findings(out: _Collector) -> None:
    host = out.host
    refusal = _REFUSALS.get(host.status)
    if refusal is not None:
        code, what, expected, fix = refusal
        detail = f": {host.error}" if host.error else ""
        out.add(
            Severity.CRITICAL,
            code,
            f"endpoint mapper on {host.address}:{host.port} {what} ({host.status.value}{detail})",
            expected=expected,
            found=host.status.value,
            fix=fix(host.port),
        )
        return
    unreachable = host.status in _NETWORK_FAILURES
    code = "epm.unreachable" if unreachable else "epm.failed"
    detail = f": {host.error}" if host.error else ""
    out.add(
        Severity.CRITICAL,
        code,
        f"endpoint mapper on {host.address}:{host.port} did not answer "
        f"({host.status.value}{detail})",
        expected=f"endpoint mapper answers on TCP {host.port}",
        found=host.status.value,
        fix=epm_fix(
            host.port,
            answered=not unreachable,
            resolved=host.status is not HostStatus.UNRESOLVED,
        ),
    )


def _interface_findings(
    out: _Collector, interface: ExchangeInterface, ports: list[ResolvedPort]
) -> None:
    exp = out.expectation
    expected = exp.static_port(interface)
    tcp = [p for p in ports if p.transport == "ncacn_ip_tcp" and p.port is not None]
    name = label(interface)
    if not tcp:
        if expected is not None:
            out.add(
                Severity.ERROR,
                f"{interface.value}.not_registered",
                f"{name} has no TCP endpoint in the endpoint mapper; "
                f"expected static port {expected}",
                interface=interface,
                expected=str(expected),
                found="not registered",
                fix=pin_port_fix(interface, expected, exp.role),
            )
        elif exp.role in MUST_REGISTER_ROLES and interface in ROLE_INTERFACES[exp.role]:
            out.add(
                Severity.WARNING,
                f"{interface.value}.not_registered",
                f"{name} has no TCP endpoint in the endpoint mapper, but a {exp.role.value} "
                "server serves it to Outlook",
                interface=interface,
                found="not registered",
            )
        return
    for resolved in tcp:
        _port_class_finding(out, interface, resolved)
        _probe_finding(out, interface, resolved)


def _port_class_finding(
    out: _Collector, interface: ExchangeInterface, resolved: ResolvedPort
) -> None:
    exp = out.expectation
    port = resolved.port
    assert port is not None
    expected = resolved.expected_port
    name = label(interface)
    port_class = resolved.port_class
    if port_class in DYNAMIC_CLASSES:
        which = dynamic_range_name(port, port_class, exp.ranges)
        role_uses = _role_uses(exp.role, interface)
        if expected is not None:
            out.add(
                Severity.ERROR,
                f"{interface.value}.dynamic",
                f"{name} is on port {port}, inside the {which}, not on the expected static port "
                f"{expected} (a dynamic port, or a static port set to the wrong value)",
                interface=interface,
                expected=str(expected),
                found=f"{port} ({port_class.value})",
                fix=pin_port_fix(interface, expected, exp.role),
            )
        elif not exp.allow_dynamic and interface in ROLE_INTERFACES.get(exp.role, frozenset()):
            out.add(
                Severity.ERROR,
                f"{interface.value}.dynamic",
                f"{name} is on port {port}, inside the {which}, with no static port listed for "
                "it, and the policy allows no dynamic ports (if the port is pinned, list it)",
                interface=interface,
                expected="a static port",
                found=f"{port} ({port_class.value})",
                fix=pin_port_fix(interface, None, exp.role),
            )
        elif role_uses or not exp.allow_dynamic:
            out.add(
                Severity.INFO,
                f"{interface.value}.in_dynamic_range",
                f"{name} is on port {port}, in the {which}, not verified as pinned "
                "(no static port is expected for it)",
                interface=interface,
                found=f"{port} ({port_class.value})",
                fix=verify_pinned_fix(interface, exp.role),
            )
    elif port_class is PortClass.STATIC_UNEXPECTED:
        out.add(
            Severity.ERROR,
            f"{interface.value}.wrong_static",
            f"{name} is on static port {port}, expected {expected}",
            interface=interface,
            expected=str(expected),
            found=str(port),
            fix=pin_port_fix(interface, expected, exp.role),
        )


def _role_uses(role: Role | None, interface: ExchangeInterface) -> bool:
    """Whether Outlook uses ``interface`` on a server of ``role`` (AsyncEMSMDB goes with MAPI)."""
    used = ROLE_INTERFACES.get(role, frozenset())
    if interface is ExchangeInterface.ASYNC_MAPI:
        return ExchangeInterface.MAPI in used
    return interface in used


def _probe_finding(out: _Collector, interface: ExchangeInterface, resolved: ResolvedPort) -> None:
    failure = _PROBE_FAILURES.get(resolved.probe)
    if failure is None:
        return
    port = resolved.port
    assert port is not None
    suffix, what = failure
    role = out.expectation.role
    detail = f" ({resolved.probe_detail})" if resolved.probe_detail else ""
    if resolved.probe is PortProbeStatus.WRONG_SERVICE:
        fix = wrong_service_fix(interface, port, role)
    elif resolved.probe is PortProbeStatus.PROTOCOL_ERROR:
        fix = wrong_service_fix(interface, port, role, not_rpc=True)
    elif resolved.probe is PortProbeStatus.CLOSED:
        fix = closed_fix(interface, role)
    elif resolved.probe is PortProbeStatus.TIMEOUT:
        fix = timeout_fix(interface, role)
    else:
        fix = firewall_fix(port, label(interface))
    out.add(
        Severity.ERROR,
        f"{interface.value}.{suffix}",
        f"{label(interface)} resolves to TCP {port}, but {what}{detail}",
        interface=interface,
        expected=f"TCP {port} accepts a bind for {label(interface)}",
        found=resolved.probe.value,
        fix=fix,
    )


def _http_findings(
    out: _Collector, probes: Iterable[HttpPortProbe], *, flag_unprobed: bool = True
) -> None:
    required = set(out.expectation.require_http)
    role_ports = ROLE_HTTP_PORTS.get(out.expectation.role, frozenset())
    seen: set[int] = set()
    for probe in probes:
        seen.add(probe.port)
        is_required = probe.port in required
        if not is_required and probe.port in RPC_HTTP_PORTS and probe.port not in role_ports:
            continue  # the RPC proxy never reaches this port on a server of this role
        severity = Severity.ERROR if is_required else Severity.WARNING
        need = "required" if is_required else "probed"
        failure = _HTTP_FAILURES.get(probe.status)
        if failure is not None:
            suffix, state = failure
            banner = f": {probe.banner!r}" if probe.banner else ""
            detail = f" ({probe.detail})" if probe.detail else ""
            out.add(
                severity,
                f"http{probe.port}.{suffix}",
                f"RPC over HTTP port {probe.port} ({need}) is {state}{banner}{detail}",
                interface=probe.interface,
                expected="ncacn_http/1.0 greeting",
                found=probe.status.value + (f" {probe.banner!r}" if probe.banner else ""),
                fix=http_fix(probe.port, probe.interface, state),
            )
        elif probe.bind not in (PortProbeStatus.BOUND, PortProbeStatus.NOT_PROBED):
            out.add(
                severity,
                f"http{probe.port}.bind_failed",
                f"RPC over HTTP port {probe.port} greets with ncacn_http/1.0 but the "
                f"{label(probe.interface)} bind behind it failed ({probe.bind.value})",
                interface=probe.interface,
                expected=f"bind to {label(probe.interface)} accepted",
                found=probe.bind.value,
                fix=http_fix(
                    probe.port, probe.interface, f"refusing the bind ({probe.bind.value})"
                ),
            )
    for port in sorted(required - seen) if flag_unprobed else ():
        interface = RPC_HTTP_PORTS.get(port)
        out.add(
            Severity.WARNING,
            f"http{port}.not_probed",
            f"RPC over HTTP port {port} is required but was not probed",
            interface=interface,
            expected="ncacn_http/1.0 greeting",
            found="not probed",
        )


def exit_code_for(findings: Iterable[Finding], fail_on: Severity) -> int:
    """1 when any finding is at least as severe as ``fail_on``, else 0."""
    return 1 if any(f.severity.rank >= fail_on.rank for f in findings) else 0
