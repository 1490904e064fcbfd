"""``epmscan lab``: run emulated Windows/Exchange hosts in the foreground until stopped."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from epmscan.cli.console import exit_with_usage_error
from epmscan.engine.loop import run
from epmscan.errors import LabConfigError

if TYPE_CHECKING:
    from epmscan.lab import Lab, LabConfig

# The lab itself is imported when a lab command runs: `epmscan scan` does not pay for it.


def _profiles_table() -> Table:
    from epmscan.lab import list_profiles

    table = Table(title="Lab profiles", title_justify="left")
    table.add_column("profile", style="bold")
    table.add_column("interfaces", justify="right")
    table.add_column("description")
    for profile in list_profiles():
        table.add_row(profile.name, str(len(profile.interface_keys)), profile.description)
    return table


_SHOWN_KEYS = ("mapi", "async_mapi", "nspi", "rfr")


def host_lines(lab: Lab) -> list[str]:
    """One line per host: address, name, profile and what listens where."""
    lines = []
    for host in lab.hosts.values():
        head = f"{host.address:<15} {host.name:<15} {host.profile:<25}"
        if host.down:
            lines.append(f"{head} down (nothing listens)")
            continue
        endpoints = host.tcp_endpoints
        parts = [f"epm={host.epm_port}"]
        parts += [f"{key}={endpoints[key]}" for key in _SHOWN_KEYS if key in endpoints]
        parts.append("http=" + (",".join(map(str, host.http_ports)) or "-"))
        closed = sorted(set(host.http_advertised) - set(host.http_ports))
        if closed:
            parts.append("http_closed=" + ",".join(map(str, closed)))
        if host.silent_ports:
            parts.append("silent=" + ",".join(map(str, host.silent_ports)))
        if host.plan.filtered_ports:
            parts.append("filtered=" + ",".join(map(str, sorted(host.plan.filtered_ports))))
        if host.plan.foreign_ports:
            parts.append("foreign=" + ",".join(map(str, sorted(host.plan.foreign_ports))))
        if host.plan.http_banners:
            parts.append("http_banner=" + ",".join(map(str, sorted(host.plan.http_banners))))
        parts.append(f"paging={host.config.paging}")
        if host.fault is not None:
            parts.append(f"fault={host.fault.describe()}")
        if host.config.delay:
            parts.append(f"delay={host.config.delay:g}s")
        if host.config.zero_address_towers:
            parts.append("towers=0.0.0.0")
        if host.config.auth is not None:
            accounts = len(host.config.accounts)
            parts.append(f"auth={host.config.auth}({accounts} account{'s' * (accounts != 1)})")
        others = sorted(set(host.plan.tcp_listeners) - {endpoints.get(k) for k in _SHOWN_KEYS})
        parts.append("other_rpc=" + ",".join(map(str, others)))
        lines.append(f"{head} " + " ".join(parts))
    return lines


async def _serve(config: LabConfig, console: Console) -> None:
    from epmscan.lab import run_lab

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_lab(config) as lab:
        if config.wildcard is not None:
            spec = config.wildcard
            console.print(
                f"epmscan lab: {len(lab.hosts)} live hosts in {spec.network}, "
                f"served on {spec.bind} ports "
                + ",".join(str(port) for _, port in sorted(lab.listen_addresses)),
                markup=False,
            )
        else:
            for line in host_lines(lab):
                console.print(line, markup=False)
        console.print("Stop with Ctrl-C.", markup=False)
        console.file.flush()
        await stop.wait()


def lab_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="TOML lab file (see docs/lab.md)."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="One host of this profile (see --list-profiles)."),
    ] = None,
    bind: Annotated[
        str,
        typer.Option(
            "--bind",
            metavar="ADDRESS",
            help="Address of the --profile host (loopback unless --any-address).",
        ),
    ] = "127.0.0.1",
    epm_port: Annotated[
        int | None, typer.Option("--epm-port", help="Endpoint mapper port (135 needs root).")
    ] = None,
    port_offset: Annotated[
        int | None, typer.Option("--port-offset", help="Added to every static port.")
    ] = None,
    paging: Annotated[
        str | None, typer.Option("--paging", help="windows, samba or samba-dc (--profile only).")
    ] = None,
    list_profiles_flag: Annotated[
        bool, typer.Option("--list-profiles", help="List the host profiles and exit.")
    ] = False,
    any_address: Annotated[
        bool,
        typer.Option(
            "--any-address",
            help="Allow host addresses outside 127.0.0.0/8 (a lab inside a network namespace).",
        ),
    ] = False,
) -> None:
    """Run emulated Windows/Exchange hosts on loopback until Ctrl-C or SIGTERM."""
    from epmscan.lab import load_lab_file, single_host_lab

    console = Console(highlight=False, soft_wrap=True)
    if list_profiles_flag:
        console.print(_profiles_table())
        return
    try:
        if config is not None and profile is not None:
            raise LabConfigError("give --config or --profile, not both")
        if config is not None:
            if paging is not None:
                raise LabConfigError("--paging goes with --profile; set paging in the lab file")
            lab_config = load_lab_file(config, any_address=any_address).with_ports(
                epm_port=epm_port, port_offset=port_offset
            )
        elif profile is not None:
            overrides: dict[str, Any] = {} if paging is None else {"paging": paging}
            lab_config = single_host_lab(
                profile,
                bind,
                epm_port=135 if epm_port is None else epm_port,
                port_offset=port_offset or 0,
                any_address=any_address,
                **overrides,
            )
        else:
            raise LabConfigError("give --config FILE or --profile NAME (see --list-profiles)")
        run(_serve(lab_config, console))
    except LabConfigError as exc:
        exit_with_usage_error(str(exc))
