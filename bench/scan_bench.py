"""The scan benchmark: epmscan against impacket, nmap and a bare asyncio client, side by side.

Run as root from the checkout: ``python bench/scan_bench.py [--quick] [--json out.json]``.

It builds a subnet inside a private network namespace (nothing outside it sees a
packet): ``lo`` up, a wildcard lab (``bench/lab_runner.py``) answering as 1,000 live
Windows/Exchange hosts scattered over 127.77.0.0/16 on port 135, and nftables rules in
the namespace that make every other address *closed* (the kernel answers the SYN with a
RST) and 127.78.0.0/20 *filtered* (SYNs dropped). Then, against that one lab:

1. ``epmscan scan 127.77.0.0/16`` at several concurrencies; the same scan of only the live
   hosts (``-iL``), for the full-dump rate per live host;
2. impacket: ``rpcdump.py`` per host in a shell loop (a sample, extrapolated) and
   ``epm.hept_lookup`` in a 64-thread pool (``bench/impacket_pool.py``);
3. ``nmap -sT`` over the /16 and over the live hosts (bare connect rate, no RPC);
4. ``bench/minimal_client.py``: connect, fixed bind, one fixed ``ept_lookup``, read, reset
   (the ceiling for Python here);
5. the filtered /20 (in-flight / timeout bound);
6. ``epmscan scan 127.0.0.0/8`` stopped with SIGINT after a while, its RSS sampled from
   ``/proc`` every 0.5 s.

Wall time, CPU seconds and peak RSS of each client come from ``os.wait4`` on the child
(``ip netns exec`` execs the command, so the child is the client itself). The lab, the
clients and the kernel share the machine's cores. Everything is torn down on exit,
error or Ctrl-C: the processes it started (by process group id), the nft table, the
namespace. Tables are printed as Markdown; ``--json`` keeps the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PORT = 135
LIVE_NETWORK = "127.77.0.0/16"
FILTERED_NETWORK = "127.78.0.0/20"
WIDE_NETWORK = "127.0.0.0/8"
LIVE_HOSTS = 1000
FD_LIMIT_MARGIN = 200


@dataclass
class Plan:
    """How much to run: ``--quick`` keeps the whole run under two minutes."""

    concurrencies: tuple[int, ...]
    compare_concurrency: int
    impacket_hosts: int
    rpcdump_hosts: int
    wide_seconds: float
    filtered_concurrency: int = 1000
    filtered_timeout: float = 1.0
    repeats: int = 1


FULL = Plan(
    concurrencies=(250, 500, 1000, 2000, 5000),
    compare_concurrency=1000,
    impacket_hosts=LIVE_HOSTS,
    rpcdump_hosts=20,
    wide_seconds=60.0,
    repeats=3,
)
QUICK = Plan(
    concurrencies=(1000,),
    compare_concurrency=1000,
    impacket_hosts=150,
    rpcdump_hosts=8,
    wide_seconds=15.0,
    repeats=1,
)


@dataclass
class Measured:
    """One client run: what it printed and what it cost."""

    label: str
    command: list[str]
    wall: float
    cpu_user: float
    cpu_sys: float
    peak_rss_mb: float
    returncode: int
    stdout: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


class Bench:
    """The namespace, the lab and every child process; ``close()`` undoes all of it."""

    nft_table = "epmbench"

    def __init__(
        self,
        workdir: Path,
        *,
        network: str = LIVE_NETWORK,
        live: int = LIVE_HOSTS,
        netns_prefix: str = "epmbench",
    ) -> None:
        self.workdir = workdir
        self.network = network
        self.live = live
        self.netns = f"{netns_prefix}{os.getpid()}"
        self.children: list[subprocess.Popen[bytes]] = []
        self.lab: subprocess.Popen[bytes] | None = None
        self.netns_made = False
        self.nft_loaded = False
        self.live_file = workdir / "live.txt"

    # --- setting up -------------------------------------------------------------------

    def setup(self) -> None:
        _run(["ip", "netns", "add", self.netns])
        self.netns_made = True
        _run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"])
        self.lab = self.spawn(
            [
                sys.executable,
                str(BENCH / "lab_runner.py"),
                self.network,
                str(self.live),
                str(PORT),
                str(self.live_file),
            ],
            stdout=subprocess.PIPE,
        )
        assert self.lab.stdout is not None
        line = self.lab.stdout.readline().decode().strip()
        if line != "READY":
            errors = (self.workdir / "lab_runner.err").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the lab did not start (said {line!r}):\n{errors}")
        self.nft_loaded = self.load_rules()

    def load_rules(self) -> bool:
        if shutil.which("nft") is None:
            print(
                "# nft not found: closed addresses are reset by the lab, no filtered range",
                file=sys.stderr,
            )
            return False
        path = self.workdir / "rules.nft"
        path.write_text(self.rules())
        _run(["ip", "netns", "exec", self.netns, "nft", "-f", str(path)])
        return True

    def rules(self) -> str:
        """The nft table: other addresses of the port closed, the filtered range dropped."""
        live = ", ".join(self.live_addresses())
        return f"""
table ip {self.nft_table} {{
  set live {{
    type ipv4_addr
    elements = {{ {live} }}
  }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr {FILTERED_NETWORK} tcp dport {PORT} drop
    tcp dport {PORT} tcp flags & (syn | ack) == syn ip daddr != @live reject with tcp reset
  }}
}}
"""

    def live_addresses(self) -> list[str]:
        return [line for line in self.live_file.read_text().split() if line]

    # --- running ----------------------------------------------------------------------

    def spawn(
        self,
        command: Sequence[str],
        *,
        stdout: Any = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        name = Path(command[1] if command[0] == sys.executable else command[0]).stem
        err = open(self.workdir / f"{name}.err", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, *command],
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env=env,
        )
        err.close()
        self.children.append(process)
        return process

    def measure(
        self,
        label: str,
        command: Sequence[str],
        *,
        timeout: float = 300.0,
        env: dict[str, str] | None = None,
    ) -> Measured:
        """Run ``command`` in the namespace to the end; its wall time, CPU and peak RSS."""
        out_path = self.workdir / "stdout.txt"
        with open(out_path, "wb") as out:
            started = time.perf_counter()
            process = self.spawn(command, stdout=out, env=env)
            status, usage = _wait4(process, timeout)
            wall = time.perf_counter() - started
        self.children.remove(process)
        return Measured(
            label=label,
            command=list(command),
            wall=wall,
            cpu_user=usage.ru_utime,
            cpu_sys=usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out_path.read_text(),
        )

    def measure_interrupted(
        self, label: str, command: Sequence[str], seconds: float
    ) -> tuple[Measured, list[tuple[float, float]]]:
        """Run ``command``, sample its RSS every 0.5 s, SIGINT it after ``seconds``."""
        out_path = self.workdir / "stdout.txt"
        samples: list[tuple[float, float]] = []
        with open(out_path, "wb") as out:
            started = time.perf_counter()
            process = self.spawn(command, stdout=out)
            while (now := time.perf_counter() - started) < seconds:
                rss = _rss_mb(process.pid)
                if rss is None:
                    break
                samples.append((round(now, 1), rss))
                time.sleep(0.5)
            os.kill(process.pid, signal.SIGINT)
            status, usage = _wait4(process, 30.0)
            wall = time.perf_counter() - started
        self.children.remove(process)
        measured = Measured(
            label=label,
            command=list(command),
            wall=wall,
            cpu_user=usage.ru_utime,
            cpu_sys=usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out_path.read_text(),
        )
        return measured, samples

    # --- tearing down -----------------------------------------------------------------

    def close(self) -> None:
        for process in reversed(self.children):
            _stop(process)
        self.children.clear()
        if self.nft_loaded:
            subprocess.run(
                ["ip", "netns", "exec", self.netns, "nft", "delete", "table", "ip", self.nft_table],
                check=False,
                stderr=subprocess.DEVNULL,
            )
            self.nft_loaded = False
        if self.netns_made:
            subprocess.run(["ip", "netns", "del", self.netns], check=False)
            self.netns_made = False


def _run(command: Sequence[str]) -> None:
    subprocess.run(command, check=True)


def _wait4(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, Any]:
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return status, usage
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            print(f"# {process.args!r} killed after {timeout:g} s", file=sys.stderr)
            return status, usage
        time.sleep(0.01)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _summary(jsonl: Path) -> dict[str, Any]:
    """The ``{"summary": ...}`` line epmscan writes last in a JSONL file."""
    last = b""
    with open(jsonl, "rb") as lines:
        for line in lines:
            if line.startswith(b'{"summary"'):
                last = line
    return dict(json.loads(last)["summary"]) if last else {}


# --- the measurements ------------------------------------------------------------------


def epmscan_command(targets: list[str], concurrency: int, jsonl: Path, *extra: str) -> list[str]:
    return [
        "epmscan",
        "scan",
        *targets,
        "--port",
        str(PORT),
        "--concurrency",
        str(concurrency),
        "--jsonl",
        str(jsonl),
        "--no-progress",
        *extra,
    ]


def run_epmscan(
    bench: Bench, label: str, targets: list[str], concurrency: int, *extra: str
) -> Measured:
    jsonl = bench.workdir / "scan.jsonl"
    measured = bench.measure(label, epmscan_command(targets, concurrency, jsonl, *extra))
    summary = _summary(jsonl)
    measured.extra = {
        "addresses": summary.get("done", 0),
        "answered": summary.get("statuses", {}).get("ok", 0),
        "scan_seconds": summary.get("elapsed"),
        "statuses": {k: v for k, v in summary.get("statuses", {}).items() if v},
    }
    jsonl.unlink(missing_ok=True)
    return measured


def run_minimal(
    bench: Bench, label: str, targets: str, concurrency: int, timeout: float = 2.0
) -> Measured:
    measured = bench.measure(
        label,
        [
            sys.executable,
            str(BENCH / "minimal_client.py"),
            "--targets",
            targets,
            "--port",
            str(PORT),
            "--concurrency",
            str(concurrency),
            "--timeout",
            str(timeout),
        ],
    )
    result = json.loads(measured.stdout)
    measured.extra = {
        "addresses": result["hosts"],
        "answered": result["answered"],
        "scan_seconds": result["elapsed"],
        "statuses": {
            "ok": result["answered"],
            "closed": result["refused"],
            "timeout": result["timeouts"],
            "error": result["errors"],
        },
    }
    return measured


def run_nmap(bench: Bench, label: str, targets: list[str], min_rate: int) -> Measured:
    measured = bench.measure(
        label,
        [
            "nmap",
            "-sT",
            "-p",
            str(PORT),
            "-n",
            "-Pn",
            "--min-rate",
            str(min_rate),
            "--max-retries",
            "1",
            "-oG",
            "-",
            *targets,
        ],
    )
    lines = measured.stdout.splitlines()
    opened = sum(1 for line in lines if f"{PORT}/open" in line)
    done = next((line for line in lines if line.startswith("# Nmap done")), "")
    addresses = int(done.split(" at ")[-1].split(" IP address")[0].split()[-1]) if done else 0
    measured.extra = {
        "addresses": addresses,
        "answered": opened,
        "scan_seconds": None,
        "statuses": {"open": opened},
    }
    return measured


def run_impacket_pool(bench: Bench, hosts: int) -> Measured:
    measured = bench.measure(
        "impacket hept_lookup, 64 threads",
        [
            sys.executable,
            str(BENCH / "impacket_pool.py"),
            "--targets",
            str(bench.live_file),
            "--port",
            str(PORT),
            "--threads",
            "64",
            "--limit",
            str(hosts),
        ],
        timeout=600,
    )
    result = json.loads(measured.stdout)
    measured.extra = {
        "addresses": result["hosts"],
        "answered": result["answered"],
        "scan_seconds": result["elapsed"],
        "entries": result["entries"],
        "statuses": {"ok": result["answered"], "error": result["errors"]},
    }
    return measured


def run_rpcdump_loop(bench: Bench, hosts: int) -> Measured:
    sample = bench.live_addresses()[:hosts]
    script = (
        f"for a in {' '.join(sample)}; do rpcdump.py -port {PORT} $a > /dev/null || echo fail; done"
    )
    measured = bench.measure("rpcdump.py in a shell loop", ["sh", "-c", script], timeout=300)
    failed = measured.stdout.count("fail")
    measured.extra = {
        "addresses": hosts,
        "answered": hosts - failed,
        "scan_seconds": None,
        "statuses": {"ok": hosts - failed, "error": failed},
    }
    return measured


def run_wide(bench: Bench, concurrency: int, seconds: float) -> tuple[Measured, list[Any]]:
    jsonl = bench.workdir / "wide.jsonl"
    command = epmscan_command([WIDE_NETWORK], concurrency, jsonl, "--max-hosts", str(1 << 24))
    measured, samples = bench.measure_interrupted(
        f"epmscan {WIDE_NETWORK}, SIGINT after {seconds:g} s", command, seconds
    )
    summary = _summary(jsonl)
    measured.extra = {
        "addresses": summary.get("done", 0),
        "answered": summary.get("statuses", {}).get("ok", 0),
        "scan_seconds": summary.get("elapsed"),
        "statuses": {k: v for k, v in summary.get("statuses", {}).items() if v},
    }
    jsonl.unlink(missing_ok=True)
    return measured, samples


# --- reporting -------------------------------------------------------------------------


def rate(m: Measured, *, per: str = "wall") -> float:
    seconds = m.wall if per == "wall" else (m.extra.get("scan_seconds") or m.wall)
    return m.extra["addresses"] / seconds if seconds else 0.0


def table(rows: list[Measured], reference: Measured | None, title: str) -> str:
    head = (
        f"### {title}\n\n"
        "| client | addresses | answered | wall s | in-run s | addr/s (wall) | addr/s (in-run) "
        "| CPU s | CPU ms/addr | peak RSS MB | epmscan ÷ this |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for m in rows:
        inner = m.extra.get("scan_seconds")
        n = m.extra["addresses"] or 1
        inner_text = "" if inner is None else f"{inner:.2f}"
        inner_rate = "" if inner is None else f"{rate(m, per='run'):,.0f}"
        ratio = ""
        if reference is not None and m is not reference:
            ratio = f"{rate(reference) / rate(m):.2f}x" if rate(m) else ""
        lines.append(
            f"| {m.label} | {m.extra['addresses']:,} | {m.extra['answered']:,} | {m.wall:.2f} "
            f"| {inner_text} | {rate(m):,.0f} | {inner_rate} | {m.cpu:.2f} "
            f"| {1000 * m.cpu / n:.3f} | {m.peak_rss_mb:.0f} | {ratio} |"
        )
    return head + "\n".join(lines) + "\n"


def best_of(runs: list[Measured]) -> Measured:
    best = min(runs, key=lambda m: m.wall)
    best.extra["runs_wall"] = [round(m.wall, 3) for m in runs]
    return best


def benchmark(plan: Plan, bench: Bench) -> dict[str, Any]:
    live = str(bench.live_file)
    out: dict[str, Any] = {"plan": asdict(plan)}
    sections: list[str] = []

    # The /16: every address, 1,000 live, the rest closed by the kernel.
    subnet: list[Measured] = []
    for c in plan.concurrencies:
        subnet.append(
            best_of(
                [
                    run_epmscan(bench, f"epmscan -c {c}", [LIVE_NETWORK], c)
                    for _ in range(plan.repeats)
                ]
            )
        )
    chosen = max(subnet, key=rate)
    subnet.append(
        best_of(
            [
                run_minimal(
                    bench,
                    f"minimal client -c {plan.compare_concurrency}",
                    LIVE_NETWORK,
                    plan.compare_concurrency,
                )
                for _ in range(plan.repeats)
            ]
        )
    )
    subnet.append(
        best_of(
            [
                run_nmap(bench, "nmap -sT --min-rate 50000", [LIVE_NETWORK], 50000)
                for _ in range(plan.repeats)
            ]
        )
    )
    sections.append(table(subnet, chosen, f"{LIVE_NETWORK}: {LIVE_HOSTS:,} live, the rest closed"))

    # The live hosts only: the full dump per live host.
    c = plan.compare_concurrency
    dump = [
        best_of(
            [
                run_epmscan(bench, f"epmscan -iL live -c {c}", ["-iL", live], c)
                for _ in range(plan.repeats)
            ]
        ),
        best_of(
            [run_minimal(bench, f"minimal client -c {c}", live, c) for _ in range(plan.repeats)]
        ),
        run_impacket_pool(bench, plan.impacket_hosts),
        run_rpcdump_loop(bench, plan.rpcdump_hosts),
        best_of(
            [
                run_nmap(bench, "nmap -sT (connect only)", ["-iL", live], 50000)
                for _ in range(plan.repeats)
            ]
        ),
    ]
    sections.append(table(dump, dump[0], f"The {LIVE_HOSTS:,} live hosts: full endpoint dump"))

    # The filtered /20: SYNs dropped, bound by in-flight / timeout.
    fc, ft = plan.filtered_concurrency, plan.filtered_timeout
    filtered = (
        [
            run_epmscan(
                bench,
                f"epmscan -c {fc} --connect-timeout {ft:g}",
                [FILTERED_NETWORK],
                fc,
                "--connect-timeout",
                str(ft),
                "--host-timeout",
                str(ft + 1),
            ),
            run_minimal(bench, f"minimal client -c {fc} timeout {ft:g}", FILTERED_NETWORK, fc, ft),
        ]
        if bench.nft_loaded
        else []
    )
    if filtered:
        sections.append(table(filtered, filtered[0], f"{FILTERED_NETWORK}: every SYN dropped"))

    # The /8, interrupted: memory must stay flat.
    wide, samples = run_wide(bench, chosen_concurrency(chosen), plan.wide_seconds)
    sections.append(table([wide], None, f"{WIDE_NETWORK}, stopped by SIGINT") + rss_lines(samples))

    out["subnet"] = [asdict(m) | {"rate": rate(m)} for m in subnet]
    out["dump"] = [asdict(m) | {"rate": rate(m)} for m in dump]
    out["filtered"] = [asdict(m) | {"rate": rate(m)} for m in filtered]
    out["wide"] = asdict(wide) | {"rss_samples": samples, "rate": rate(wide)}
    out["targets"] = targets_report(dump, filtered, subnet, wide, samples, plan)
    out["best_concurrency"] = chosen_concurrency(chosen)
    out["markdown"] = "\n".join(sections) + "\n" + out["targets"]
    for m in [*subnet, *dump, *filtered, wide]:
        m.stdout = m.stdout[-2000:]
    return out


def chosen_concurrency(m: Measured) -> int:
    return int(m.command[m.command.index("--concurrency") + 1])


def rss_lines(samples: list[tuple[float, float]]) -> str:
    if not samples:
        return "\nno RSS samples\n"
    steady = [rss for t, rss in samples if t >= 2.0] or [samples[-1][1]]
    shown = ", ".join(f"{t:g}s {rss:.0f}" for t, rss in samples[:: max(1, len(samples) // 12)])
    return (
        f"\nRSS (MB) sampled every 0.5 s: {shown}; from 2 s on: min {min(steady):.0f}, "
        f"max {max(steady):.0f}, last {samples[-1][1]:.0f}\n"
    )


def targets_report(
    dump: list[Measured],
    filtered: list[Measured],
    subnet: list[Measured],
    wide: Measured,
    samples: list[tuple[float, float]],
    plan: Plan,
) -> str:
    epm, minimal, pool, loop = dump[0], dump[1], dump[2], dump[3]
    per_host_loop = loop.wall / loop.extra["addresses"]
    loop_rate = 1 / per_host_loop
    lines = [
        "### Targets\n",
        "| target | measured | goal | met |",
        "|---|---:|---:|---|",
    ]

    def row(name: str, value: float, goal: float, unit: str = "x", higher: bool = True) -> None:
        met = value >= goal if higher else value <= goal
        lines.append(
            f"| {name} | {value:,.2f}{unit} | {'≥' if higher else '≤'} {goal:g}{unit} "
            f"| {'yes' if met else 'NO'} |"
        )

    row("live dump vs rpcdump.py loop", rate(epm) / loop_rate, 200)
    row("live dump vs impacket 64-thread pool", rate(epm) / rate(pool), 10)
    row("live dump vs minimal client (wall)", rate(epm) / rate(minimal), 0.5)
    row(
        "live dump vs minimal client (in-run)", rate(epm, per="run") / rate(minimal, per="run"), 0.5
    )
    if filtered:
        bound = plan.filtered_concurrency / plan.filtered_timeout
        addresses = filtered[0].extra["addresses"]
        ideal = addresses / (plan.filtered_timeout * -(-addresses // plan.filtered_concurrency))
        row(
            "filtered /20 vs in-flight/timeout bound",
            rate(filtered[0], per="run") / min(bound, ideal),
            0.8,
        )
    row(
        f"peak RSS, {LIVE_NETWORK}",
        max(m.peak_rss_mb for m in subnet[:-2]),
        150,
        " MB",
        higher=False,
    )
    steady = [rss for t, rss in samples if t >= 2.0]
    if steady:
        row(
            f"RSS growth, {WIDE_NETWORK} after 2 s",
            max(steady) - min(steady),
            20,
            " MB",
            higher=False,
        )
    lines.append(
        f"\nrpcdump.py: {per_host_loop:.3f} s per host → {LIVE_HOSTS:,} live hosts in "
        f"{per_host_loop * LIVE_HOSTS:,.0f} s; epmscan: {LIVE_HOSTS / rate(epm):.2f} s."
    )
    return "\n".join(lines) + "\n"


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT (even when started ignored), SIGTERM and SIGHUP end the run; ``finally`` cleans up."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, raise_interrupt) for s in handled}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one concurrency, small samples")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    parser.add_argument(
        "--netns-prefix", default="epmbench", help="name of the namespace, before the pid"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("scan_bench: needs root (network namespace, nftables, port 135)", file=sys.stderr)
        return 2
    for tool in ("ip", "nmap", "rpcdump.py", "epmscan"):
        if shutil.which(tool) is None:
            print(f"scan_bench: {tool} not found on PATH", file=sys.stderr)
            return 2
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    plan = QUICK if args.quick else FULL
    cap = soft - FD_LIMIT_MARGIN
    plan.concurrencies = tuple(min(c, cap) for c in plan.concurrencies)
    plan.filtered_concurrency = min(plan.filtered_concurrency, cap)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="epmbench-") as tmp, interrupts_raise():
        bench = Bench(Path(tmp), netns_prefix=args.netns_prefix)
        try:
            bench.setup()
            result = benchmark(plan, bench)
        finally:
            bench.close()
    result["machine"] = machine()
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(result["markdown"])
    print(
        f"best /16 concurrency: {result['best_concurrency']}; "
        f"benchmark took {result['seconds']} s on {result['machine']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model or 'unknown CPU'}, Linux {os.uname().release}"


if __name__ == "__main__":
    sys.exit(main())
