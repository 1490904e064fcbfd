"""One scan through the program layer with pacing overrides: for tuning the defaults only.

``python bench/pacing_runner.py NETWORK PORT CONNECT_TIMEOUT JSONL CONCURRENCY [KEY=VALUE...]``
runs what ``epmscan scan NETWORK --port PORT --connect-timeout T --jsonl JSONL -c C``
runs, with the fields of :class:`epmscan.settings.PacingSettings` named on the command
line replaced (``adaptive=false lag_target=0.1 ...``). The command line has no options
for these on purpose; ``accuracy_bench.py --pacing`` uses this runner to compare them.
"""

from __future__ import annotations

import dataclasses
import sys

from epmscan.app.observer import RunObserver
from epmscan.app.scan import run_scan
from epmscan.settings import (
    NetworkSettings,
    OutputSettings,
    PacingSettings,
    ScanSettings,
    TargetSettings,
    Timeouts,
)


def pacing_from(pairs: list[str]) -> PacingSettings:
    """``PacingSettings`` with ``key=value`` overrides, each value typed like the default."""
    defaults = PacingSettings()
    changes: dict[str, object] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        default = getattr(defaults, key)
        if isinstance(default, bool):
            changes[key] = text.lower() in ("1", "true", "yes")
        else:
            changes[key] = type(default)(text)
    return dataclasses.replace(defaults, **changes)  # type: ignore[arg-type]


def main() -> None:
    network, port, connect_timeout, jsonl, concurrency, *pairs = sys.argv[1:]
    settings = ScanSettings(
        targets=TargetSettings(specs=(network,)),
        network=NetworkSettings(port=int(port), timeouts=Timeouts(connect=float(connect_timeout))),
        concurrency=int(concurrency),
        outputs=OutputSettings(jsonl=jsonl),
        pacing=pacing_from(pairs),
    )
    run_scan(settings, RunObserver())


if __name__ == "__main__":
    main()
