"""How big the ``epmscan report --html`` page of a /16 is, and how fast Chromium opens it.

Run from the checkout: ``python bench/report_html.py [--total 65536] [--answered 2000]
[--result FILE] [--runs 3] [--json out.json]``.

1. Without ``--result``: a synthetic ``scan --findings --save`` document of ``--total``
   addresses of 127.114.0.0/16, ``--answered`` of them with the endpoint map of a lab
   profile (``tests/support/report_data.py``; nothing is sent anywhere);
2. ``epmscan report RESULT --html PAGE`` as a child process: wall time, CPU seconds and
   peak RSS from ``os.wait4``; the page's size;
3. the page opened ``--runs`` times by Debian's Chromium, headless (as root: inside a
   network namespace with only ``lo``, down; ``tests/support/browser.py``): time to the
   load event (wall clock, and the page's Navigation Timing: DOM interactive, load
   end), first contentful paint, then the time to jump to the hosts table and to the
   last host's detail (opened), each a forced layout; DOM elements.

Numbers are printed as Markdown; ``--json`` keeps them. The benchmark is not a test:
nothing in ``tests/`` asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TREE = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TREE / "src"), str(TREE)]

from tests.support.browser import find_chromium, open_page  # noqa: E402
from tests.support.report_data import write_synthetic_scan  # noqa: E402


def run_report(result: Path, page: Path) -> dict[str, float]:
    """``epmscan report`` as a child: wall, CPU and peak RSS."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TREE / "src"), str(TREE)]))
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "epmscan", "report", str(result), "--html", str(page)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    stderr = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"epmscan report failed: {stderr}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def open_once(page: Path, chromium: str, netns: str | None) -> dict[str, Any]:
    with open_page(page, binary=chromium, netns=netns, timeout=600) as run:
        timing = json.loads(
            run.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
        )
        paints = json.loads(run.evaluate("JSON.stringify(performance.getEntriesByType('paint'))"))
        fcp = next((p["startTime"] for p in paints if p["name"] == "first-contentful-paint"), None)
        jumps = json.loads(
            run.evaluate(
                "(() => { const t0 = performance.now();"
                " document.getElementById('hosts').scrollIntoView();"
                " document.documentElement.getBoundingClientRect();"
                " const t1 = performance.now();"
                " const all = document.querySelectorAll('details.host');"
                " const last = all[all.length - 1];"
                " if (last) { last.open = true; last.scrollIntoView(); }"
                " document.documentElement.getBoundingClientRect();"
                " const t2 = performance.now();"
                " return JSON.stringify({hosts: t1 - t0, detail: t2 - t1}); })()"
            )
        )
        elements = run.evaluate("document.getElementsByTagName('*').length")
        errors = run.errors()
    return {
        "load_wall_s": round(run.navigation_seconds, 2),
        "dom_interactive_ms": round(timing["domInteractive"]),
        "load_end_ms": round(timing["loadEventEnd"]),
        "first_contentful_paint_ms": round(fcp) if fcp is not None else None,
        "jump_to_hosts_ms": round(jumps["hosts"]),
        "open_last_detail_ms": round(jumps["detail"]),
        "elements": elements,
        "errors": len(errors),
    }


def empty_namespace() -> str | None:
    if os.geteuid() != 0:
        return None
    name = f"epmrepbench-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=65_536)
    parser.add_argument("--answered", type=int, default=2_000)
    parser.add_argument("--result", type=Path, help="measure this saved result instead")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian package chromium)")
    with tempfile.TemporaryDirectory(prefix="epmscan-report-bench-") as folder:
        work = Path(folder)
        result = args.result
        made: dict[str, Any] = {}
        if result is None:
            result = work / "subnet.json"
            started = time.monotonic()
            write_synthetic_scan(result, args.total, args.answered)
            made = {"generate_s": round(time.monotonic() - started, 1)}
        page = work / "report.html"
        numbers: dict[str, Any] = {
            "result": str(args.result or f"synthetic {args.total} hosts, {args.answered} answered"),
            "result_mb": round(result.stat().st_size / 1e6, 1),
            **made,
            "report": run_report(result, page),
            "page_mb": round(page.stat().st_size / 1e6, 2),
        }
        netns = empty_namespace()
        try:
            runs = [open_once(page, chromium, netns) for _ in range(max(1, args.runs))]
        finally:
            if netns is not None:
                subprocess.run(["ip", "netns", "delete", netns], check=False)
        numbers["browser"] = runs
        numbers["in_empty_netns"] = netns is not None
        numbers["load_avg"] = os.getloadavg()
    print(f"## {numbers['result']}\n")
    print(f"- result: {numbers['result_mb']} MB; page: {numbers['page_mb']} MB")
    report = numbers["report"]
    print(
        f"- epmscan report: {report['wall_s']} s wall, {report['cpu_s']} s CPU, "
        f"peak RSS {report['peak_rss_mb']} MB"
    )
    print(f"- load average during the run: {', '.join(f'{x:.1f}' for x in numbers['load_avg'])}")
    print("\n| chromium | median | runs |\n|---|---|---|")
    for key in runs[0]:
        values = [r[key] for r in runs]
        known = [v for v in values if v is not None]
        middle = statistics.median(known) if known else None
        print(f"| {key} | {middle} | {', '.join(str(v) for v in values)} |")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
