"""The accuracy benchmark: does ``epmscan scan`` find every live host, and how fast?

Run as root from the checkout: ``python bench/accuracy_bench.py [--quick] [--json out.json]``.

It reuses ``scan_bench.Bench``: a private network namespace (``epma-<pid>``, only ``lo``
in it, so no packet leaves it), a wildcard lab (``bench/lab_runner.py``) answering as
40 live Windows/Exchange hosts scattered over 127.105.0.0/16 on port 135, and an nft
table in the namespace deciding what every *other* address of the /16 does:

- ``rst``: the kernel answers the SYN with a RST (closed), the case of the issue
  "Accuracy under load": a new user's scan with the default settings and
  ``--connect-timeout 1`` lost 1 to 7 of the 40 live hosts per run;
- ``drop``: SYNs are dropped (filtered), so every other address holds its slot for the
  whole connect timeout.

Each setting (the defaults, and fixed ``--concurrency`` values) is run several times
against the same lab; a run's *false negatives* are the live hosts it did not report
``ok`` (with the statuses they got instead). ``--pacing "KEY=VALUE ..."`` adds the same
settings with fields of ``PacingSettings`` overridden (``adaptive=false``,
``lag_target=0.1``...), run through ``bench/pacing_runner.py``: how the defaults were
chosen. ``--baseline DIR`` adds the same command lines run with another epmscan
(``PYTHONPATH=DIR``, e.g. ``git archive`` of an earlier commit's ``src``), round-robin
with this one, so that before and after see the same load on a shared machine.

The lab is idle for the other addresses (the kernel answers or drops them), so any
live host missed is the client's doing. How often a client misses depends on how much
CPU it gets: ``--busy N`` keeps N CPU-bound processes running beside it (a shared
machine), which makes the losses of a client that counts its own busy time
reproducible. Wall time, CPU and peak RSS come from ``os.wait4`` on the client, the
in-run time from epmscan's own summary. Everything is torn down on exit, error or
Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scan_bench import BENCH, PORT, Bench, Measured, interrupts_raise, machine

NETWORK = "127.105.0.0/16"
LIVE_HOSTS = 40
CONNECT_TIMEOUT = 1.0


@dataclass
class Case:
    """One setting against one kind of range, run ``runs`` times."""

    rest: str
    concurrency: int | None
    """None: epmscan's default."""
    runs: int
    pacing: tuple[str, ...] = ()
    """``KEY=VALUE`` overrides of ``PacingSettings`` (run through ``pacing_runner.py``)."""
    baseline: str | None = None
    """Run another epmscan: its ``src`` directory, put first on ``PYTHONPATH``."""

    @property
    def label(self) -> str:
        setting = "default" if self.concurrency is None else f"-c {self.concurrency}"
        pacing = f", {' '.join(self.pacing)}" if self.pacing else ""
        before = "before: " if self.baseline else ""
        return f"{before}{setting}{pacing}"


@dataclass
class Run:
    """One scan: what it found and what it cost."""

    case: str
    rest: str
    addresses: int
    false_negatives: int
    missed_statuses: dict[str, int]
    false_positives: int
    wall: float
    in_run: float
    cpu: float
    peak_rss_mb: float
    returncode: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.addresses / self.in_run if self.in_run else 0.0


def plan(quick: bool) -> list[Case]:
    """The cases: the defaults and fixed concurrencies on both kinds of range."""
    runs = 2 if quick else 3
    rst = (None, 250, 1000, 2000, 5000) if not quick else (None, 2000)
    drop = (None, 2000, 5000) if not quick else (None,)
    cases = [Case("rst", c, runs) for c in rst]
    cases += [Case("drop", c, runs) for c in drop]
    return cases


class AccuracyBench(Bench):
    """The benchmark namespace with an nft table that resets or drops the other addresses."""

    nft_table = "epmaccuracy"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, network=NETWORK, live=LIVE_HOSTS, netns_prefix="epma-")
        self.rest = "rst"

    def rules(self) -> str:
        live = ", ".join(self.live_addresses())
        verdict = "reject with tcp reset" if self.rest == "rst" else "drop"
        return f"""
table ip {self.nft_table} {{
  set live {{
    type ipv4_addr
    elements = {{ {live} }}
  }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr {NETWORK} tcp dport {PORT} tcp flags & (syn | ack) == syn ip daddr != @live {verdict}
  }}
}}
"""

    def start_busy(self, count: int) -> None:
        """``count`` processes that only burn CPU, until the benchmark ends."""
        for _ in range(count):
            self.spawn([sys.executable, "-c", "while True: pass"])

    def set_rest(self, rest: str) -> None:
        """Reload the table so that the other addresses ``rest`` (``rst`` or ``drop``)."""
        if rest == self.rest and self.nft_loaded:
            return
        self.rest = rest
        if self.nft_loaded:
            subprocess.run(
                ["ip", "netns", "exec", self.netns, "nft", "delete", "table", "ip", self.nft_table],
                check=True,
            )
            self.nft_loaded = False
        self.nft_loaded = self.load_rules()


def scan_once(bench: AccuracyBench, case: Case, live: set[str]) -> Run:
    jsonl = bench.workdir / "accuracy.jsonl"
    if case.pacing:
        from epmscan.settings import SCAN_CONCURRENCY

        concurrency = SCAN_CONCURRENCY if case.concurrency is None else case.concurrency
        command = [
            sys.executable,
            str(BENCH / "pacing_runner.py"),
            NETWORK,
            str(PORT),
            f"{CONNECT_TIMEOUT:g}",
            str(jsonl),
            str(concurrency),
            *case.pacing,
        ]
    else:
        command = [
            "epmscan",
            "scan",
            NETWORK,
            "--port",
            str(PORT),
            "--connect-timeout",
            f"{CONNECT_TIMEOUT:g}",
            "--jsonl",
            str(jsonl),
            "--no-progress",
        ]
        if case.concurrency is not None:
            command += ["--concurrency", str(case.concurrency)]
    env = None
    if case.baseline:
        env = dict(os.environ, PYTHONPATH=f"{case.baseline}{os.pathsep}{BENCH.parent}")
    measured: Measured = bench.measure(case.label, command, timeout=900, env=env)
    found: dict[str, str] = {}
    summary: dict[str, Any] = {}
    with open(jsonl, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            if "summary" in record:
                summary = record["summary"]
            elif "status" in record:  # a host (the first line is the run's header)
                found[record["address"]] = record["status"]
    jsonl.unlink(missing_ok=True)
    missed: dict[str, int] = {}
    for address in live:
        status = found.get(address, "absent")
        if status != "ok":
            missed[status] = missed.get(status, 0) + 1
    false_positives = sum(1 for a, s in found.items() if s == "ok" and a not in live)
    return Run(
        case=case.label,
        rest=case.rest,
        addresses=len(found),
        false_negatives=sum(missed.values()),
        missed_statuses=missed,
        false_positives=false_positives,
        wall=measured.wall,
        in_run=float(summary.get("elapsed") or measured.wall),
        cpu=measured.cpu,
        peak_rss_mb=measured.peak_rss_mb,
        returncode=measured.returncode,
        statuses={k: v for k, v in summary.get("statuses", {}).items() if v},
    )


def table(runs: list[Run], rest: str, busy: int) -> str:
    """One Markdown row per setting: false negatives of every run, rates and RSS."""
    what = "closed (RST)" if rest == "rst" else "filtered (SYN dropped)"
    beside = f", {busy} CPU-bound processes beside" if busy else ""
    lines = [
        f"### {NETWORK}: {LIVE_HOSTS} live, the rest {what}, --connect-timeout "
        f"{CONNECT_TIMEOUT:g}{beside}\n",
        "| setting | runs | false negatives per run | missed as | addr/s (in-run), "
        "median [min-max] | wall s, median | CPU s, median | peak RSS MB, max |",
        "|---|---:|---|---|---|---:|---:|---:|",
    ]
    by_case: dict[str, list[Run]] = {}
    for run in runs:
        if run.rest == rest:
            by_case.setdefault(run.case, []).append(run)
    for label, group in by_case.items():
        rates = [r.rate for r in group]
        missed: dict[str, int] = {}
        for r in group:
            for status, n in r.missed_statuses.items():
                missed[status] = missed.get(status, 0) + n
        missed_text = ", ".join(f"{s} {n}" for s, n in sorted(missed.items())) or "-"
        fn = ", ".join(str(r.false_negatives) for r in group)
        lines.append(
            f"| {label} | {len(group)} | {fn} | {missed_text} | {statistics.median(rates):,.0f} "
            f"[{min(rates):,.0f}-{max(rates):,.0f}] | "
            f"{statistics.median(r.wall for r in group):.2f} | "
            f"{statistics.median(r.cpu for r in group):.2f} | "
            f"{max(r.peak_rss_mb for r in group):.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer settings, two runs each")
    parser.add_argument(
        "--only", choices=("rst", "drop"), help="run one kind of range only (both by default)"
    )
    parser.add_argument("--runs", type=int, help="runs per setting (default: 3, quick: 2)")
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help="fixed concurrencies to run besides the default (repeatable; replaces the plan's)",
    )
    parser.add_argument(
        "--pacing",
        action="append",
        default=[],
        help='PacingSettings overrides, e.g. "adaptive=false" (repeatable: one variant each)',
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the command lines with the epmscan in this src directory (before)",
    )
    parser.add_argument(
        "--busy", type=int, default=0, help="CPU-bound processes running beside the client"
    )
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("accuracy_bench: needs root (network namespace, nftables)", file=sys.stderr)
        return 2
    for tool in ("ip", "nft", "epmscan"):
        if shutil.which(tool) is None:
            print(f"accuracy_bench: {tool} not found on PATH", file=sys.stderr)
            return 2
    cases = plan(args.quick)
    if args.concurrency:
        rests = sorted({c.rest for c in cases}, reverse=True)
        cases = [Case(rest, c, cases[0].runs) for rest in rests for c in [None, *args.concurrency]]
    base = list(cases)
    if args.baseline:
        before = str(args.baseline.resolve())
        cases += [Case(c.rest, c.concurrency, c.runs, baseline=before) for c in base]
    for variant in args.pacing:
        cases += [Case(c.rest, c.concurrency, c.runs, tuple(variant.split())) for c in base]
    if args.runs:
        for case in cases:
            case.runs = args.runs
    if args.only:
        cases = [c for c in cases if c.rest == args.only]
    started = time.perf_counter()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="epma-") as tmp, interrupts_raise():
        bench = AccuracyBench(Path(tmp))
        try:
            bench.setup()
            live = set(bench.live_addresses())
            bench.start_busy(args.busy)
            for rest in ("rst", "drop"):
                of_rest = [case for case in cases if case.rest == rest]
                if of_rest:
                    bench.set_rest(rest)
                # round-robin, so that a change in the machine's load hits every setting
                for i in range(max((case.runs for case in of_rest), default=0)):
                    for case in of_rest:
                        if i >= case.runs:
                            continue
                        run = scan_once(bench, case, live)
                        runs.append(run)
                        print(
                            f"# {rest} {case.label} run {i + 1}: {run.false_negatives} false "
                            f"negatives {run.missed_statuses or ''}, {run.rate:,.0f} addr/s, "
                            f"{run.peak_rss_mb:.0f} MB",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            bench.close()
    rests = [r for r in ("rst", "drop") if any(run.rest == r for run in runs)]
    markdown = "\n".join(table(runs, rest, args.busy) for rest in rests)
    seconds = round(time.perf_counter() - started, 1)
    print(markdown)
    print(f"accuracy benchmark took {seconds} s on {machine()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"runs": [asdict(r) | {"rate": r.rate} for r in runs], "markdown": markdown},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
