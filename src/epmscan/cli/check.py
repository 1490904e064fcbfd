"""``epmscan check``: are the Exchange RPC ports where the firewall expects them?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

import typer

from epmscan.checks.findings import build_report, exit_code_for
from epmscan.checks.policy import (
    load_policy,
    parse_expect,
    parse_port_list,
    parse_port_range,
    parse_severity,
)
from epmscan.cli import options as opt
from epmscan.cli.common import EXIT_FINDINGS, EXIT_OK, exit_with_usage_error, output_console
from epmscan.cli.scan import ScanRun, execute_scan
from epmscan.engine.dump import Timeouts
from epmscan.engine.exchange import CheckOptions, check_host
from epmscan.errors import UsageError
from epmscan.models import DynamicRanges, ExchangeHostReport, HostResult, Policy, Severity
from epmscan.report.check_console import print_check
from epmscan.report.serialize import exchange_to_dict, exchange_to_json


def build_policy(
    policy_file: str | None,
    expect: list[str],
    require_http: str | None,
    allow_dynamic: bool,
    windows_range: str | None = None,
    exchange_range: str | None = None,
) -> Policy:
    """The policy file, or the quick case of ``--expect``/``--require-http``/ranges."""
    quick = expect or require_http or windows_range or exchange_range
    if policy_file and quick:
        raise UsageError(
            "--policy does not go with --expect, --require-http or the range options"
            " (put them in the policy file)"
        )
    if policy_file:
        return load_policy(policy_file)
    http = parse_port_list(require_http) if require_http else ()
    defaults = DynamicRanges()
    ranges = DynamicRanges(
        parse_port_range(windows_range, "--windows-range") if windows_range else defaults.windows,
        parse_port_range(exchange_range, "--exchange-range")
        if exchange_range
        else defaults.exchange,
    )
    return Policy.from_expectations(
        parse_expect(expect), http, allow_dynamic=allow_dynamic, ranges=ranges
    )


def run_check(
    args: opt.ScanArgs,
    policy: Policy,
    *,
    http_ports: tuple[int, ...] | None = None,
    observe: Callable[[ExchangeHostReport], None] | None = None,
) -> ScanRun[ExchangeHostReport]:
    """Scan with the Exchange check as the per-host job; results stream to the writers."""
    if args.mode not in ("dump", "map"):
        raise UsageError(f"--mode must be 'dump' or 'map', not {args.mode!r}")
    if not args.targets and not args.input_lists:
        args = opt.ScanArgs(**{**args.__dict__, "targets": list(policy.targets())})
    if not args.targets and not args.input_lists:
        raise UsageError("no targets given (TARGETS..., -iL FILE, or servers in --policy)")
    options = CheckOptions(
        port=args.port,
        timeouts=Timeouts(args.connect_timeout, args.read_timeout, args.host_timeout),
        max_ents=args.max_ents,
        decoder=args.decoder,
        per_host=args.per_host,
        use_map=True,
        mode=args.mode,
    )
    if http_ports is not None:
        options = replace(options, http_ports=http_ports)

    async def job(target: str, address: str) -> ExchangeHostReport:
        name = None if target == address else target
        expectation = policy.expectation_for(address, name)
        return await check_host(target, address, expectation, options)

    def unresolved(host: HostResult) -> ExchangeHostReport:
        return build_report(host, (), (), policy.expectation_for(None, host.target))

    return execute_scan(
        args,
        job=job,
        to_dict=exchange_to_dict,
        to_json=exchange_to_json,
        unresolved=unresolved,
        command="check",
        meta_extra={"policy": policy.source},
        keep=without_endpoints,
        keep_all=True,
        observe=observe,
    )


class _WorstFinding:
    """The exit code over every host, also those the console no longer keeps."""

    def __init__(self, threshold: Severity) -> None:
        self.threshold = threshold
        self.exit_code = EXIT_OK

    def observe(self, report: ExchangeHostReport) -> None:
        if exit_code_for(report.findings, self.threshold):
            self.exit_code = EXIT_FINDINGS


def without_endpoints(report: ExchangeHostReport) -> ExchangeHostReport:
    """The report as the console shows it: the dump's endpoints are in the files only."""
    return replace(report, host=replace(report.host, endpoints=()))


@opt.with_scan_options(concurrency=200, host_timeout=60.0)
def check_command(
    args: opt.ScanArgs,
    policy_file: Annotated[
        str | None, typer.Option("--policy", help="TOML policy: server groups and expectations.")
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option("--expect", help="Expected static port, e.g. mapi=60001 (repeatable)."),
    ] = None,
    require_http: Annotated[
        str | None,
        typer.Option("--require-http", help="HTTP ports that must answer: 6001,6002,6004."),
    ] = None,
    no_dynamic: Annotated[
        bool,
        typer.Option("--no-dynamic", help="An Exchange interface on a dynamic port is an error."),
    ] = False,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Exit 1 at findings of this severity or worse.")
    ] = "error",
    windows_range: Annotated[
        str | None,
        typer.Option("--windows-range", help="Windows dynamic range (default 49152-65535)."),
    ] = None,
    exchange_range: Annotated[
        str | None,
        typer.Option(
            "--exchange-range", help="Range Exchange 2010 setup sets (default 6005-65534)."
        ),
    ] = None,
) -> None:
    """Resolve MAPI/NSPI/RFR on every server, prove each port, check what is expected.

    Exit 0: every server as expected; 1: a finding at or above --fail-on; 2: usage error.
    """
    try:
        threshold = parse_severity(fail_on)
        policy = build_policy(
            policy_file,
            list(expect or []),
            require_http,
            not no_dynamic,
            windows_range,
            exchange_range,
        )
        worst = _WorstFinding(threshold)
        outcome = run_check(args, policy, observe=worst.observe)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    reports = sorted(outcome.kept, key=lambda r: r.host.target)
    console = output_console(stderr=args.jsonl == "-")
    print_check(reports, console)
    if outcome.dropped:
        console.print(f"... and {outcome.dropped} more servers (see the output files)")
    code = worst.exit_code
    if outcome.exit_code != EXIT_OK:
        raise typer.Exit(outcome.exit_code)
    raise typer.Exit(code)
