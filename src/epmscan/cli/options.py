"""The options ``scan`` and ``check`` share, declared once (the credentials' options are
:mod:`epmscan.cli.credentials`', which ``dump`` has too)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from epmscan.cli.credentials import HashesFile, PasswordFile, User, read_credentials
from epmscan.cli.parsing import choices, parse_decoder, parse_mode, parse_severity
from epmscan.errors import UsageError
from epmscan.models import Severity
from epmscan.settings import Decoder as DecoderChoice
from epmscan.settings import (
    FindingsSettings,
    NetworkSettings,
    OutputSettings,
    ScanMode,
    ScanSettings,
    TargetSettings,
    Timeouts,
)
from epmscan.targets import parse_shard

Targets = Annotated[
    list[str] | None,
    typer.Argument(
        help="Addresses, CIDR blocks, ranges (10.0.0.10-50, 10.0.0.10-10.0.0.50), host names."
    ),
]
InputList = Annotated[
    list[str] | None,
    typer.Option(
        "-iL",
        "--input-list",
        metavar="FILE",
        help="File of targets, one or more a line, # comments.",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="TARGETS", help="Targets to leave out (comma separated)."),
]
ExcludeFile = Annotated[
    list[str] | None,
    typer.Option("--exclude-file", metavar="FILE", help="File of targets to leave out."),
]
MaxHosts = Annotated[
    int, typer.Option("--max-hosts", min=1, help="Refuse a scan of more addresses than this.")
]
Seed = Annotated[
    int | None, typer.Option("--seed", help="Seed of the scan order (repeatable order).")
]
Shard = Annotated[
    str | None,
    typer.Option("--shard", metavar="K/N", help="Scan shard K of N of the same order, as K/N."),
]
Port = Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Endpoint mapper port.")]
Mode = Annotated[
    str,
    typer.Option(
        "--mode",
        metavar=choices(ScanMode),
        help="dump (full ept_lookup) or map (ept_map, Exchange only).",
    ),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, max=100000, help="Hosts in flight at once.")
]
PerHost = Annotated[
    int,
    typer.Option(
        "--per-host", min=1, max=64, help="Connections to one host at once (check's probes)."
    ),
]
MaxRate = Annotated[
    float | None, typer.Option("--max-rate", min=0.1, help="New connections per second at most.")
]
ConnectTimeout = Annotated[
    float, typer.Option("--connect-timeout", min=0.01, help="Seconds to wait for a connect.")
]
ReadTimeout = Annotated[
    float, typer.Option("--read-timeout", min=0.01, help="Seconds to wait for each answer.")
]
HostTimeout = Annotated[
    float, typer.Option("--host-timeout", min=0.01, help="Seconds for one host in all.")
]
Retries = Annotated[
    int, typer.Option("--retries", min=0, max=10, help="Extra connects when one got no answer.")
]
MaxEnts = Annotated[
    int, typer.Option("--max-ents", min=1, max=100000, help="Entries asked per ept_lookup.")
]
Jsonl = Annotated[
    str | None,
    typer.Option(
        "--jsonl", metavar="PATH", help="Write one JSON object per host as it ends (- = stdout)."
    ),
]
JsonDoc = Annotated[
    str | None, typer.Option("--json", metavar="PATH", help="Write one JSON document.")
]
Csv = Annotated[
    str | None, typer.Option("--csv", metavar="PATH", help="Write one CSV row per endpoint.")
]
Save = Annotated[
    str | None,
    typer.Option("--save", metavar="PATH", help="Keep the full result for 'epmscan diff'."),
]
OnlyAnswered = Annotated[
    bool, typer.Option("--only-answered", help="Write only hosts whose EPM port answered.")
]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No live progress bar.")]
Decoder = Annotated[
    str,
    typer.Option(
        "--decoder",
        metavar=choices(DecoderChoice),
        help="fast (default) or impacket (reference, slow).",
    ),
]
Inventory = Annotated[
    bool,
    typer.Option(
        "--inventory",
        help="Ask every advertised TCP port what it serves (rpc_mgmt_inq_if_ids; binds"
        " where refused): finds interfaces never registered.",
    ),
]
InventoryPorts = Annotated[
    str | None,
    typer.Option(
        "--inventory-ports",
        metavar="PORTS",
        help="More TCP ports to take the inventory of, e.g. 49152,49700 (implies --inventory).",
    ),
]


Findings = Annotated[
    bool,
    typer.Option(
        "--findings",
        help="Security view: roles guessed per host, risky interfaces by severity (docs/json.md).",
    ),
]
Verify = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Bind every advertised TCP port of a risky interface (implies --findings).",
    ),
]
ScanFailOn = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="<none|" + choices(Severity)[1:],
        help="Exit 1 at findings of this severity or worse (implies --findings; default none).",
    ),
]


def findings_settings(findings: bool, verify: bool, fail_on: str | None) -> FindingsSettings:
    """The security view ``--findings``, ``--verify`` and ``--fail-on`` ask for.

    ``--verify`` and ``--fail-on`` imply ``--findings``; ``--fail-on none`` is the default
    (a scan exits 0 whatever it finds). A bad severity is a :class:`UsageError`.
    """
    threshold = None
    if fail_on is not None and fail_on.strip().lower() != "none":
        try:
            threshold = parse_severity(fail_on)
        except UsageError:
            allowed = ", ".join(["none", *(s.value for s in Severity)])
            raise UsageError(
                f"--fail-on: unknown severity {fail_on!r} (expected one of: {allowed})"
            ) from None
    enabled = findings or verify or threshold is not None
    return FindingsSettings(enabled=enabled, verify=verify, fail_on=threshold)


@dataclass(frozen=True)
class ScanArgs:
    """Every option ``scan`` and ``check`` share, as typer hands them over.

    No defaults here: each command's defaults come from its settings object
    (:func:`option_defaults`), so a default is defined once, in :mod:`epmscan.settings`.
    """

    targets: list[str]
    input_lists: list[str]
    exclude: list[str]
    exclude_files: list[str]
    max_hosts: int
    seed: int | None
    shard: str | None
    port: int
    mode: str
    concurrency: int
    per_host: int
    max_rate: float | None
    connect_timeout: float
    read_timeout: float
    host_timeout: float
    retries: int
    max_ents: int
    jsonl: str | None
    json_doc: str | None
    csv: str | None
    save: str | None
    only_answered: bool
    no_progress: bool
    decoder: str
    user: str | None
    password_file: str | None
    hashes_file: str | None

    @classmethod
    def from_params(cls, params: dict[str, object]) -> ScanArgs:
        """From a command's parameters named like the fields (list options may be None)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in params.items() if k in names}
        for key in ("targets", "input_lists", "exclude", "exclude_files"):
            values[key] = list(values.get(key) or [])  # type: ignore[call-overload]
        return cls(**values)  # type: ignore[arg-type]

    def to_settings(self) -> ScanSettings:
        """The scan settings these options describe (:class:`UsageError` when invalid)."""
        return ScanSettings(
            targets=TargetSettings(
                specs=tuple(self.targets),
                input_files=tuple(self.input_lists),
                exclude=tuple(self.exclude),
                exclude_files=tuple(self.exclude_files),
                max_hosts=self.max_hosts,
                seed=self.seed,
                shard=parse_shard(self.shard) if self.shard else (1, 1),
            ),
            network=NetworkSettings(
                port=self.port,
                timeouts=Timeouts(
                    connect=self.connect_timeout, read=self.read_timeout, host=self.host_timeout
                ),
                max_ents=self.max_ents,
                decoder=parse_decoder(self.decoder),
                per_host=self.per_host,
                credentials=read_credentials(self.user, self.password_file, self.hashes_file),
            ),
            mode=parse_mode(self.mode),
            concurrency=self.concurrency,
            max_rate=self.max_rate,
            retries=self.retries,
            outputs=OutputSettings(
                jsonl=self.jsonl,
                json_document=self.json_doc,
                csv=self.csv,
                save=self.save,
                only_answered=self.only_answered,
            ),
        )


def option_defaults(settings: ScanSettings) -> dict[str, Any]:
    """Each shared option's default, read off a command's default settings."""
    network, targets, outputs = settings.network, settings.targets, settings.outputs
    return {
        "max_hosts": targets.max_hosts,
        "seed": targets.seed,
        "shard": None,
        "port": network.port,
        "mode": settings.mode.value,
        "concurrency": settings.concurrency,
        "per_host": network.per_host,
        "max_rate": settings.max_rate,
        "connect_timeout": network.timeouts.connect,
        "read_timeout": network.timeouts.read,
        "host_timeout": network.timeouts.host,
        "retries": settings.retries,
        "max_ents": network.max_ents,
        "jsonl": outputs.jsonl,
        "json_doc": outputs.json_document,
        "csv": outputs.csv,
        "save": outputs.save,
        "only_answered": outputs.only_answered,
        "no_progress": False,
        "decoder": network.decoder.value,
        "user": None,
        "password_file": None,
        "hashes_file": None,
    }


SHARED_OPTIONS: dict[str, Any] = {
    "targets": Targets,
    "input_lists": InputList,
    "exclude": Exclude,
    "exclude_files": ExcludeFile,
    "max_hosts": MaxHosts,
    "seed": Seed,
    "shard": Shard,
    "port": Port,
    "mode": Mode,
    "concurrency": Concurrency,
    "per_host": PerHost,
    "max_rate": MaxRate,
    "connect_timeout": ConnectTimeout,
    "read_timeout": ReadTimeout,
    "host_timeout": HostTimeout,
    "retries": Retries,
    "max_ents": MaxEnts,
    "jsonl": Jsonl,
    "json_doc": JsonDoc,
    "csv": Csv,
    "save": Save,
    "only_answered": OnlyAnswered,
    "no_progress": NoProgress,
    "decoder": Decoder,
    "user": User,
    "password_file": PasswordFile,
    "hashes_file": HashesFile,
}
"""Every option ``scan`` and ``check`` share, by :class:`ScanArgs` field."""

CommandFn = TypeVar("CommandFn", bound=Callable[..., None])


def with_scan_options(settings: ScanSettings) -> Callable[[CommandFn], CommandFn]:
    """Give a command every scan option; it receives them as one :class:`ScanArgs`.

    The command's first parameter is the ``ScanArgs``; its other parameters are its own
    options. Each option's default is the value in ``settings``, the command's defaults.
    """
    defaults = option_defaults(settings)

    def decorate(command: CommandFn) -> CommandFn:
        hints = get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in list(inspect.signature(command).parameters.values())[1:]
        ]
        shared = []
        for field in fields(ScanArgs):
            default = defaults.get(field.name)
            shared.append(
                inspect.Parameter(
                    field.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=SHARED_OPTIONS[field.name],
                )
            )
        names = [p.name for p in shared]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in names}
            command(ScanArgs.from_params(values), **kwargs)

        own_params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        wrapper.__signature__ = inspect.Signature(shared[:1] + own_params + shared[1:])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in (*shared, *own)}
        return wrapper  # type: ignore[return-value]

    return decorate
