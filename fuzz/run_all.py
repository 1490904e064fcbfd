"""Run every fuzz harness for its share of a time budget; fail when one finds a crash.

Each harness runs in its own subprocess (atheris runs one fuzzer per process) with
libFuzzer's ``-max_total_time``; the budget is split evenly. A harness starts from its
committed corpus, ``fuzz/corpus/<harness>/``, which it only reads: the inputs it finds
go to a scratch directory (or to ``--keep-corpus DIR/<harness>``). A crash, an
out-of-memory or a timeout is written to ``--artifacts DIR`` (default
``fuzz/artifacts/``) and makes the run exit 1 after the other harnesses have run.
Per harness it prints the inputs tried, the seconds spent, the coverage reached and
the outcome; ``--json FILE`` writes the same as JSON.

    python fuzz/run_all.py --total-seconds 60
    python fuzz/run_all.py --total-seconds 1800 --only towers,framing --keep-corpus /tmp/c
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parent
CORPUS = FUZZ_DIR / "corpus"
HARNESSES = (
    "framing",
    "client_connection",
    "server_connection",
    "lookup_response",
    "map_response",
    "mgmt_response",
    "lookup_walk",
    "lookup_request",
    "map_request",
    "towers",
    "http_greeting",
    "reference",
    "auth_client",
    "auth_server",
    "ntlm_tokens",
)
RSS_LIMIT_MB = 1536
INPUT_TIMEOUT_SECONDS = 10
_RUNS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_COVERAGE = re.compile(r"#\d+\s+(?:DONE|pulse|NEW|REDUCE|INITED)\s+cov: (\d+) ft: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_SUMMARY = re.compile(r"SUMMARY: libFuzzer: (.+)")
_PYTHON_ERROR = re.compile(r"=== Uncaught Python exception: ===\n(.+)")


@dataclass
class HarnessRun:
    """What one harness did: inputs tried, seconds, coverage, and any crash."""

    harness: str
    runs: int
    seconds: float
    coverage: int
    features: int
    exit_code: int
    crash: str | None
    artifact: str | None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.crash is None


def parse_output(harness: str, output: str, exit_code: int, seconds: float) -> HarnessRun:
    """Read libFuzzer's final statistics and crash report out of its output."""
    runs = _RUNS.findall(output)
    coverage = _COVERAGE.findall(output)
    artifact = _ARTIFACT.findall(output)
    summary = _SUMMARY.findall(output)
    python_error = _PYTHON_ERROR.findall(output)
    crash = None
    if summary or python_error or exit_code != 0:
        crash = "; ".join([*python_error[:1], *summary[:1]]) or f"exit code {exit_code}"
    return HarnessRun(
        harness=harness,
        runs=int(runs[-1]) if runs else 0,
        seconds=round(seconds, 1),
        coverage=int(coverage[-1][0]) if coverage else 0,
        features=int(coverage[-1][1]) if coverage else 0,
        exit_code=exit_code,
        crash=crash,
        artifact=artifact[-1] if artifact else None,
    )


def run_harness(
    harness: str, seconds: int, work_corpus: Path, artifacts: Path, log: Path
) -> HarnessRun:
    """Run one harness for ``seconds`` (libFuzzer's clock) in its own process."""
    work_corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(FUZZ_DIR / f"fuzz_{harness}.py"),
        f"-max_total_time={seconds}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-timeout={INPUT_TIMEOUT_SECONDS}",
        f"-artifact_prefix={artifacts}/{harness}-",
        "-print_final_stats=1",
        str(work_corpus),
        str(CORPUS / harness),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(FUZZ_DIR), env.get("PYTHONPATH", "")) if p
    )
    started = time.monotonic()
    with log.open("wb") as out:
        completed = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    elapsed = time.monotonic() - started
    return parse_output(harness, log.read_text(errors="replace"), completed.returncode, elapsed)


def _harnesses(only: str | None) -> list[str] | None:
    """The harnesses ``--only`` names (all when not given); None when one is unknown."""
    if not only:
        return list(HARNESSES)
    chosen = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in HARNESSES]
    if unknown or not chosen:
        print(
            f"run_all: unknown harness {', '.join(unknown) or repr(only)}"
            f" (have: {', '.join(HARNESSES)})",
            file=sys.stderr,
        )
        return None
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total-seconds", type=int, required=True, help="budget for all")
    parser.add_argument("--only", help="comma-separated harness names (default: all)")
    parser.add_argument("--artifacts", type=Path, default=FUZZ_DIR / "artifacts")
    parser.add_argument("--keep-corpus", type=Path, help="keep new inputs in DIR/<harness>")
    parser.add_argument("--logs", type=Path, help="keep libFuzzer's output in DIR/<harness>.log")
    parser.add_argument("--json", type=Path, help="write the per-harness figures here")
    args = parser.parse_args(argv)
    harnesses = _harnesses(args.only)
    if harnesses is None:
        return 2
    share = args.total_seconds // len(harnesses)
    if share < 1:
        print("run_all: --total-seconds leaves less than a second per harness", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="epmscan-fuzz-") as scratch:
        logs = args.logs or Path(scratch) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for harness in harnesses:
            work = (args.keep_corpus or Path(scratch) / "corpus") / harness
            log = logs / f"{harness}.log"
            result = run_harness(harness, share, work, args.artifacts.resolve(), log)
            results.append(result)
            outcome = "ok" if result.ok else f"CRASH: {result.crash}"
            print(
                f"{harness:18} {result.runs:>10} inputs {result.seconds:7.1f} s"
                f"  cov {result.coverage:4} ft {result.features:5}  {outcome}",
                flush=True,
            )
            if not result.ok:
                print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
                if result.artifact:
                    print(f"{harness}: crashing input saved as {result.artifact}", flush=True)
    total_runs = sum(r.runs for r in results)
    total_seconds = sum(r.seconds for r in results)
    print(f"{'all':18} {total_runs:>10} inputs {total_seconds:7.1f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
