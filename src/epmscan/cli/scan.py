"""``epmscan scan``: many hosts, streamed results, live progress, clean interruption."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import typer

from epmscan.cli import options as opt
from epmscan.cli.common import (
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    exit_with_usage_error,
    output_console,
    stderr_console,
)
from epmscan.cli.progress import ScanDisplay
from epmscan.engine.dump import Timeouts
from epmscan.engine.limits import ensure_fd_budget
from epmscan.engine.loop import loop_name, run
from epmscan.engine.scanner import HostJob, Scanner, ScanOptions, ScanProgress, host_status
from epmscan.errors import UsageError
from epmscan.models import HostResult, HostStatus
from epmscan.report.console import ScanRow, print_scan_summary, scan_row
from epmscan.report.serialize import host_to_dict, host_to_json
from epmscan.report.writers import (
    CheckCsvWriter,
    CsvWriter,
    JsonDocumentWriter,
    JsonlWriter,
    WriterSet,
)
from epmscan.targets import Target, TargetSpace, new_seed, parse_shard

R = TypeVar("R")
K = TypeVar("K")

TABLE_LIMIT = 100
"""Results kept for the closing display (a screenful); the output files get every host."""


def build_target_space(args: opt.ScanArgs) -> TargetSpace:
    return TargetSpace.parse(
        args.targets,
        input_files=args.input_lists,
        exclude=args.exclude,
        exclude_files=args.exclude_files,
        max_hosts=args.max_hosts,
    )


def scan_options(args: opt.ScanArgs, concurrency: int) -> ScanOptions:
    return ScanOptions(
        port=args.port,
        mode=args.mode,
        concurrency=concurrency,
        max_rate=args.max_rate,
        timeouts=Timeouts(
            connect=args.connect_timeout, read=args.read_timeout, host=args.host_timeout
        ),
        retries=args.retries,
        max_ents=args.max_ents,
        decoder=args.decoder,
    )


@dataclass
class ScanRun(Generic[K]):
    """What a finished (or interrupted) scan leaves for the caller to render."""

    progress: ScanProgress
    kept: list[K] = field(default_factory=list)
    """Results kept for the closing display (by default the hosts that answered)."""
    dropped: int = 0
    signal_name: str | None = None
    elapsed: float = 0.0
    total: int = 0

    @property
    def exit_code(self) -> int:
        if self.signal_name == "SIGINT":
            return EXIT_SIGINT
        if self.signal_name == "SIGTERM":
            return EXIT_SIGTERM
        return EXIT_OK


def summary_dict(run_: ScanRun[Any], options: ScanOptions) -> dict[str, Any]:
    p = run_.progress
    rate = p.done / run_.elapsed if run_.elapsed > 0 else 0.0
    return {
        "targets": run_.total,
        "done": p.done,
        "interrupted": p.interrupted,
        "signal": run_.signal_name,
        "elapsed": round(run_.elapsed, 3),
        "hosts_per_second": round(rate, 1),
        "statuses": {s.value: p.statuses.get(s, 0) for s in HostStatus},
        "port": options.port,
        "mode": options.mode,
        "local_errors": p.local_errors,
    }


def _open_writers(
    args: opt.ScanArgs, meta: dict[str, Any], csv_writer: type[CsvWriter | CheckCsvWriter]
) -> WriterSet:
    writers = WriterSet()
    try:
        if args.jsonl:
            writers.add(JsonlWriter(args.jsonl))
        if args.json_doc:
            writers.add(JsonDocumentWriter(args.json_doc, meta))
        if args.save:
            writers.add(JsonDocumentWriter(args.save, meta))
        if args.csv:
            writers.add(csv_writer(args.csv))
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return writers


def execute_scan(
    args: opt.ScanArgs,
    *,
    job: HostJob[R] | None = None,
    to_dict: Callable[[R], dict[str, Any]] = host_to_dict,  # type: ignore[assignment]
    to_json: Callable[[R], str] = host_to_json,  # type: ignore[assignment]
    unresolved: Callable[[HostResult], R] | None = None,
    command: str = "scan",
    space: TargetSpace | None = None,
    meta_extra: dict[str, Any] | None = None,
    keep: Callable[[R], K],
    keep_all: bool = False,
    observe: Callable[[R], None] | None = None,
) -> ScanRun[K]:
    """Parse targets, run the scanner, stream every result to the writers.

    ``keep`` turns a result into what the closing display needs (at most
    :data:`TABLE_LIMIT` are kept, of the hosts that answered unless ``keep_all``).
    Usage errors raise :class:`UsageError` before anything is sent.
    """
    if args.mode not in ("dump", "map"):
        raise UsageError(f"--mode must be 'dump' or 'map', not {args.mode!r}")
    if args.decoder not in ("fast", "impacket"):
        raise UsageError(f"--decoder must be 'fast' or 'impacket', not {args.decoder!r}")
    shard = parse_shard(args.shard) if args.shard else (1, 1)
    if shard != (1, 1) and args.seed is None:
        raise UsageError(
            "--shard needs --seed: every machine must walk the same order (any number, the "
            "same on all of them)"
        )
    space = space or build_target_space(args)
    total = space.shard_total(shard)
    sockets_per_host = args.per_host if command == "check" else 1
    budget = ensure_fd_budget(args.concurrency, sockets_per_task=sockets_per_host)
    err = stderr_console()
    if budget.warning:
        err.print(f"epmscan: warning: {budget.warning}", markup=False)
    options = scan_options(args, min(budget.usable_concurrency, max(1, total)))
    seed = args.seed if args.seed is not None else new_seed()
    meta = {
        "command": command,
        "targets": args.targets,
        "port": args.port,
        "mode": args.mode,
        "seed": seed,
        "shard": f"{shard[0]}/{shard[1]}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(meta_extra or {}),
    }
    writers = _open_writers(args, meta, CheckCsvWriter if command == "check" else CsvWriter)
    show_progress = not args.no_progress and sys.stderr.isatty()
    result: ScanRun[K] = ScanRun(progress=ScanProgress(), total=total)

    def on_result(item: R) -> None:
        answered = host_status(item) not in _SILENT_STATUSES
        if answered or not args.only_answered:
            writers.write_result(item, to_json, to_dict)
        if observe is not None:
            observe(item)
        if answered or keep_all:
            if len(result.kept) < TABLE_LIMIT:
                result.kept.append(keep(item))
            else:
                result.dropped += 1

    async def main() -> None:
        scanner: Scanner[R] = Scanner(options, on_result, job=job, unresolved=unresolved)
        result.progress = scanner.progress
        loop = asyncio.get_running_loop()

        def on_signal(name: str) -> None:
            if result.signal_name is None:
                result.signal_name = name
            scanner.stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal, signal.Signals(signum).name)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        targets: Iterable[Target] = space.iter_targets(seed, shard=shard)
        display = ScanDisplay(scanner.progress, total, enabled=show_progress)
        started = loop.time()
        async with display:
            await scanner.run(targets)
        result.elapsed = loop.time() - started

    try:
        run(main())
    finally:
        writers.finish(summary_dict(result, options))
    return result


_SILENT_STATUSES = frozenset(
    {HostStatus.CLOSED, HostStatus.FILTERED, HostStatus.UNREACHABLE, HostStatus.UNRESOLVED}
)


@opt.with_scan_options()
def scan_command(args: opt.ScanArgs) -> None:
    """Dump the endpoint mapper of every host in TARGETS, many at once."""
    if not (args.targets or args.input_lists):
        exit_with_usage_error("no targets given (TARGETS... or -iL FILE)")
    try:
        outcome: ScanRun[ScanRow] = execute_scan(args, keep=scan_row)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    stdout_is_jsonl = args.jsonl == "-"
    console = output_console(stderr=stdout_is_jsonl)
    print_scan_summary(
        outcome.kept,
        summary_dict(outcome, scan_options(args, args.concurrency)),
        console,
        dropped=outcome.dropped,
        loop=loop_name(),
    )
    raise typer.Exit(outcome.exit_code)
