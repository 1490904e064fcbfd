"""``access_denied`` and ``auth_failed``: how errors map to them, and what each layer says."""

from __future__ import annotations

from typing import Any

import pytest

from epmscan.app.outputs import SILENT_STATUSES
from epmscan.checks.diff import compared_status, diff_results
from epmscan.checks.findings import evaluate
from epmscan.engine.epm_session import status_for_error
from epmscan.engine.probes import _PROBE_STATUS
from epmscan.errors import (
    AuthenticationFailedError,
    BindRejectedError,
    EpmscanError,
    ProtocolError,
    RpcFaultError,
    SignatureError,
)
from epmscan.models import ExchangeHostReport, HostResult, HostStatus, Severity
from epmscan.report.console import STATUS_STYLE
from epmscan.report.serialize import host_from_dict, host_to_dict


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RpcFaultError(5, "rpc fault rpc_s_access_denied"), HostStatus.ACCESS_DENIED),
        (RpcFaultError(0x1C010002, "rpc fault nca_s_op_rng_error"), HostStatus.RPC_FAULT),
        (AuthenticationFailedError("bind_nak: invalid_checksum"), HostStatus.AUTH_FAILED),
        (AuthenticationFailedError("refused", 5), HostStatus.AUTH_FAILED),
        (SignatureError("response signature does not verify"), HostStatus.AUTH_FAILED),
        (ProtocolError("not DCE/RPC"), HostStatus.PROTOCOL_ERROR),
        (BindRejectedError("bind_nak: temporary_congestion", 1), HostStatus.BIND_REJECTED),
    ],
)
def test_errors_map_to_statuses(error: EpmscanError, status: HostStatus) -> None:
    assert status_for_error(error) is status


def test_every_status_has_a_console_style_and_a_probe_status() -> None:
    assert set(STATUS_STYLE) == set(HostStatus)
    answered = set(HostStatus) - {HostStatus.OK, HostStatus.UNRESOLVED}
    assert answered <= set(_PROBE_STATUS)


def test_the_new_statuses_answered_so_they_are_not_silent() -> None:
    assert HostStatus.ACCESS_DENIED not in SILENT_STATUSES
    assert HostStatus.AUTH_FAILED not in SILENT_STATUSES


def host(status: HostStatus, fault: int | None = None, error: str | None = None) -> HostResult:
    return HostResult(
        target="10.0.0.5",
        address="10.0.0.5",
        port=135,
        status=status,
        error=error,
        fault_status=fault,
    )


def test_access_denied_is_its_own_finding_with_a_fix_that_asks_for_credentials() -> None:
    [finding] = evaluate(host(HostStatus.ACCESS_DENIED, 5, "rpc fault rpc_s_access_denied"))
    assert finding.code == "epm.access_denied"
    assert finding.severity is Severity.CRITICAL
    assert finding.found == "access_denied"
    assert "refuses anonymous calls" in finding.message
    fix = finding.fix or ""
    assert "-u DOMAIN\\user" in fix and "--password-file" in fix
    assert "10.0.0.5" not in fix


def test_an_authentication_failure_has_a_fix_about_the_account() -> None:
    [finding] = evaluate(host(HostStatus.AUTH_FAILED, 5, "refused the credentials"))
    assert finding.code == "epm.auth_failed"
    assert finding.severity is Severity.CRITICAL
    assert finding.found == "auth_failed"
    fix = finding.fix or ""
    assert "locked out" in fix and "4625" in fix
    assert "RPC endpoint mapper does" not in fix  # not the text for a foreign service
    assert "10.0.0.5" not in fix


@pytest.mark.parametrize("status", [HostStatus.ACCESS_DENIED, HostStatus.AUTH_FAILED])
def test_the_new_statuses_survive_a_saved_result(status: HostStatus) -> None:
    saved: dict[str, Any] = host_to_dict(host(status, 5, "x"))
    assert saved["status"] == status.value
    assert saved["fault_status"] == "0x00000005"
    assert host_from_dict(saved).status is status


def report(status: HostStatus, fault: int | None = None) -> ExchangeHostReport:
    return ExchangeHostReport(host=host(status, fault))


def test_an_old_rpc_fault_0x5_compares_as_access_denied() -> None:
    assert compared_status(host(HostStatus.RPC_FAULT, 5)) is HostStatus.ACCESS_DENIED
    assert compared_status(host(HostStatus.RPC_FAULT, 0x1C010002)) is HostStatus.RPC_FAULT
    unchanged = diff_results(
        [report(HostStatus.RPC_FAULT, 5)], [report(HostStatus.ACCESS_DENIED, 5)]
    )
    assert unchanged.changed == () and unchanged.unchanged == 1
    assert not unchanged.significant


def test_access_denied_to_ok_is_a_change() -> None:
    diff = diff_results([report(HostStatus.ACCESS_DENIED, 5)], [report(HostStatus.OK)])
    [changed] = diff.changed
    assert (changed.old_status, changed.new_status) == (HostStatus.ACCESS_DENIED, HostStatus.OK)
    assert diff.significant and changed.significant == ("status",)


def test_every_status_has_a_meaning_for_reports() -> None:
    assert all(status.meaning for status in HostStatus)
