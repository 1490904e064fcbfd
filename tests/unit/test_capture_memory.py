"""A big capture streams: peak memory does not follow the size of the file.

A child process analyses a small capture first (imports, caches, first allocations),
notes its peak RSS, then analyses a ~200 MB capture written on the fly and notes the peak
again. Reading the whole file, or keeping the bulk data, the held out-of-order segments
or the unrelated flows, would raise the peak by more than the file's size; the bound
below leaves room for the reassembly budget and the records kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import cli_env
from tests.support.synthetic import write_bulk_capture

pytestmark = pytest.mark.slow
pytest.importorskip("scapy.utils")

BIG = 200 * 1024 * 1024
PEAK_GROWTH_LIMIT = 96 * 1024 * 1024

CHILD = """
import json, resource, sys
from epmscan.app.pcap import analyze_capture
from epmscan.settings import PcapSettings

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

small = analyze_capture(PcapSettings(sys.argv[1]))
before = peak()
report = analyze_capture(PcapSettings(sys.argv[2]))
after = peak()
verdicts = {(v.port, v.status) for v in report.verdicts}
print(json.dumps({
    "before": before, "after": after, "small_frames": small.capture.frames,
    "frames": report.capture.frames, "complete": report.capture.complete,
    "connections": len(report.connections), "mapi_bound": [60001, "bound"] in map(list, verdicts),
    "notes": list(report.notes),
}))
"""


def test_peak_memory_does_not_follow_the_capture_size(tmp_path: Path) -> None:
    small = write_bulk_capture(tmp_path / "small.pcap", 2 * 1024 * 1024)
    big = write_bulk_capture(tmp_path / "big.pcap", BIG)
    assert big.size >= BIG
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(small.path), str(big.path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_env(),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["small_frames"] == small.frames
    assert result["frames"] == big.frames and result["complete"]
    assert result["mapi_bound"], result
    hole_flows = result["connections"] - big.syn_only_flows - 2
    assert hole_flows > 10, result
    assert any("not read further" in note for note in result["notes"]), result
    growth = result["after"] - result["before"]
    assert growth < PEAK_GROWTH_LIMIT, (
        f"peak RSS grew by {growth / 2**20:.0f} MiB reading {big.size / 2**20:.0f} MiB"
    )
